"""Issues and their deliveries, one row per issue and confirmed subscriber."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import Base, pg_enum
from app.subscriptions.models import Subscriber

MAX_SUBJECT_LENGTH = 200
MAX_BODY_LENGTH = 50_000


class IssueStatus(enum.StrEnum):
    """A draft is private; a published issue is in the archive and being delivered."""

    DRAFT = "draft"
    PUBLISHED = "published"


class DeliveryStatus(enum.StrEnum):
    """Whether the SMTP server accepted the issue for this subscriber. A pending delivery
    whose last try was deferred (a 4xx) carries that reply in `last_error`."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Issue(Base):
    """One newsletter post."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(MAX_SUBJECT_LENGTH))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[IssueStatus] = mapped_column(
        pg_enum(IssueStatus, "issue_status"), default=IssueStatus.DRAFT
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # The fan-out (delivery.fan_out) has written deliveries for subscribers up to this id...
    fanout_cursor: Mapped[int] = mapped_column(default=0, server_default="0")
    # ...and, once set, for every confirmed subscriber.
    fanned_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a task last worked on the issue's delivery: the resume restarts a quiet one.
    delivery_heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """The sending of one issue to one subscriber; the unique pair makes it happen once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        # Claiming the next delivery reads the due ones only, however many were sent before
        # or wait out a deferral.
        Index(
            "ix_deliveries_due",
            "issue_id",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(
        pg_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING, index=True
    )
    # SMTP transactions tried for it.
    attempts: Mapped[int] = mapped_column(default=0)
    # Not before: after a deferral, the backoff; while a worker sends it, the lease.
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    issue: Mapped[Issue] = relationship()
    subscriber: Mapped[Subscriber] = relationship()
