"""The due agenda: each subject's next day of possible change per policy, and run marks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credence.sql.columns

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "process_agenda",
        sa.Column("policy_id", sa.String(length=100), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("next_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("policy_id", "subject_id"),
    )
    with op.batch_alter_table("process_agenda", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_process_agenda_next_day"), ["next_day"], unique=False)
    op.create_table(
        "process_marks",
        sa.Column("policy_id", sa.String(length=100), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("ingest_id", sa.Integer(), nullable=False),
        sa.Column("record_at", credence.sql.columns.UTCDateTime(length=27), nullable=True),
        sa.Column("status_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("access_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("policy_id"),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("process_marks")
    with op.batch_alter_table("process_agenda", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_process_agenda_next_day"))
    op.drop_table("process_agenda")
