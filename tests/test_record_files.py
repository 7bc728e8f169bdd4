"""Reading record files: every row accounted for, every error with its line and field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credence.errors import RecordError
from credence.ingest.formats import read_rows
from credence.records import Status

HEADER = (
    "source,source_record_id,subject_id,kind,occurred_on,effective_on,recorded_at,amount,"
    "status,status_at\n"
)


def test_csv_rows_with_defaults_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        HEADER
        + "court,1,s1,k,2026-03-01,2026-04-01,2026-04-02T10:00:00+02:00,12.50,,\n"
        + "\n"
        + 'court,2,s1,k,2026-03-05,,,,"contested",2026-03-20\n'
    )
    rows = list(read_rows(path))
    assert [r.line for r in rows] == [2, 4]
    first, second = (r.record for r in rows)
    assert first is not None and second is not None
    assert first.record_id == "court:1"
    assert first.recorded_at == datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
    assert first.amount == Decimal("12.50")
    assert (second.effective_on, second.recorded_at) == (
        date(2026, 3, 5),
        datetime(2026, 3, 5, tzinfo=UTC),
    )
    assert [(h.status, h.at.date()) for h in second.history] == [
        (Status.CONTESTED, date(2026, 3, 20))
    ]


def test_every_bad_field_of_a_row_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + ",1,s1,k,2026-02-30,2026-01-01,yesterday,abc,gone,\n")
    [row] = read_rows(path)
    assert row.record is None
    assert [(e.line, e.field) for e in row.errors] == [
        (2, "source"),
        (2, "occurred_on"),
        (2, "recorded_at"),
        (2, "amount"),
        (2, "status"),
    ]
    assert str(row.errors[1]) == (
        "line 2: field 'occurred_on': '2026-02-30' is not a valid date (YYYY-MM-DD): "
        "day is out of range for month"
    )


def test_effective_before_occurred_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "court,1,s1,k,2026-03-01,2026-02-01,,,,\n")
    [row] = read_rows(path)
    assert [str(e) for e in row.errors] == [
        "line 2: field 'effective_on': 2026-02-01 is before occurred_on 2026-03-01"
    ]


def test_a_short_row_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "court,1,s1\n")
    [row] = read_rows(path)
    assert str(row.errors[0]) == "line 2: field 'row': has 3 fields, the header has 10"


def test_missing_required_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("source,source_record_id,subject_id,occurred_on\n")
    with pytest.raises(RecordError, match="field 'kind': required column is missing"):
        list(read_rows(path))


def test_jsonl_with_status_history(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = {
        "source": "court",
        "source_record_id": "9",
        "subject_id": "s1",
        "kind": "k",
        "occurred_on": "2026-03-01",
        "status_history": [
            {"status": "contested", "at": "2026-03-10"},
            {"status": "overturned", "at": "2026-04-01T12:00:00Z", "ref": "decision-7"},
        ],
    }
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "colour": 1}) + "\n")
    rows = list(read_rows(path))
    assert rows[0].record is not None
    assert [h.status for h in rows[0].record.history] == [Status.CONTESTED, Status.OVERTURNED]
    assert rows[0].record.history[1].ref == "decision-7"
    assert str(rows[1].errors[0]).startswith("line 2: field 'row': invalid JSON")
    assert str(rows[2].errors[0]) == "line 3: field 'colour': unknown field"


def test_parquet_rows_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    table = pa.table(
        {
            "source": ["court", "court"],
            "source_record_id": ["1", "2"],
            "subject_id": ["s1", "s2"],
            "kind": ["k", "k"],
            "occurred_on": [date(2026, 3, 1), None],
            "amount": [1.5, None],
        }
    )
    pq.write_table(table, path)
    rows = list(read_rows(path))
    assert rows[0].record is not None and rows[0].record.amount == Decimal("1.5")
    assert [str(e) for e in rows[1].errors] == ["line 2: field 'occurred_on': is required"]


def test_unknown_extension() -> None:
    with pytest.raises(RecordError, match=r"unknown format '\.xlsx'"):
        list(read_rows(Path("records.xlsx")))
