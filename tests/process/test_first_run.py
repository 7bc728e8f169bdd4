"""The first run for a policy visits only the subjects whose records may bring them something."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from credence.runs.outbox import FileSender
from credence.runs.run import run
from credence.store.schema import StoredRecord
from tests.process.test_lifecycle import CLIMB, ingest, scheme
from tests.store.backends import Backend

# NID-2's one minor act (1 point) can never reach the first rung (4 points), on any day.
LONE = [("L1", "NID-2", "minor", "2026-03-01")]


def _subject(b: Backend, record: str) -> str:
    with b.store.session() as s:
        found = s.scalar(
            select(StoredRecord.subject_id).where(StoredRecord.source_record_id == record)
        )
        assert found is not None
        return found


def test_a_subject_whose_records_can_never_issue_anything_is_not_visited(
    backend: Backend, tmp_path: Path
) -> None:
    ingest(backend, tmp_path, scheme(), "agency", CLIMB + LONE)
    sender = FileSender(backend.folder / "outbox")
    first = run(backend.store, scheme(), date(2026, 6, 1), actor="process", sender=sender)
    assert (first.subjects, first.reasons, first.transitions > 0) == (1, {"first-run": 1}, True)
    full = run(
        backend.store, scheme(), date(2026, 6, 1), actor="process", sender=sender, everyone=True
    )
    # --full visits both and changes nothing more.
    assert (full.subjects, full.transitions) == (2, 0)


def test_a_store_where_nobody_can_be_issued_anything_has_nobody_due(
    backend: Backend, tmp_path: Path
) -> None:
    ingest(backend, tmp_path, scheme(), "agency", LONE)
    sender = FileSender(backend.folder / "outbox")
    first = run(backend.store, scheme(), date(2026, 6, 1), actor="process", sender=sender)
    night = run(backend.store, scheme(), date(2026, 6, 2), actor="process", sender=sender)
    assert (first.subjects, first.reasons, night.subjects) == (0, {}, 0)
    # A second minor act: still short of the first rung, yet new, so the night reads it.
    ingest(backend, tmp_path, scheme(), "agency", [("L2", "NID-2", "minor", "2026-06-02")])
    later = run(backend.store, scheme(), date(2026, 6, 3), actor="process", sender=sender)
    assert (later.subjects, later.reasons, later.transitions) == (1, {"records": 1}, 0)
    assert _subject(backend, "L2") == _subject(backend, "L1")
