"""Deliveries and subscription emails that wait out a deferral; a fan-out in batches; links
bound to the subscription they were sent for.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the columns; issues published so far were fanned out as they were published."""
    op.add_column(
        "deliveries",
        sa.Column("next_attempt_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
    )
    op.drop_index("ix_deliveries_pending", table_name="deliveries")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["issue_id", "next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.add_column(
        "issues", sa.Column("fanout_cursor", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("issues", sa.Column("fanned_out_at", TIMESTAMP, nullable=True))
    op.add_column("issues", sa.Column("delivery_heartbeat_at", TIMESTAMP, nullable=True))
    op.execute("UPDATE issues SET fanned_out_at = published_at WHERE published_at IS NOT NULL")
    op.add_column(
        "subscribers",
        sa.Column("subscribed_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
    )
    op.execute("UPDATE subscribers SET subscribed_at = created_at")
    op.add_column(
        "subscribers",
        sa.Column("email_attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("subscribers", sa.Column("email_retry_at", TIMESTAMP, nullable=True))
    op.execute("UPDATE subscribers SET email_retry_at = last_emailed_at WHERE email_due")


def downgrade() -> None:
    """Drop them."""
    for table, column in (
        ("subscribers", "email_retry_at"),
        ("subscribers", "email_attempts"),
        ("subscribers", "subscribed_at"),
        ("issues", "delivery_heartbeat_at"),
        ("issues", "fanned_out_at"),
        ("issues", "fanout_cursor"),
    ):
        op.drop_column(table, column)
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index(
        "ix_deliveries_pending",
        "deliveries",
        ["issue_id", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_column("deliveries", "next_attempt_at")
