"""The admin API: create, list, publish and inspect issues. Bearer ADMIN_TOKEN on every call."""

from __future__ import annotations

import hmac
from collections import defaultdict

from flask import Blueprint, current_app, request
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound, Unauthorized

from app.api import json_object, text_field
from app.database import MAX_ID, session
from app.newsletter import delivery
from app.newsletter.models import (
    MAX_BODY_LENGTH,
    MAX_SUBJECT_LENGTH,
    Delivery,
    DeliveryStatus,
    Issue,
)

bp = Blueprint("admin", __name__, url_prefix="/api/issues")


@bp.before_request
def require_admin() -> None:
    """401 unless the request carries `Authorization: Bearer <ADMIN_TOKEN>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = current_app.config["ADMIN_TOKEN"].encode()
    # compare_digest takes as long whatever the token, so timing reveals nothing of it.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Unauthorized("A valid admin token is required: Authorization: Bearer <token>.")


@bp.post("")
def create_issue() -> tuple[dict[str, object], int]:
    """Create a draft from `{"subject": ..., "body": ...}`."""
    body = json_object()
    issue = Issue(
        subject=text_field(body, "subject", max_length=MAX_SUBJECT_LENGTH, single_line=True),
        body=text_field(body, "body", max_length=MAX_BODY_LENGTH, single_line=False),
    )
    session().add(issue)
    session().commit()
    return describe(issue), 201


@bp.get("")
def list_issues() -> dict[str, object]:
    """Every issue, newest first, with its delivery counts."""
    issues = session().scalars(select(Issue).order_by(Issue.id.desc())).all()
    counts = delivery_counts([issue.id for issue in issues])
    return {"issues": [describe(issue, counts[issue.id]) for issue in issues]}


@bp.post(f"/<int(max={MAX_ID}):issue_id>/publish")
def publish_issue(issue_id: int) -> tuple[dict[str, object], int]:
    """Publish a draft and start its delivery (202); a second publish changes nothing (200)."""
    get_issue(issue_id)
    published = delivery.publish(issue_id)
    return describe(get_issue(issue_id)), 202 if published else 200


@bp.get(f"/<int(max={MAX_ID}):issue_id>")
def show_issue(issue_id: int) -> dict[str, object]:
    """An issue's status, delivery counts, and why any delivery has not gone out."""
    return {**describe(get_issue(issue_id)), "errors": delivery_errors(issue_id)}


def get_issue(issue_id: int) -> Issue:
    """The issue, fresh from the database, or 404."""
    issue = session().scalar(
        select(Issue).where(Issue.id == issue_id).execution_options(populate_existing=True)
    )
    if issue is None:
        raise NotFound(f"There is no issue {issue_id}.")
    return issue


def delivery_counts(issue_ids: list[int]) -> defaultdict[int, dict[DeliveryStatus, int]]:
    """Per issue, how many of its deliveries are in each status (absent: none)."""
    rows = session().execute(
        select(Delivery.issue_id, Delivery.status, func.count())
        .where(Delivery.issue_id.in_(issue_ids))
        .group_by(Delivery.issue_id, Delivery.status)
    )
    counts: defaultdict[int, dict[DeliveryStatus, int]] = defaultdict(dict)
    for issue_id, status, count in rows:
        counts[issue_id][status] = count
    return counts


def delivery_errors(issue_id: int) -> list[dict[str, object]]:
    """Each reason the issue's unsent deliveries gave, with how many, commonest first."""
    count = func.count().label("count")
    rows = session().execute(
        select(Delivery.last_error, count)
        .where(Delivery.issue_id == issue_id, Delivery.status != DeliveryStatus.SENT)
        .where(Delivery.last_error.is_not(None))
        .group_by(Delivery.last_error)
        .order_by(count.desc(), Delivery.last_error)
    )
    return [{"reason": reason, "deliveries": number} for reason, number in rows]


def describe(issue: Issue, counts: dict[DeliveryStatus, int] | None = None) -> dict[str, object]:
    """The issue as the API shows it (`counts` from delivery_counts, else looked up)."""
    if counts is None:
        counts = delivery_counts([issue.id])[issue.id]
    return {
        "id": issue.id,
        "subject": issue.subject,
        "status": issue.status.value,
        "created_at": issue.created_at.isoformat() if issue.created_at else None,
        "published_at": issue.published_at.isoformat() if issue.published_at else None,
        "deliveries": {status.value: counts.get(status, 0) for status in DeliveryStatus},
    }
