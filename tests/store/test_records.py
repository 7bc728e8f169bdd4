"""Records as new facts: revocations and corrections, and point-in-time reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from credence.audit.access import Access, accesses_of
from credence.audit.chain import verify
from credence.engine.reference import evaluate
from credence.ingest.corrections import correct
from credence.ingest.run import ingest_file
from credence.records import Record, Status, StatusChange
from credence.store.records import RecordStateError, records_of, revoke
from tests.ingest.helpers import write_csv
from tests.store.backends import Backend, policy_set

T1 = datetime(2026, 2, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 3, 1, 9, tzinfo=UTC)
T3 = datetime(2026, 4, 1, 9, tzinfo=UTC)
READER = Access("clerk", "reviewer", "case 42")


def _load(b: Backend, tmp_path: Path) -> str:
    rows = [
        ("police", "F1", "NID-7", "fine", "2025-06-01", "", "", "", "", "", ""),
        ("police", "F2", "NID-7", "fine", "2025-07-01", "", "", "250", "doc://f2", "", ""),
        ("police", "F3", "NID-8", "fine", "2025-07-01", "", "", "", "", "", ""),
    ]
    path = write_csv(tmp_path / "f.csv", rows)
    ingest_file(b.store, path, source="police", policy=policy_set(), actor="loader", now=T1)
    return b.keys.subject_id("NID-7")


def _read(b: Backend, sid: str, known_at: date | datetime | None) -> list[Record]:
    with b.store.session() as session:
        out = records_of(session, b.keys, sid, access=READER, known_at=known_at, now=T3)
        session.commit()
    return out


def test_records_come_back_as_records(backend: Backend, tmp_path: Path) -> None:
    sid = _load(backend, tmp_path)
    got = _read(backend, sid, None)
    assert got == [
        Record(
            "police:F1",
            "police",
            "F1",
            sid,
            "fine",
            date(2025, 6, 1),
            date(2025, 6, 1),
            datetime(2025, 6, 1, tzinfo=UTC),
        ),
        Record(
            "police:F2",
            "police",
            "F2",
            sid,
            "fine",
            date(2025, 7, 1),
            date(2025, 7, 1),
            datetime(2025, 7, 1, tzinfo=UTC),
            Decimal("250"),
            "doc://f2",
        ),
    ]
    assessment = evaluate(policy_set(), got, date(2026, 1, 15), date(2026, 1, 15), subject_id=sid)
    assert assessment.score == 80


def test_revocation_and_correction_are_new_facts_read_as_known(
    backend: Backend, tmp_path: Path
) -> None:
    sid = _load(backend, tmp_path)
    with backend.store.session() as session:
        revoke(session, backend.keys, "police:F1", actor="court", reason="quashed", now=T2)
        session.commit()
    with backend.store.session() as session:
        new = correct(
            session,
            backend.keys,
            "police:F2",
            actor="police",
            reason="wrong date",
            changes={"occurred_on": date(2025, 8, 1), "effective_on": date(2025, 8, 1)},
            policy=policy_set(),
            now=T3,
        )
        session.commit()
    assert new.record_id == "police:F2~c1"
    assert backend.rows("SELECT count(*) FROM records") == [(4,)]

    before = _read(backend, sid, date(2026, 2, 15))
    assert [(r.record_id, r.history) for r in before] == [("police:F1", ()), ("police:F2", ())]
    middle = _read(backend, sid, date(2026, 3, 15))
    assert [(r.record_id, r.history) for r in middle] == [
        ("police:F1", (StatusChange(Status.REVOKED, T2),)),
        ("police:F2", ()),
    ]
    now = _read(backend, sid, None)
    assert [(r.record_id, r.occurred_on, r.history) for r in now] == [
        ("police:F1", date(2025, 6, 1), (StatusChange(Status.REVOKED, T2),)),
        ("police:F2", date(2025, 7, 1), (StatusChange(Status.CORRECTED_BY, T3, "police:F2~c1"),)),
        ("police:F2~c1", date(2025, 8, 1), ()),
    ]
    assert backend.rows("SELECT supersedes FROM records WHERE record_id = 'police:F2~c1'") == [
        ("police:F2",)
    ]
    score = evaluate(policy_set(), now, date(2026, 4, 2), date(2026, 4, 2), subject_id=sid).score
    assert score == 90

    with backend.store.session() as session, pytest.raises(RecordStateError, match="already"):
        revoke(session, backend.keys, "police:F1", actor="x", reason="again", now=T3)
    with backend.store.session() as session, pytest.raises(RecordStateError, match="correct"):
        correct(
            session,
            backend.keys,
            "police:F2",
            actor="x",
            reason="r",
            changes={"amount": Decimal(1)},
            now=T3,
        )
    with backend.store.session() as session, pytest.raises(RecordStateError, match="future"):
        correct(
            session,
            backend.keys,
            "police:F3",
            actor="x",
            reason="r",
            changes={"occurred_on": date(2027, 1, 1), "effective_on": date(2027, 1, 1)},
            policy=policy_set(),
            now=T3,
        )


def test_every_read_is_logged_and_shown_to_the_subject(backend: Backend, tmp_path: Path) -> None:
    sid = _load(backend, tmp_path)
    _read(backend, sid, date(2026, 2, 15))
    with backend.store.session() as session:
        seen = accesses_of(session, backend.keys, sid, Access("NID-7", "subject", "my file"))
        session.commit()
    assert [(a.actor, a.role, a.purpose, a.what) for a in seen] == [
        ("clerk", "reviewer", "case 42", "records")
    ]
    logged = backend.rows(
        "SELECT actor, action, subject_id FROM audit_log WHERE action LIKE 'read.%' ORDER BY seq"
    )
    assert logged == [("clerk", "read.records", sid), ("NID-7", "read.access_log", sid)]
    with backend.store.session() as session:
        assert verify(session, backend.keys).ok
