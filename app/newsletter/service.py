"""Issues apart from HTTP: creating, listing, publishing, and what their deliveries report."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import redis
from flask import current_app
from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from werkzeug.exceptions import NotFound

from app.database import session
from app.newsletter import archive
from app.newsletter.delivery import BATCH_SIZE, deliver_issue
from app.newsletter.models import Delivery, DeliveryStatus, Issue, IssueStatus
from app.subscriptions.models import Subscriber, SubscriberStatus

# Batch tasks queued at once for a new issue, so that every worker takes a share, and one
# that dies leaves its rows to the others (each task picks whatever is still pending).
MAX_PARALLEL_BATCHES = 8


def create_issue(subject: str, body: str) -> Issue:
    """A new draft, committed."""
    issue = Issue(subject=subject, body=body)
    session().add(issue)
    session().commit()
    return issue


def issues_newest_first() -> Sequence[Issue]:
    """Every issue, newest first."""
    return session().scalars(select(Issue).order_by(Issue.id.desc())).all()


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


def publish(issue_id: int) -> bool:
    """Publish a draft, refresh the archive and queue delivery; False (nothing done) if it
    was not a draft."""
    published = session().scalar(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.DRAFT)
        .values(status=IssueStatus.PUBLISHED, published_at=func.now())
        .returning(Issue.id)
    )
    if published is None:
        return False
    confirmed = select(literal(issue_id), Subscriber.id).where(
        Subscriber.status == SubscriberStatus.CONFIRMED
    )
    created = session().execute(
        insert(Delivery)
        .from_select([Delivery.issue_id, Delivery.subscriber_id], confirmed)
        .on_conflict_do_nothing()
        .returning(Delivery.id)
    )
    batches = min(MAX_PARALLEL_BATCHES, max(1, math.ceil(len(created.all()) / BATCH_SIZE)))
    session().commit()
    archive.forget_pages()
    try:
        for _ in range(batches):
            deliver_issue(issue_id)
    except redis.RedisError as exc:
        # The deliveries are in the database: the periodic resume queues them once it is back.
        current_app.logger.warning(
            "issue %s: broker unavailable (%s), delivery waits", issue_id, exc
        )
    return True
