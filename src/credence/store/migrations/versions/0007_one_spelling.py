"""One spelling of every status: the hyphenated ones written before become snake_case.

Measures (``in-force``, ``awaiting-review``), list entries (``pending-notice``) and objections
(``under-review``) took hyphenated statuses in their rows and in ``process_events``; the API,
the docs and the evaluator spelt them with an underscore. The transient creation statuses that
a row could keep (``new``) become the first state of its object. Notices and record statuses
were already spelt one way. The audit chain is not touched: its entries are signed as written.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 01:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# table, process_events.object_type, old spelling, new spelling
RENAMES: tuple[tuple[str, str, str, str], ...] = (
    ("measures", "measure", "in-force", "in_force"),
    ("measures", "measure", "awaiting-review", "awaiting_review"),
    ("list_entries", "list_entry", "pending-notice", "pending_notice"),
    ("objections", "objection", "under-review", "under_review"),
)
# rows left in their creation status, and the first state of their object
CREATED: tuple[tuple[str, str], ...] = (
    ("measures", "proposed"),
    ("list_entries", "pending_notice"),
    ("objections", "filed"),
)


def _set(table: str, old: str, new: str, object_type: str | None = None) -> None:
    t = sa.table(table, sa.column("status", sa.String()), sa.column("object_type", sa.String()))
    stmt = sa.update(t).where(t.c.status == old)
    if object_type is not None:
        stmt = stmt.where(t.c.object_type == object_type)
    op.get_bind().execute(stmt.values(status=new))


def _rows(table: str, old: str, new: str) -> None:
    t = sa.table(table, sa.column("status", sa.String()))
    op.get_bind().execute(sa.update(t).where(t.c.status == old).values(status=new))


def upgrade() -> None:
    """Apply this migration."""
    for table, object_type, old, new in RENAMES:
        _rows(table, old, new)
        _set("process_events", old, new, object_type)
    for table, first in CREATED:
        _rows(table, "new", first)


def downgrade() -> None:
    """Revert this migration (the creation statuses stay the first states)."""
    for table, object_type, old, new in RENAMES:
        _rows(table, new, old)
        _set("process_events", new, old, object_type)
