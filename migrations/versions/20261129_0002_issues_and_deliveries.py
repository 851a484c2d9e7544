"""Issues, their deliveries, and when each subscriber was last emailed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ISSUE_STATUS = sa.Enum("draft", "published", name="issue_status")
DELIVERY_STATUS = sa.Enum("pending", "sent", "failed", name="delivery_status")


def upgrade() -> None:
    """Create issues and deliveries; add subscribers.last_emailed_at."""
    op.add_column(
        "subscribers", sa.Column("last_emailed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", ISSUE_STATUS, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_issues_published_at", "issues", ["published_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "issue_id", sa.Integer(), sa.ForeignKey("issues.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", DELIVERY_STATUS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("issue_id", "subscriber_id"),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])


def downgrade() -> None:
    """Drop what upgrade created."""
    op.drop_table("deliveries")
    op.drop_table("issues")
    DELIVERY_STATUS.drop(op.get_bind())
    ISSUE_STATUS.drop(op.get_bind())
    op.drop_column("subscribers", "last_emailed_at")
