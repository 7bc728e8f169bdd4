"""A run's reads are logged once per chunk: an access event per subject, one chain entry."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import delete, select, update

from credence.audit import chain
from credence.audit.access import Access, accesses_of
from credence.audit.tables import AccessEvent, AuditEntry
from credence.runs.outbox import FileSender
from credence.runs.run import run
from credence.store.schema import StoredRecord
from tests.process.test_lifecycle import CLIMB, ingest, scheme
from tests.store.backends import Backend

# Four minor acts each: enough to reach the first rung (4), so the first run visits them.
OTHERS = [
    (f"B{i}{m}", f"NID-{i}", "minor", f"2026-0{m}-01") for i in range(2, 6) for m in range(1, 5)
]
PURPOSE = "due process run for 2026-06-01"


def _run(b: Backend, day: date, chunk: int) -> None:
    run(
        b.store,
        scheme(),
        day,
        actor="process",
        sender=FileSender(b.folder / "outbox"),
        chunk=chunk,
    )


def test_a_chunk_is_one_chain_entry_over_one_access_event_per_subject(
    backend: Backend, tmp_path: Path
) -> None:
    ingest(backend, tmp_path, scheme(), "agency", CLIMB + OTHERS)
    _run(backend, date(2026, 6, 1), chunk=2)
    with backend.store.session() as s:
        events = s.scalars(
            select(AccessEvent).where(AccessEvent.actor == "process").order_by(AccessEvent.id)
        ).all()
        reads = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "read.records").order_by(AuditEntry.seq)
        ).all()
        # Five subjects: three chunks of at most two, each one entry naming no single subject.
        assert [(e.role, e.purpose, e.what) for e in events] == [
            ("operator", f"{PURPOSE} (first-run)", "records")
        ] * 5
        assert len({e.subject_id for e in events}) == 5
        assert [r.subject_id for r in reads] == [None, None, None]
        details = [json.loads(r.detail) for r in reads]
        assert [(d["subjects"], d["why"], d["purpose"], d["role"]) for d in details] == [
            (2, {"first-run": 2}, PURPOSE, "operator"),
            (2, {"first-run": 2}, PURPOSE, "operator"),
            (1, {"first-run": 1}, PURPOSE, "operator"),
        ]
        ids = [e.id for e in events]
        assert [d[chain.EVENTS] for d in details] == [
            [[ids[0], ids[1]]],
            [[ids[2], ids[3]]],
            [[ids[4], ids[4]]],
        ]
        assert chain.verify(s, backend.store.keys).ok
        # The person still sees that the due process read their data.
        one = events[0].subject_id
        seen = accesses_of(s, backend.store.keys, one, Access(one, "subject", "who looked"))
        assert [(v.actor, v.purpose, v.what) for v in seen if v.actor == "process"] == [
            ("process", f"{PURPOSE} (first-run)", "records")
        ]
        s.rollback()


def test_verify_names_the_entry_whose_access_events_were_altered_or_deleted(
    backend: Backend, tmp_path: Path
) -> None:
    ingest(backend, tmp_path, scheme(), "agency", CLIMB + OTHERS)
    _run(backend, date(2026, 6, 1), chunk=3)
    with backend.store.session() as s:
        events = s.scalars(
            select(AccessEvent).where(AccessEvent.actor == "process").order_by(AccessEvent.id)
        ).all()
        first, last = events[0].id, events[2].id
        entry = s.scalars(
            select(AuditEntry.seq)
            .where(AuditEntry.action == "read.records")
            .order_by(AuditEntry.seq)
        ).first()
        s.execute(update(AccessEvent).where(AccessEvent.id == events[1].id).values(purpose="x"))
        v = chain.verify(s, backend.store.keys)
        assert (v.ok, v.problem, v.seq, v.message) == (
            False,
            "events",
            entry,
            f"the access events read by entry {entry} (ids {first}..{last}) were altered",
        )
        s.execute(delete(AccessEvent).where(AccessEvent.id == events[1].id))
        v = chain.verify(s, backend.store.keys)
        assert (v.problem, v.seq, v.message) == (
            "events",
            entry,
            f"1 of the access events read by entry {entry} (ids {first}..{last}) were deleted",
        )
        s.rollback()
        assert chain.verify(s, backend.store.keys).ok


def test_a_later_run_says_why_each_subject_was_read(backend: Backend, tmp_path: Path) -> None:
    ingest(backend, tmp_path, scheme(), "agency", CLIMB + OTHERS)
    _run(backend, date(2026, 6, 1), chunk=500)
    ingest(backend, tmp_path, scheme(), "agency", [("C1", "NID-2", "minor", "2026-06-02")])
    _run(backend, date(2026, 6, 3), chunk=500)
    with backend.store.session() as s:
        last = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "read.records")
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert last is not None
        detail = json.loads(last.detail)
        read = s.execute(
            select(AccessEvent.subject_id, AccessEvent.purpose).where(
                AccessEvent.id.between(*detail[chain.EVENTS][0])
            )
        ).all()
        nid2 = s.scalar(
            select(StoredRecord.subject_id).where(StoredRecord.source_record_id == "C1")
        )
        assert (detail["subjects"], detail["why"]) == (1, {"records": 1})
        assert [tuple(r) for r in read] == [(nid2, "due process run for 2026-06-03 (records)")]
        assert chain.verify(s, backend.store.keys).ok
