"""A partial index on pending deliveries: picking the next one skips every row already sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the pending deliveries by issue and id."""
    op.create_index(
        "ix_deliveries_pending",
        "deliveries",
        ["issue_id", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_deliveries_pending", table_name="deliveries")
