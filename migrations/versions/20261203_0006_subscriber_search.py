"""Indexes for the owner's pages: subscribers by status a page at a time, and by how their
address starts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create both."""
    op.create_index("ix_subscribers_status_id", "subscribers", ["status", "id"])
    op.execute(
        "CREATE INDEX ix_subscribers_email_start ON subscribers (lower(email) text_pattern_ops)"
    )


def downgrade() -> None:
    """Drop both."""
    op.drop_index("ix_subscribers_email_start", table_name="subscribers")
    op.drop_index("ix_subscribers_status_id", table_name="subscribers")
