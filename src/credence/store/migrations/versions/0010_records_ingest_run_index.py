"""An index on records.ingest_run_id: a due-process night finds the records of new ingest runs.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 03:20:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_records_ingest_run_id"), ["ingest_run_id"])


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_ingest_run_id"))
