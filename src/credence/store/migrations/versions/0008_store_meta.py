"""Facts about the store as a whole: the day its data runs to (``data_as_of``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 02:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credence.sql.columns

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("updated_at", credence.sql.columns.UTCDateTime(length=27), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("store_meta")
