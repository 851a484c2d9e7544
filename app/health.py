"""Liveness and readiness endpoints, for container healthchecks and load balancers."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app
from sqlalchemy import text

from app.cache import get_cache
from app.database import get_db
from app.jobs import broker_ping

bp = Blueprint("health", __name__)


def _db_ping() -> None:
    with get_db().engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _cache_ping() -> None:
    get_cache().ping()


CHECKS: dict[str, Callable[[], object]] = {
    "db": _db_ping,
    "cache": _cache_ping,
    "broker": broker_ping,
}


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process serves requests. Touches no dependency."""
    return {"status": "ok"}


# Without the database nothing works; without the cache pages render from the database, and
# without the broker subscriptions wait in the database for their email (app/subscriptions):
# those are reported, but keep the instance in its load balancer.
REQUIRED = frozenset({"db"})


@bp.get("/readyz")
def readyz() -> tuple[dict[str, object], int]:
    """Readiness: 200 while the database answers ("degraded" naming any other dependency
    down); 503 without it."""
    checks = {name: _run(name, check) for name, check in CHECKS.items()}
    down = {name for name, result in checks.items() if result != "ok"}
    if down & REQUIRED:
        return {"status": "unavailable", "checks": checks}, 503
    return {"status": "degraded" if down else "ok", "checks": checks}, 200


def _run(name: str, check: Callable[[], object]) -> str:
    """'ok', or 'unavailable' with the reason logged (not shown: it may carry hosts and users)."""
    try:
        check()
    except Exception:
        current_app.logger.warning("readiness check %r failed", name, exc_info=True)
        return "unavailable"
    return "ok"
