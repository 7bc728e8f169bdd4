"""Due process: outbox, process runs, stable references for notices, listings and measures.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import credence.sql.columns

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=300), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("deliver_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", credence.sql.columns.UTCDateTime(length=27), nullable=True),
        sa.Column("served_on", sa.Date(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", credence.sql.columns.UTCDateTime(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref", name="uq_outbox_ref"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_subject_id"), ["subject_id"], unique=False)
    op.create_table(
        "process_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy_id", sa.String(length=100), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("started_at", credence.sql.columns.UTCDateTime(length=27), nullable=False),
        sa.Column("finished_at", credence.sql.columns.UTCDateTime(length=27), nullable=True),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("transitions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_notices_ref", ["subject_id", "policy_id", "ref"])
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint("uq_list_entries_ref", ["subject_id", "policy_id", "ref"])
    with op.batch_alter_table("measures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint("uq_measures_ref", ["subject_id", "policy_id", "ref"])


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("measures", schema=None) as batch_op:
        batch_op.drop_constraint("uq_measures_ref", type_="unique")
        batch_op.drop_column("ref")
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_list_entries_ref", type_="unique")
        batch_op.drop_column("ref")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_constraint("uq_notices_ref", type_="unique")
    op.drop_table("process_runs")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_subject_id"))
    op.drop_table("outbox")
