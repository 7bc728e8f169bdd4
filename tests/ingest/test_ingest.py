"""Ingest: every row is either stored once or quarantined with its line, field and reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from credence.audit.chain import verify
from credence.ingest.run import IngestError, ingest_file
from tests.ingest.helpers import (
    NOW,
    quarantine,
    quarantine_full,
    records,
    statuses,
    subjects,
    write_csv,
    write_jsonl,
    write_parquet,
)
from tests.store.backends import SECRET, Backend, open_backend, policy_set

ROWS = [
    # line 2, 3: good; 3 has every optional field
    ("police", "P1", "NID-1", "fine", "2025-03-01", "", "", "", "", "", ""),
    (
        "police",
        "P2",
        "NID-2",
        "fine",
        "2026-02-01",
        "2026-02-10",
        "2026-02-11T08:30:00Z",
        "12.50",
        "doc://p2",
        "",
        "",
    ),
    # line 4: award has no rule in version 1, in force on the day of the act
    ("police", "P3", "NID-1", "award", "2025-06-01", "", "", "", "", "", ""),
    # line 5: police may not report defaults
    ("police", "P4", "NID-1", "default", "2025-06-01", "", "", "", "", "", ""),
    # line 6: unknown kind
    ("police", "P5", "NID-3", "parking", "2025-06-01", "", "", "", "", "", ""),
    # line 7: in the future
    ("police", "P6", "NID-3", "fine", "2026-07-01", "", "", "", "", "", ""),
    # line 8: another source's row, which that source may not report either
    ("bank", "B1", "NID-3", "fine", "2025-06-01", "", "", "", "", "", ""),
    # line 9: not a date
    ("police", "P7", "NID-3", "fine", "2026-02-30", "", "", "", "", "", ""),
    # line 10: the same record again
    ("police", "P1", "NID-1", "fine", "2025-03-01", "", "", "", "", "", ""),
    # line 11: before the policy's first version
    ("police", "P8", "NID-3", "fine", "2024-05-01", "", "", "", "", "", ""),
    # line 12: reported with a status
    (
        "police",
        "P9",
        "NID-2",
        "fine",
        "2026-03-01",
        "",
        "",
        "",
        "",
        "revoked",
        "2026-03-05T10:00:00Z",
    ),
    # line 13: court may report fines from version 2 on, not before
    ("police", "P10", "NID-2", "award", "2026-04-01", "", "", "", "", "", ""),
]

EXPECTED_QUARANTINE = [
    (4, "kind", "'award' has no rule in store-test version 1, in force on 2025-06-01"),
    (
        5,
        "source",
        "'police' may not report 'default' under store-test version 1 (authorised: bank)",
    ),
    (6, "kind", "'parking' is not a kind of policy store-test"),
    (7, "occurred_on", "2026-07-01 is in the future"),
    (8, "source", "'bank' may not report 'fine' under store-test version 1 (authorised: police)"),
    (8, "source", "row says 'bank' but the file is ingested as 'police'"),
    (
        9,
        "occurred_on",
        "'2026-02-30' is not a valid date (YYYY-MM-DD): day is out of range for month",
    ),
    (11, "occurred_on", "no version of policy store-test was in force on 2024-05-01"),
]


def _ingest(b: Backend, path: Path, **kw: object) -> object:
    return ingest_file(
        b.store,
        path,
        source="police",
        policy=policy_set(),
        actor="tester",
        now=NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_rows_are_stored_or_quarantined_exactly(backend: Backend, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "police.csv", ROWS)
    s = _ingest(backend, path)
    k = backend.keys
    stamp = NOW if backend.name == "postgresql" else "2026-06-15T12:00:00.000000Z"
    got = records(backend)
    assert [r[0] for r in got] == ["police:P1", "police:P10", "police:P2", "police:P9"]
    assert [r[3] for r in got] == [k.subject_id(n) for n in ("NID-1", "NID-2", "NID-2", "NID-2")]
    by_id = {r[0]: r for r in got}
    p2 = by_id["police:P2"]
    assert p2[4:7] == ("fine", _day(backend, date(2026, 2, 1)), _day(backend, date(2026, 2, 10)))
    assert _instant(p2[7]) == datetime(2026, 2, 11, 8, 30, tzinfo=UTC)
    assert Decimal(str(p2[8])) == Decimal("12.50") and p2[9] == "doc://p2"
    assert _instant(by_id["police:P1"][7]) == datetime(2025, 3, 1, tzinfo=UTC)
    assert all(r[10] is None and r[11] == stamp for r in got)
    assert [(r[0], r[1], _instant(r[2]), r[3], r[5]) for r in statuses(backend)] == [
        ("police:P9", "revoked", datetime(2026, 3, 5, 10, tzinfo=UTC), None, "police")
    ]
    assert quarantine(backend) == EXPECTED_QUARANTINE
    assert (s.rows, s.accepted, s.duplicates, s.rejected) == (12, 4, 1, 7)  # type: ignore[attr-defined]
    assert [r[0] for r in subjects(backend)] == sorted(k.subject_id(n) for n in ("NID-1", "NID-2"))
    with backend.store.session() as session:
        assert verify(session, backend.keys).ok


def _day(b: Backend, d: date) -> object:
    return d if b.name == "postgresql" else d.isoformat()


def _instant(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def test_a_second_run_changes_nothing(backend: Backend, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "police.csv", ROWS)
    _ingest(backend, path)
    before = (records(backend), statuses(backend), quarantine_full(backend), subjects(backend))
    again = _ingest(backend, path)
    after = (records(backend), statuses(backend), quarantine_full(backend), subjects(backend))
    assert after == before
    assert (again.accepted, again.duplicates, again.rejected, again.quarantined) == (0, 5, 7, 0)  # type: ignore[attr-defined]
    runs = backend.rows("SELECT id, status, rows, accepted, duplicates, rejected FROM ingest_runs")
    assert runs == [(1, "done", 12, 4, 1, 7), (2, "done", 12, 0, 5, 7)]
    actions = [r[0] for r in backend.rows("SELECT action FROM audit_log ORDER BY seq")]
    assert actions == [
        "ingest.start",
        "ingest.batch",
        "ingest.finish",
        "ingest.start",
        "ingest.finish",
    ]


def test_batches_commit_one_by_one(backend: Backend, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "police.csv", ROWS)
    s = _ingest(backend, path, batch_size=5)
    assert s.batches == 3  # type: ignore[attr-defined]
    details = backend.rows(
        "SELECT detail FROM audit_log WHERE action = 'ingest.batch' ORDER BY seq"
    )
    assert [d[0].split('"lines":')[1].split("]")[0] + "]" for d in details] == [
        "[2,6]",
        "[7,11]",
        "[12,13]",
    ]


@pytest.mark.parametrize("writer", [write_jsonl, write_parquet], ids=["jsonl", "parquet"])
def test_every_format_stores_the_same(tmp_path: Path, writer: object) -> None:
    sqlite_backend = next(open_backend("sqlite", tmp_path / "other", SECRET))
    csv_store = next(open_backend("sqlite", tmp_path / "csv", SECRET))
    try:
        _ingest(csv_store, write_csv(tmp_path / "rows.csv", ROWS))
        other = writer(tmp_path / "rows.other", ROWS)  # type: ignore[operator]
        suffix = ".jsonl" if writer is write_jsonl else ".parquet"
        path = other.rename(other.with_suffix(suffix))
        _ingest(sqlite_backend, path)
        assert records(sqlite_backend) == records(csv_store)
        assert statuses(sqlite_backend) == statuses(csv_store)
        assert quarantine(sqlite_backend) == [(q[0] - 1, *q[1:]) for q in quarantine(csv_store)]
    finally:
        csv_store.store.close()
        sqlite_backend.store.close()


MESSY = [
    ("police", "M1", "NID-1", "fine", "2025-03-01", "", "2025-03-02", "", "", "", ""),
    ("police", "M2", " NID-2", "fine", "2025-03-01", "", "", "", "", "", ""),
    (
        "police",
        "M3",
        "NID-2",
        "fine",
        "2025-03-01",
        "",
        "2025-03-02T10:00:00+02:00",
        "1e3",
        "",
        "",
        "",
    ),
    ("police", "M4", "NID-2", "fine", "2025-03-01", "2025-02-01", "", "", "", "", ""),
    ("police", "M5", "NID-2", "fine", "2025-03-01", "", "", "007", "", "", ""),
    (
        "police",
        "M6",
        "NID-2",
        "fine",
        "2025-03-01",
        "",
        "",
        "",
        "",
        "contested",
        "2025-04-01T00:00:00Z",
    ),
    ("police", "M7", "NID-2", "fine", "2025-03-01", "", "", "", "", "active", ""),
    ("police", "M8", "NID-2", "fine", "2025-3-01", "", "", "", "", "", ""),
    ("police", "M9", "", "fine", "2025-03-01", "", "", "", "", "", ""),
    ("police", "M10", "NID-4", "fine", "2025-03-01", "", "2025-03-01T25:00:00Z", "", "", "", ""),
    ("police", "M11", "NID-4", "fine", "2025-03-01", "", "", "-0.5", "  ", "", ""),
    ("police", "M12", "NID-4", "fine", "2025-03-01", "", "", "x", "", "wrong", ""),
    (
        "police",
        "M13",
        "NID-4",
        "fine",
        "2025-03-01",
        "2025-03-01",
        "2025-03-01T00:00:00Z",
        "",
        "e",
        "",
        "",
    ),
]


def test_fast_path_and_row_reader_agree(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "messy.csv", MESSY + ROWS)
    fast = next(open_backend("sqlite", tmp_path / "f", SECRET))
    slow = next(open_backend("sqlite", tmp_path / "s", SECRET))
    try:
        sf = _ingest(fast, path, fast=True, batch_size=7)
        ss = _ingest(slow, path, fast=False, batch_size=7)
        assert sf.fast_path  # type: ignore[attr-defined]
        assert records(fast) == records(slow)
        assert statuses(fast) == statuses(slow)
        assert quarantine_full(fast) == quarantine_full(slow)
        assert len(records(fast)) == 12
        assert (sf.accepted, sf.rejected) == (ss.accepted, ss.rejected)  # type: ignore[attr-defined]
    finally:
        fast.store.close()
        slow.store.close()


def test_quoted_or_ragged_files_take_the_row_reader(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        ",".join(("source", "source_record_id", "subject_id", "kind", "occurred_on")) + "\n"
        "police,R1,NID-1,fine,2025-03-01\n"
        "police,R2,NID-1\n"
        "police,R3,NID-1,fine,2025-03-02\n"
    )
    s = _ingest(sqlite_backend, path)
    assert [r[0] for r in records(sqlite_backend)] == ["police:R1", "police:R3"]
    assert quarantine(sqlite_backend) == [(3, "row", "has 3 fields, the header has 5")]
    assert s.rows == 3  # type: ignore[attr-defined]


def test_a_bad_header_fails_the_run(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "source,source_record_id,subject,kind,occurred_on\npolice,1,N,fine,2025-01-01\n"
    )
    with pytest.raises(IngestError, match="unknown column"):
        _ingest(sqlite_backend, path)
    assert sqlite_backend.rows("SELECT status FROM ingest_runs") == [("failed",)]
    assert quarantine(sqlite_backend)[0][:2] == (1, "subject")
