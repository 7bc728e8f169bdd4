"""API principals: name, role, scope and Argon2 hash of the API key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credence.sql.columns

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "principals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=True),
        sa.Column("key_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", credence.sql.columns.UTCDateTime(length=27), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_principals_name"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("principals")
