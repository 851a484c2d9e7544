"""The public archive: published issues, newest first, rendered once and kept in the cache.

The cache is an optimisation only: with it down, pages render from the database. Where code
and templates change under a running server (development), a page is cached under a
fingerprint of them too, so an edit shows at once instead of behind an old rendering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import redis
from flask import Blueprint, current_app, render_template
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from app.cache import get_cache
from app.database import MAX_ID, session
from app.newsletter.models import Issue, IssueStatus

bp = Blueprint("archive", __name__)

PAGE_KEY_PREFIX = "archive:page:"


@bp.get("/")
def index() -> str:
    """The home page: the subscription form and every published issue."""
    return cached_page("index", _render_index)


@bp.get(f"/issues/<int(max={MAX_ID}):issue_id>")
def show(issue_id: int) -> str:
    """One published issue."""
    return cached_page(f"issue:{issue_id}", lambda: _render_issue(issue_id))


def _render_index() -> str:
    issues = session().scalars(
        select(Issue)
        .where(Issue.status == IssueStatus.PUBLISHED)
        .order_by(Issue.published_at.desc(), Issue.id.desc())
    )
    return render_template("archive.html", issues=list(issues))


def _render_issue(issue_id: int) -> str:
    issue = session().scalar(
        select(Issue).where(Issue.id == issue_id, Issue.status == IssueStatus.PUBLISHED)
    )
    if issue is None:
        raise NotFound("There is no published issue with that number.")
    return render_template("issue.html", issue=issue)


def cached_page(name: str, render: Callable[[], str]) -> str:
    """The page from the cache, or rendered and stored for PAGE_CACHE_SECONDS."""
    ttl = current_app.config["PAGE_CACHE_SECONDS"]
    key = PAGE_KEY_PREFIX + name
    if current_app.config["TEMPLATES_AUTO_RELOAD"]:
        key += ":" + source_fingerprint(current_app.root_path)
    try:
        cached = get_cache().get(key) if ttl else None
    except redis.RedisError:
        current_app.logger.warning("page cache unavailable; rendering %s from the database", name)
        return render()
    if isinstance(cached, bytes):
        return cached.decode()
    page = render()
    if ttl:
        try:
            get_cache().set(key, page, ex=ttl)
        except redis.RedisError:
            current_app.logger.warning("page cache unavailable; %s not stored", name)
    return page


def source_fingerprint(root: str) -> str:
    """A digest of the name, size and modification time of every file under `root`."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(Path(root).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def forget_pages() -> None:
    """Drop every cached archive page (after a publish); stale pages expire anyway."""
    try:
        cache = get_cache()
        for key in cache.scan_iter(match=PAGE_KEY_PREFIX + "*", count=500):
            cache.delete(key)
    except redis.RedisError:
        current_app.logger.warning("page cache unavailable; archive pages not invalidated")
