"""HTTP for the newsletter: the public archive (pages, cached), and the admin API to create,
list, publish and inspect issues (Bearer ADMIN_TOKEN on every call)."""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import NotFound, Unauthorized

from app.cache import cached_page
from app.database import MAX_ID, session
from app.newsletter import rendering, service
from app.newsletter.models import MAX_BODY_LENGTH, MAX_SUBJECT_LENGTH, Issue, IssueStatus
from app.validation import json_object, text_field

archive = Blueprint("archive", __name__)
admin = Blueprint("admin", __name__, url_prefix="/api/issues")
# {{ issue.body | markdown }}: pages and emails alike.
archive.add_app_template_filter(rendering.to_html, "markdown")


@archive.get("/")
def index() -> str:
    """The home page: the subscription form and every published issue."""
    return cached_page("index", _render_index)


@archive.get(f"/issues/<int(max={MAX_ID}):issue_id>")
def show(issue_id: int) -> str:
    """One published issue."""
    return cached_page(f"issue:{issue_id}", lambda: _render_issue(issue_id))


# Crawlers may read the archive (and the owner's sign-in page: every other admin page sends
# them there); the links in emails and the API are no one's to index.
ROBOTS = "".join(
    f"{line}\n"
    for line in (
        "User-agent: *",
        *("Disallow: /api/", "Disallow: /confirm/", "Disallow: /unsubscribe/"),
    )
)


@archive.get("/robots.txt")
def robots() -> tuple[str, int, dict[str, str]]:
    """What crawlers may read."""
    return ROBOTS, 200, {"Content-Type": "text/plain; charset=utf-8"}


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


@admin.before_request
def require_admin() -> None:
    """401 unless the request carries `Authorization: Bearer <ADMIN_TOKEN>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = current_app.config["ADMIN_TOKEN"].encode()
    # compare_digest takes as long whatever the token, so timing reveals nothing of it.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Unauthorized("A valid admin token is required: Authorization: Bearer <token>.")


@admin.post("")
def create_issue() -> tuple[dict[str, object], int]:
    """Create a draft from `{"subject": ..., "body": ...}`."""
    body = json_object()
    issue = service.create_issue(
        subject=text_field(body, "subject", max_length=MAX_SUBJECT_LENGTH, single_line=True),
        body=text_field(body, "body", max_length=MAX_BODY_LENGTH, single_line=False),
    )
    return describe(issue), 201


@admin.get("")
def list_issues() -> dict[str, object]:
    """Every issue, newest first, with its delivery counts."""
    issues = service.issues_newest_first()
    counts = service.delivery_counts([issue.id for issue in issues])
    return {"issues": [describe(issue, counts[issue.id]) for issue in issues]}


@admin.post(f"/<int(max={MAX_ID}):issue_id>/publish")
def publish_issue(issue_id: int) -> tuple[dict[str, object], int]:
    """Publish a draft and start its delivery in the background (202); a second publish
    changes nothing (200)."""
    service.get_issue(issue_id)
    published = service.publish(issue_id)
    return describe(service.get_issue(issue_id)), 202 if published else 200


@admin.get(f"/<int(max={MAX_ID}):issue_id>")
def show_issue(issue_id: int) -> dict[str, object]:
    """An issue's status, delivery counts, and why any delivery has not gone out."""
    return {**describe(service.get_issue(issue_id)), "errors": service.delivery_errors(issue_id)}


def describe(issue: Issue, counts: dict[str, int] | None = None) -> dict[str, object]:
    """The issue as the API shows it (`counts` from delivery_counts, else looked up).

    While `fanned_out` is false, deliveries are still being written for its readers.
    """
    if counts is None:
        counts = service.delivery_counts([issue.id])[issue.id]
    return {
        "id": issue.id,
        "subject": issue.subject,
        "status": issue.status.value,
        "created_at": issue.created_at.isoformat() if issue.created_at else None,
        "published_at": issue.published_at.isoformat() if issue.published_at else None,
        "fanned_out": issue.fanned_out_at is not None,
        "deliveries": {state: counts.get(state, 0) for state in service.DELIVERY_STATES},
    }
