"""Uploaded evidence files with their owner (subject and objection).

Files uploaded before this revision are recorded from the objections that cite them, where the
file lies in the folder of that objection's subject (``evidence/<first 16 of subject id>/``):
a path another subject attached to their own objection is not given to them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 01:00:00
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import credence.sql.columns

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this migration."""
    table = op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=300), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("objection_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", credence.sql.columns.UTCDateTime(length=27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref", name="uq_evidence_files_ref"),
    )
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_files_subject_id"), ["subject_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_evidence_files_objection_id"), ["objection_id"], unique=False
        )
    objections = sa.table(
        "objections",
        sa.column("id", sa.Integer()),
        sa.column("subject_id", sa.String()),
        sa.column("body", sa.Text()),
    )
    rows = []
    seen: set[str] = set()
    for oid, sid, body in op.get_bind().execute(
        sa.select(objections.c.id, objections.c.subject_id, objections.c.body).order_by(
            objections.c.id
        )
    ):
        try:
            refs = json.loads(body or "{}").get("evidence", [])
        except ValueError:
            continue
        for ref in refs:
            if not isinstance(ref, str) or ref in seen:
                continue
            if not ref.startswith(f"evidence/{sid[:16]}/") or ".." in ref.split("/"):
                continue
            seen.add(ref)
            rows.append(
                {
                    "ref": ref,
                    "subject_id": sid,
                    "objection_id": oid,
                    "filename": ref.rsplit("/", 1)[-1],
                    "size": 0,
                    "sha256": "",
                    "uploaded_at": datetime.now(UTC),
                }
            )
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_files_objection_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_files_subject_id"))
    op.drop_table("evidence_files")
