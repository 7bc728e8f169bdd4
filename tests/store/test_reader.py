"""The one reader of subject inputs: bulk and single forms agree, and "known at" is one cut."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select

from credence.audit.access import Access
from credence.audit.chain import verify
from credence.ingest.run import ingest_file
from credence.store.reader import inputs_of, read_rows, typed
from credence.store.records import revoke
from credence.store.schema import AccessEvent
from tests.ingest.helpers import write_csv
from tests.store.backends import Backend, policy_set

T1 = datetime(2026, 2, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 3, 1, 9, tzinfo=UTC)
T3 = datetime(2026, 4, 1, 9, tzinfo=UTC)
READER = Access("clerk", "reviewer", "case 42")


def _load(b: Backend, tmp_path: Path) -> list[str]:
    early = [
        ("police", "F1", "NID-7", "fine", "2025-06-01", "", "", "", "", "", ""),
        ("police", "F3", "NID-8", "fine", "2025-07-01", "", "", "", "", "", ""),
    ]
    # Recorded (by the source) in January, ingested by the store only on 1 March.
    late = [("police", "F2", "NID-7", "fine", "2025-07-01", "", "2026-01-05", "", "", "", "")]
    pol = policy_set()
    ingest_file(b.store, write_csv(tmp_path / "a.csv", early), source="police", policy=pol,
                actor="loader", now=T1)  # fmt: skip
    ingest_file(b.store, write_csv(tmp_path / "b.csv", late), source="police", policy=pol,
                actor="loader", now=T2)  # fmt: skip
    with b.store.session() as s:
        revoke(s, b.keys, "police:F1", actor="court", reason="quashed", now=T3)
        s.commit()
    return [b.keys.subject_id(n) for n in ("NID-7", "NID-8", "NID-9")]


def test_the_bulk_read_cuts_at_the_store_s_knowledge_and_logs_every_subject(
    backend: Backend, tmp_path: Path
) -> None:
    seven, eight, nine = _load(backend, tmp_path)
    with backend.store.session() as s:
        before = s.scalar(select(func.count()).select_from(AccessEvent))
        feb = inputs_of(s, backend.keys, [seven, eight, nine, seven], date(2026, 2, 15),
                        access=READER, policy_id="test", now=T3)  # fmt: skip
        logged = s.scalar(select(func.count()).select_from(AccessEvent))
        now = inputs_of(s, backend.keys, [seven], None, access=READER, now=T3)
        s.commit()
    # One entry per distinct subject asked for, in the order asked, also for one without data.
    assert list(feb) == [seven, eight, nine]
    assert logged == (before or 0) + 3
    # Known at 15 February: F2 was not ingested yet, F1's revocation not logged yet.
    assert [(r.record_id, r.history) for r in feb[seven].records] == [("police:F1", ())]
    assert [r.record_id for r in feb[eight].records] == ["police:F3"]
    assert feb[nine].records == [] and feb[nine].decisions.served == {}
    # Everything the store holds now.
    got = now[seven].records
    assert [r.record_id for r in got] == ["police:F1", "police:F2"]
    assert [c.status.value for c in got[0].history] == ["revoked"]
    with backend.store.session() as s:
        assert verify(s, backend.keys).ok


def test_the_single_subject_rows_give_the_bulk_read_s_inputs(
    backend: Backend, tmp_path: Path
) -> None:
    seven, _, _ = _load(backend, tmp_path)
    for known in (None, date(2026, 2, 15), date(2026, 3, 1), T2, datetime(2026, 3, 1, 10)):
        with backend.store.session() as s:
            bulk = inputs_of(s, backend.keys, [seven], known, access=READER, policy_id="test")
            raw = read_rows(s.connection(), seven, "test", known)
            single = typed(raw, s.connection().dialect, seven, known)
            s.rollback()
        assert single == bulk[seven], known
