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
    """Whether the SMTP server accepted the issue for this subscriber."""

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


class Delivery(Base):
    """The sending of one issue to one subscriber; the unique pair makes it happen once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        # Picking the next delivery reads pending rows only, however many were sent before.
        Index(
            "ix_deliveries_pending", "issue_id", "id", postgresql_where=text("status = 'pending'")
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(
        pg_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    issue: Mapped[Issue] = relationship()
    subscriber: Mapped[Subscriber] = relationship()
