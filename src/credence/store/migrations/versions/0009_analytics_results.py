"""The analytics figures of each policy as last computed, which the analytics page renders.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 02:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credence.sql.columns

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "analytics_results",
        sa.Column("policy_id", sa.String(length=100), nullable=False),
        sa.Column("policy_version", sa.String(length=50), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=400), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("millis", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("computed_at", credence.sql.columns.UTCDateTime(length=27), nullable=False),
        sa.PrimaryKeyConstraint("policy_id"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("analytics_results")
