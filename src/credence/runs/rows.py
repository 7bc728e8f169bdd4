"""A chunk's due-process rows: read in a few set-based statements, written back in bulk.

:func:`load` reads, for a chunk of subjects and one policy, the notices, list entries and
measures with their process-event histories, the outbox messages and the relying parties'
queries (seven statements per :data:`CHUNK` subjects) into the kernel's plain values
(:mod:`credence.process.kernel`). :func:`write` stores what the kernel decided: new rows in
multi-row inserts (their ids come back in order), changed rows in one executemany per table,
the process events in one insert, and the audit entries in one append to the chain, whose lock
is taken only here, just before the chunk's commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.audit.tables import AccessEvent
from credence.process.kernel import (
    ENTRY,
    MEASURE,
    NOTICE,
    OUTBOX,
    RELYING_PARTY,
    Changes,
    Query,
    Row,
    Subject,
)
from credence.store.keys import Keys
from credence.store.schema import (
    AgendaDay,
    ListEntry,
    MeasureRow,
    Notice,
    OutboxMessage,
    ProcessEvent,
)

# Subjects per statement (well below SQLite's limit on bound parameters).
CHUNK = 900

TABLES: dict[str, Table] = {
    NOTICE: Notice.__table__,  # type: ignore[dict-item]
    ENTRY: ListEntry.__table__,  # type: ignore[dict-item]
    MEASURE: MeasureRow.__table__,  # type: ignore[dict-item]
    OUTBOX: OutboxMessage.__table__,  # type: ignore[dict-item]
}
# Columns a run never changes once a row exists.
FIXED = frozenset({"subject_id", "policy_id", "ref", "created_at", "kind", "about"})
_EVENTS: Table = ProcessEvent.__table__  # type: ignore[assignment]
_AGENDA: Table = AgendaDay.__table__  # type: ignore[assignment]
_SIDS: Any = bindparam("sids", expanding=True)


def _columns(table: Table) -> list[str]:
    return [c.key for c in table.columns if c.key != "id"]


def _owned(kind: str) -> Any:
    """The rows of ``kind`` of the chunk's subjects (under the policy, but for messages)."""
    table = TABLES[kind]
    stmt = select(table).where(table.c.subject_id.in_(_SIDS))
    if kind != OUTBOX:
        stmt = stmt.where(table.c.policy_id == bindparam("policy"))
    return stmt.order_by(table.c.id)


def _histories(kind: str) -> Any:
    table = TABLES[kind]
    return (
        select(_EVENTS.c.object_id, _EVENTS.c.status)
        .join(table, table.c.id == _EVENTS.c.object_id)
        .where(
            _EVENTS.c.object_type == kind,
            table.c.subject_id.in_(_SIDS),
            table.c.policy_id == bindparam("policy"),
        )
        .order_by(_EVENTS.c.id)
    )


_OWNED = {kind: _owned(kind) for kind in TABLES}
_HISTORIES = {kind: _histories(kind) for kind in (NOTICE, ENTRY, MEASURE)}
_QUERIES = select(AccessEvent.subject_id, AccessEvent.actor, AccessEvent.at).where(
    AccessEvent.subject_id.in_(_SIDS), AccessEvent.role == RELYING_PARTY
)


def load(session: Session, policy_id: str, subject_ids: Sequence[str]) -> dict[str, Subject]:
    """The kernel's view of each subject in ``subject_ids`` under ``policy_id``."""
    out = {sid: Subject(sid) for sid in subject_ids}
    ids = list(out)
    for start in range(0, len(ids), CHUNK):
        params = {"sids": ids[start : start + CHUNK], "policy": policy_id}
        for kind, stmt in _OWNED.items():
            names = _columns(TABLES[kind])
            rows: dict[int, Row] = {}
            for r in session.execute(stmt, params).mappings():
                values = {k: r[k] for k in names}
                row = Row(kind, values, id=r["id"], stored=dict(values))
                rows[row.id or 0] = row
                out[r["subject_id"]].of(kind)[row.ref] = row
            if kind in _HISTORIES and rows:
                for object_id, status in session.execute(_HISTORIES[kind], params):
                    rows[object_id].history.append(status)
        for sid, actor, at in session.execute(_QUERIES, params):
            out[sid].queries.append(Query(actor, at))
    return out


def write(session: Session, keys: Keys, changes: Changes, subjects: dict[str, Subject]) -> None:
    """Store the chunk's new and changed rows, its process events and audit entries."""
    session.flush()  # what the session holds (the run's own ORM work) goes first
    for kind, table in TABLES.items():
        new = [r for r in changes.new_rows if r.kind == kind]
        if not new:
            continue
        params = [r.values for r in new]
        if kind == OUTBOX:
            session.execute(insert(table), params)
            continue
        ids = session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), params
        ).scalars()
        for row, new_id in zip(new, ids, strict=True):
            row.id = new_id
    for kind, table in TABLES.items():
        mutable = [c for c in _columns(table) if c not in FIXED]
        changed = [
            {"_id": r.id, **{f"v_{c}": r.values[c] for c in mutable}}
            for s in subjects.values()
            for r in s.of(kind).values()
            if r.stored is not None and r.changed()
        ]
        if changed:
            stmt = (
                update(table)
                .where(table.c.id == bindparam("_id"))
                .values({c: bindparam(f"v_{c}") for c in mutable})
            )
            session.execute(stmt, changed)
    if changes.events:
        session.execute(
            insert(_EVENTS),
            [
                {
                    "object_type": e.row.kind,
                    "object_id": e.row.id,
                    "status": e.status,
                    "at": e.at,
                    "actor": changes.actor,
                    "detail": e.detail,
                }
                for e in changes.events
            ],
        )
    chain.append_many(
        session.connection(),
        keys,
        [
            chain.NewEntry(changes.actor, e.action, e.audit, e.subject_id, changes.now)
            for e in changes.events
        ],
    )


def remember(session: Session, policy_id: str, days: dict[str, date | None]) -> None:
    """Store each subject's next day of possible change (in the chunk's transaction)."""
    if not days:
        return
    ids = list(days)
    for start in range(0, len(ids), CHUNK):
        session.execute(
            delete(_AGENDA).where(
                _AGENDA.c.policy_id == policy_id,
                _AGENDA.c.subject_id.in_(ids[start : start + CHUNK]),
            )
        )
    session.execute(
        insert(_AGENDA),
        [{"policy_id": policy_id, "subject_id": s, "next_day": d} for s, d in days.items()],
    )
