"""The subscriber table."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, String, false, func
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base, pg_enum

# RFC 5321 caps a forward path at 256 octets, less the angle brackets.
MAX_EMAIL_LENGTH = 254


class SubscriberStatus(enum.StrEnum):
    """Where a subscriber is in the double opt-in cycle."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class Subscriber(Base):
    """One email address and its consent."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(MAX_EMAIL_LENGTH), unique=True)
    status: Mapped[SubscriberStatus] = mapped_column(
        pg_enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When we last emailed them about their subscription: reminders are at most hourly.
    last_emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An email is owed and not yet sent (app/subscriptions/emails.py).
    email_due: Mapped[bool] = mapped_column(default=False, server_default=false())
