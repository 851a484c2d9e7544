"""The emails about a subscription, sent by the worker.

A subscription that is due an email says so in its row (`email_due`) before any job is
queued, so that the email survives a broker that is down or loses its queue: a sweep every
minute queues again whatever has been due for longer than a job normally takes.
"""

from __future__ import annotations

from datetime import timedelta

import redis
from flask import current_app, render_template
from huey import crontab
from sqlalchemy import func, select, update

from app.database import session
from app.jobs import on_consumer_start, periodic_task, task
from app.mail import MessageRefusedError, send_email
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, email_link

# A queued email normally goes within seconds; one due for longer lost its job.
LOST_AFTER = timedelta(minutes=1)
# Past this, a due email is given up (the address is offered a new one when it subscribes).
GIVE_UP_AFTER = timedelta(days=1)


def queue_subscription_email(subscriber_id: int) -> None:
    """Queue the email now if the broker answers; else the sweep queues it once it does."""
    try:
        send_subscription_email(subscriber_id)
    except redis.RedisError as exc:
        current_app.logger.warning("broker unavailable (%s): the email waits for the sweep", exc)


@task(retries=3, retry_delay=30, retry_backoff=2)
def send_subscription_email(subscriber_id: int) -> None:
    """Email the confirmation link to a pending subscriber, or a reminder to a confirmed one."""
    subscriber = session().scalar(select(Subscriber).where(Subscriber.id == subscriber_id))
    if subscriber is None or not subscriber.email_due:
        return
    if subscriber.status is not SubscriberStatus.UNSUBSCRIBED:
        try:
            _send(subscriber)
        except MessageRefusedError as exc:
            # The address is refused: trying again would not change that.
            current_app.logger.warning("subscriber %s: email refused, %s", subscriber.id, exc)
    subscriber.email_due = False
    session().commit()


def _send(subscriber: Subscriber) -> None:
    if subscriber.status is SubscriberStatus.PENDING:
        template, subject = "confirm", "Confirm your subscription to Tidings"
    else:
        template, subject = "already_subscribed", "You are already subscribed to Tidings"
    links = {
        "confirm_url": email_link(Purpose.CONFIRM, subscriber),
        "unsubscribe_url": email_link(Purpose.UNSUBSCRIBE, subscriber),
    }
    send_email(
        subscriber.email,
        subject,
        render_template(f"email/{template}.txt", **links),
        render_template(f"email/{template}.html", **links),
    )


@on_consumer_start
def queue_lost_subscription_emails() -> None:
    """Queue again every email due for longer than LOST_AFTER (and less than GIVE_UP_AFTER)."""
    now = func.now()
    lost = (
        session()
        .scalars(
            update(Subscriber)
            .where(Subscriber.email_due)
            .where(Subscriber.last_emailed_at < now - LOST_AFTER)
            .where(Subscriber.last_emailed_at > now - GIVE_UP_AFTER)
            .values(last_emailed_at=now)
            .returning(Subscriber.id)
        )
        .all()
    )
    session().commit()
    for subscriber_id in lost:
        send_subscription_email(subscriber_id)


@periodic_task(crontab(minute="*"))
def queue_lost_subscription_emails_periodically() -> None:
    """The sweep: every minute."""
    queue_lost_subscription_emails()
