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


@bp.get("/readyz")
def readyz() -> tuple[dict[str, object], int]:
    """Readiness: every dependency answers; 503 names each one that does not."""
    checks = {name: _run(name, check) for name, check in CHECKS.items()}
    ready = all(result == "ok" for result in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


def _run(name: str, check: Callable[[], object]) -> str:
    """'ok', or 'unavailable' with the reason logged (not shown: it may carry hosts and users)."""
    try:
        check()
    except Exception:
        current_app.logger.warning("readiness check %r failed", name, exc_info=True)
        return "unavailable"
    return "ok"
