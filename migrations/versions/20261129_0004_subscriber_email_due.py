"""subscribers.email_due: an email owed survives a broker outage.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the flag; nothing owed so far."""
    op.add_column(
        "subscribers",
        sa.Column("email_due", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    """Drop the flag."""
    op.drop_column("subscribers", "email_due")
