"""Subscribing, confirming and unsubscribing: the rules, apart from HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert

from app.database import session
from app.subscriptions.emails import queue_subscription_email
from app.subscriptions.models import Subscriber, SubscriberStatus
from app.subscriptions.tokens import InvalidTokenError, Purpose, address_digest, read_token

REMINDER_INTERVAL = timedelta(hours=1)
# A new email about the subscription is owed, and may be sent at once (app/subscriptions/emails.py).
EMAIL_DUE_NOW = {
    "last_emailed_at": func.now(),
    "email_due": True,
    "email_attempts": 0,
    "email_retry_at": func.now(),
}


def subscribe(email: str) -> None:
    """Record `email` as pending, or note a repeat, and queue the email it is due, if any.

    A known address is emailed again at most once per REMINDER_INTERVAL, and an
    unsubscribed one becomes pending again: it must confirm anew.
    """
    created = session().scalar(
        insert(Subscriber)
        .values(email=email, status=SubscriberStatus.PENDING, **EMAIL_DUE_NOW)
        .on_conflict_do_nothing(index_elements=[Subscriber.email])
        .returning(Subscriber.id)
    )
    if created is None:
        unsubscribed = Subscriber.status == SubscriberStatus.UNSUBSCRIBED
        created = session().scalar(
            update(Subscriber)
            .where(Subscriber.email == email)
            .where(
                or_(
                    Subscriber.last_emailed_at.is_(None),
                    Subscriber.last_emailed_at < func.now() - REMINDER_INTERVAL,
                )
            )
            .values(
                status=case((unsubscribed, SubscriberStatus.PENDING), else_=Subscriber.status),
                subscribed_at=case((unsubscribed, func.now()), else_=Subscriber.subscribed_at),
                **EMAIL_DUE_NOW,
            )
            .returning(Subscriber.id)
        )
    session().commit()
    if created is not None:
        queue_subscription_email(created)


def subscriber_for(purpose: Purpose, token: str) -> Subscriber:
    """The subscriber a valid token names, at the same address; else InvalidTokenError.

    A link acts on the subscription it was sent for: not on a later one of the same address
    (made before the subscription began), and a confirmation link not once its subscriber
    has unsubscribed: only a new subscription, and its new email, brings them back.
    """
    subscriber_id, digest, issued = read_token(purpose, token)
    subscriber = session().scalar(select(Subscriber).where(Subscriber.id == subscriber_id))
    if subscriber is None or address_digest(subscriber.email) != digest:
        raise InvalidTokenError
    # Tokens carry whole seconds.
    if issued < subscriber.subscribed_at.replace(microsecond=0):
        raise InvalidTokenError
    if purpose is Purpose.CONFIRM and subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        raise InvalidTokenError
    return subscriber


def confirm(subscriber: Subscriber) -> None:
    """Mark the subscriber confirmed; confirming twice changes nothing."""
    if subscriber.status is not SubscriberStatus.CONFIRMED:
        subscriber.status = SubscriberStatus.CONFIRMED
        subscriber.confirmed_at = datetime.now(UTC)
    session().commit()


def unsubscribe(subscriber: Subscriber) -> None:
    """Mark the subscriber unsubscribed; doing it twice changes nothing."""
    session().execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id)
        .values(status=SubscriberStatus.UNSUBSCRIBED)
    )
    session().commit()
