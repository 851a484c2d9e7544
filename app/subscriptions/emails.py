"""The emails about a subscription (its confirmation link, or a reminder), sent by the worker.

A subscription that is due an email says so in its row (`email_due`) before any job is
queued, so that the email survives a broker that is down or loses its queue. Sending follows
an issue's delivery (app/newsletter/delivery.py): the row is claimed with a lease, one SMTP
transaction is tried, its outcome recorded at once. A 4xx defers the email (mail.retry_delay);
a 5xx, or deferrals for longer than mail.RETRY_FOR since it was asked for, give it up.

Every minute the sweep sends whatever is due and no job has taken: emails whose job was lost,
and deferred ones whose wait is over. It changes no row it does not send, so its give-up
fires during an outage too.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import redis
from flask import current_app, render_template
from huey import crontab
from sqlalchemy import ColumnElement, func, select, update

from app.database import commit_when_possible, session
from app.jobs import on_consumer_start, periodic_task, task
from app.mail import (
    RETRY_FOR,
    Mailer,
    MailServerUnavailableError,
    Result,
    attempt,
    build_message,
    give_up_if_stale,
    retry_delay,
    send_lease,
)
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, email_link

# Emails one sweep sends at most: it ends well within its minute.
SWEEP_LIMIT = 200


def queue_subscription_email(subscriber_id: int) -> None:
    """Queue the email now if the broker answers; else the sweep sends it once it runs."""
    try:
        send_subscription_email(subscriber_id)
    except redis.RedisError as exc:
        current_app.logger.warning("broker unavailable (%s): the email waits for the sweep", exc)


@task()
def send_subscription_email(subscriber_id: int) -> None:
    """Email the confirmation link to a pending subscriber, or a reminder to a confirmed one."""
    with Mailer() as mailer:
        try:
            if (subscriber := _claim(Subscriber.id == subscriber_id)) is not None:
                _try(subscriber, mailer)
        except MailServerUnavailableError as exc:
            current_app.logger.warning("mail server unavailable (%s): the sweep tries again", exc)


def _claim(*which: ColumnElement[bool]) -> Subscriber | None:
    """A subscriber that is due an email now, leased to this task (committed); None if none."""
    due = (
        select(Subscriber.id)
        .where(Subscriber.email_due, Subscriber.email_retry_at <= func.now(), *which)
        .order_by(Subscriber.email_retry_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    subscriber = session().scalar(
        update(Subscriber)
        .where(Subscriber.id == due.scalar_subquery())
        .values(email_retry_at=func.now() + send_lease())
        .returning(Subscriber),
        execution_options={"populate_existing": True},
    )
    session().commit()
    return subscriber


def _try(subscriber: Subscriber, mailer: Mailer) -> None:
    """One SMTP transaction for a claimed subscriber's email, and its outcome recorded.

    Raises MailServerUnavailableError with the claim released.
    """
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        _record(subscriber, Result.REFUSED, "unsubscribed before the email went", tried=False)
        return
    try:
        result, reason = attempt(mailer, _email(subscriber))
    except MailServerUnavailableError:
        _record(subscriber, Result.DEFERRED, None, tried=False)
        raise
    _record(subscriber, result, reason)


def _record(
    subscriber: Subscriber, result: Result, reason: str | None, *, tried: bool = True
) -> None:
    """Record a try's outcome on the subscriber, whatever it takes (as for deliveries)."""
    values: dict[str, object] = {"email_attempts": Subscriber.email_attempts + 1} if tried else {}
    if tried:
        result, reason = give_up_if_stale(result, reason, subscriber.last_emailed_at)
    if result is Result.DEFERRED:
        wait = retry_delay(subscriber.email_attempts + 1) if tried else timedelta()
        values["email_retry_at"] = func.now() + wait
    else:
        values["email_due"] = False
    commit_when_possible(
        update(Subscriber).where(Subscriber.id == subscriber.id).values(values),
        f"subscriber {subscriber.id}: email {result.value}",
    )
    if reason is not None:
        current_app.logger.warning(
            "subscriber %s: email %s, %s", subscriber.id, result.value, reason
        )


def _email(subscriber: Subscriber) -> EmailMessage:
    """The email the subscriber is due: a confirmation link, or a reminder if confirmed."""
    if subscriber.status is SubscriberStatus.PENDING:
        template, subject = "confirm", "Confirm your subscription to Tidings"
    else:
        template, subject = "already_subscribed", "You are already subscribed to Tidings"
    links = {
        "confirm_url": email_link(Purpose.CONFIRM, subscriber),
        "unsubscribe_url": email_link(Purpose.UNSUBSCRIBE, subscriber),
    }
    return build_message(
        subscriber.email,
        subject,
        render_template(f"email/{template}.txt", **links),
        render_template(f"email/{template}.html", **links),
    )


@task()
def send_due_subscription_emails() -> None:
    """The sweep: give up emails asked for longer than RETRY_FOR ago, then send up to
    SWEEP_LIMIT of those due now that no job has taken."""
    given_up = session().scalars(
        update(Subscriber)
        .where(Subscriber.email_due, Subscriber.last_emailed_at < func.now() - RETRY_FOR)
        .values(email_due=False)
        .returning(Subscriber.id)
    )
    for subscriber_id in given_up.all():
        current_app.logger.warning("subscriber %s: email given up, never sent", subscriber_id)
    session().commit()
    with Mailer() as mailer:
        try:
            for _ in range(SWEEP_LIMIT):
                if (subscriber := _claim()) is None:
                    break
                _try(subscriber, mailer)
        except MailServerUnavailableError as exc:
            current_app.logger.warning("mail server unavailable (%s): the sweep tries again", exc)


@on_consumer_start
def sweep_after_start() -> None:
    """Queue the sweep as a worker starts: emails may have waited while none ran."""
    send_due_subscription_emails()


@periodic_task(crontab(minute="*"))
def send_due_subscription_emails_periodically() -> None:
    """The sweep: every minute."""
    send_due_subscription_emails.call_local()
