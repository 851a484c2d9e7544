"""Issues apart from HTTP: creating, listing, publishing, and what their deliveries report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import redis
from flask import current_app
from sqlalchemy import String, and_, case, cast, func, select, update
from werkzeug.exceptions import NotFound

from app.cache import forget_pages
from app.database import session
from app.newsletter.delivery import fan_out, send_test
from app.newsletter.models import Delivery, DeliveryStatus, Issue, IssueStatus
from app.subscriptions.models import Subscriber, SubscriberStatus


def create_issue(subject: str, body: str) -> Issue:
    """A new draft, committed."""
    issue = Issue(subject=subject, body=body)
    session().add(issue)
    session().commit()
    return issue


def update_draft(issue_id: int, subject: str, body: str) -> bool:
    """Rewrite a draft, committed; False (nothing changed) once it is published."""
    updated = session().scalar(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.DRAFT)
        .values(subject=subject, body=body)
        .returning(Issue.id)
    )
    session().commit()
    return updated is not None


def readers() -> int:
    """How many confirmed subscribers an issue published now would go to."""
    confirmed = Subscriber.status == SubscriberStatus.CONFIRMED
    return session().scalar(select(func.count()).select_from(Subscriber).where(confirmed)) or 0


def queue_test(issue_id: int, to: str) -> None:
    """Queue a test of the issue to `to` (the owner)."""
    send_test(issue_id, to)


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


# What the counts of an issue's deliveries distinguish: a pending delivery already tried
# (and deferred by the server) counts as deferred.
DELIVERY_STATES = ("pending", "deferred", "sent", "failed")


def delivery_counts(issue_ids: list[int]) -> defaultdict[int, dict[str, int]]:
    """Per issue, how many of its deliveries are in each of DELIVERY_STATES (absent: none)."""
    state = case(
        (and_(Delivery.status == DeliveryStatus.PENDING, Delivery.attempts > 0), "deferred"),
        else_=cast(Delivery.status, String),
    )
    rows = session().execute(
        select(Delivery.issue_id, state, func.count())
        .where(Delivery.issue_id.in_(issue_ids))
        .group_by(Delivery.issue_id, state)
    )
    counts: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for issue_id, name, count in rows:
        counts[issue_id][name] = count
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
    """Publish a draft, refresh the archive and start its fan-out (in the background, so
    that this answers at once whatever the list's size); False, nothing done, if it was not
    a draft."""
    published = session().scalar(
        update(Issue)
        .where(Issue.id == issue_id, Issue.status == IssueStatus.DRAFT)
        .values(
            status=IssueStatus.PUBLISHED, published_at=func.now(), delivery_heartbeat_at=func.now()
        )
        .returning(Issue.id)
    )
    if published is None:
        return False
    session().commit()
    forget_pages()
    try:
        fan_out(issue_id)
    except redis.RedisError as exc:
        # The issue is published in the database: the periodic resume starts its fan-out.
        current_app.logger.warning(
            "issue %s: broker unavailable (%s), delivery waits", issue_id, exc
        )
    return True
