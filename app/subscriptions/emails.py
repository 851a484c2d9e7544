"""The emails about a subscription, sent by the worker."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from app.database import session
from app.jobs import task
from app.mail import send_email
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import Purpose, make_token, public_link


@task(retries=3, retry_delay=30, retry_backoff=2)
def send_subscription_email(subscriber_id: int) -> None:
    """Email the confirmation link to a pending subscriber, or a reminder to a confirmed one."""
    subscriber = session().scalar(select(Subscriber).where(Subscriber.id == subscriber_id))
    if subscriber is None or subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        return
    if subscriber.status is SubscriberStatus.PENDING:
        template, subject = "confirm", "Confirm your subscription to Tidings"
    else:
        template, subject = "already_subscribed", "You are already subscribed to Tidings"
    links = {
        "confirm_url": public_link(f"/confirm/{make_token(Purpose.CONFIRM, subscriber)}"),
        "unsubscribe_url": public_link(
            f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, subscriber)}"
        ),
    }
    send_email(
        subscriber.email,
        subject,
        render_template(f"email/{template}.txt", **links),
        render_template(f"email/{template}.html", **links),
    )
