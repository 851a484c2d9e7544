"""Delivering a published issue: one email per confirmed subscriber, exactly once.

Publishing (service.publish) writes one delivery row per confirmed subscriber (unique per
issue and subscriber), then queues `deliver_issue` once per batch (up to
MAX_PARALLEL_BATCHES), so that several workers share the issue. Each delivery is sent in its
own transaction, holding its row lock (FOR UPDATE SKIP LOCKED) while the SMTP server takes
the message, and is marked sent the moment the server accepts it: a worker killed mid-way
leaves the rest pending for the next worker, and parallel workers never pick the same row.

SMTP cannot tell a client that died before hearing "250 OK" whether its message was kept,
so a worker killed in the millisecond between the server's acceptance and the commit sends
that one message again. It carries the same Message-ID both times, so clients show one.

A refused message counts as an attempt against its delivery, which fails after
MAX_ATTEMPTS. An unreachable mail server counts against no one: the batch stops, every
delivery stays pending, and the task retries with backoff (then the periodic resume does).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.message import EmailMessage

from flask import current_app, render_template
from huey import crontab
from huey.exceptions import RetryTask
from sqlalchemy import func, select

from app.database import session
from app.jobs import on_consumer_start, periodic_task, task
from app.mail import (
    Mailer,
    MailServerUnavailableError,
    MessageRefusedError,
    build_message,
    sender_domain,
)
from app.newsletter.models import Delivery, DeliveryStatus
from app.subscriptions.models import SubscriberStatus
from app.subscriptions.tokens import Purpose, email_link

# Tries per delivery before it is marked failed; the task retries with backoff in between.
MAX_ATTEMPTS = 5
RETRY_DELAY_SECONDS = 30
# Deliveries one task run sends before queueing the rest, so one issue cannot hog a worker.
BATCH_SIZE = 100


def deliver_pending(issue_id: int, limit: int) -> int:
    """Attempt up to `limit` pending deliveries of the issue, each once; return how many.

    Stops early, without counting the unsent one, if the mail server is unavailable.
    """
    attempted: list[int] = []
    rate = current_app.config["MAIL_RATE_LIMIT"]
    with Mailer() as mailer:
        try:
            while len(attempted) < limit and _deliver_next(issue_id, attempted, mailer):
                time.sleep(1 / rate if rate else 0)
        except MailServerUnavailableError as exc:
            current_app.logger.warning("issue %s: delivery paused, %s", issue_id, exc)
    return len(attempted)


def _deliver_next(issue_id: int, attempted: list[int], mailer: Mailer) -> bool:
    """Lock, send and record the next pending delivery not attempted yet; False if none.

    Raises MailServerUnavailableError with the delivery left as it was.
    """
    delivery = session().scalar(
        select(Delivery)
        .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.PENDING)
        .where(Delivery.id.not_in(attempted))
        .order_by(Delivery.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Delivery)
    )
    if delivery is None:
        return False
    try:
        _attempt(delivery, mailer)
    except MailServerUnavailableError:
        session().rollback()
        raise
    session().commit()
    attempted.append(delivery.id)
    return True


def _attempt(delivery: Delivery, mailer: Mailer) -> None:
    """Send one delivery and record the outcome on its row (not yet committed)."""
    delivery.attempts += 1
    if delivery.subscriber.status is not SubscriberStatus.CONFIRMED:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "subscriber unsubscribed before delivery"
        return
    try:
        mailer.send(_issue_email(delivery))
    except MessageRefusedError as exc:
        _charge(delivery, str(exc))
        return
    except MailServerUnavailableError:
        raise
    except Exception as exc:
        # Bad data or a bug in this one message: it costs this delivery a try, not the issue.
        current_app.logger.exception("delivery %s: the message could not be sent", delivery.id)
        _charge(delivery, f"{type(exc).__name__}: {exc}")
        return
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = datetime.now(UTC)
    delivery.last_error = None


def _charge(delivery: Delivery, reason: str) -> None:
    """Record a failed try on the delivery; after MAX_ATTEMPTS it has failed for good."""
    delivery.last_error = reason[:500]
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
    current_app.logger.warning("delivery %s failed: %s", delivery.id, delivery.last_error)


def _issue_email(delivery: Delivery) -> EmailMessage:
    """The issue as emailed to one subscriber, with their own unsubscribe link."""
    issue, subscriber = delivery.issue, delivery.subscriber
    unsubscribe_url = email_link(Purpose.UNSUBSCRIBE, subscriber)
    context = {"issue": issue, "unsubscribe_url": unsubscribe_url}
    headers = {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return build_message(
        subscriber.email,
        issue.subject,
        render_template("email/issue.txt", **context),
        render_template("email/issue.html", **context),
        headers,
        message_id=f"<issue-{issue.id}.subscriber-{subscriber.id}@{sender_domain()}>",
    )


def pending_count(issue_id: int) -> int:
    """How many deliveries of the issue still wait to be sent."""
    return (
        session().scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.PENDING)
        )
        or 0
    )


@task(retries=MAX_ATTEMPTS, retry_delay=RETRY_DELAY_SECONDS, retry_backoff=2)
def deliver_issue(issue_id: int) -> None:
    """Send a batch of the issue's pending deliveries; queue the next batch, or retry later."""
    if deliver_pending(issue_id, BATCH_SIZE) == BATCH_SIZE:
        deliver_issue(issue_id)
    elif pending_count(issue_id):
        # Failed sends (or rows another worker holds) remain: try again after a backoff.
        raise RetryTask(f"issue {issue_id}: deliveries still pending")


@on_consumer_start
def resume_deliveries() -> None:
    """Queue delivery of every issue with pending deliveries (a killed worker's leftovers)."""
    issue_ids = session().scalars(
        select(Delivery.issue_id).where(Delivery.status == DeliveryStatus.PENDING).distinct()
    )
    for issue_id in issue_ids:
        deliver_issue(issue_id)


@periodic_task(crontab(minute="*/5"))
def resume_deliveries_periodically() -> None:
    """The safety net for a queued task lost with its broker: resume every five minutes."""
    resume_deliveries()
