"""The subscriber table."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, Index, String, false, func, text
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
    __table_args__ = (
        # The owner's pages: a status a page at a time, and addresses by how they start.
        Index("ix_subscribers_status_id", "status", "id"),
        Index(
            "ix_subscribers_email_start",
            func.lower(text("email")).label("email"),
            postgresql_ops={"email": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(MAX_EMAIL_LENGTH), unique=True)
    status: Mapped[SubscriberStatus] = mapped_column(
        pg_enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When this subscription began (again, after an unsubscription): links sent before it
    # act on it no more.
    subscribed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # When an email about their subscription was last asked for: reminders are at most
    # hourly, and one not sent within mail.RETRY_FOR is given up.
    last_emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # That email is owed and not sent yet (app/subscriptions/emails.py); the SMTP
    # transactions tried for it, and when the next may start (a backoff, or a sender's lease).
    email_due: Mapped[bool] = mapped_column(default=False, server_default=false())
    email_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    email_retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
