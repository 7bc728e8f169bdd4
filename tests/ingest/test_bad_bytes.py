"""Hostile bytes in record files: control characters and invalid UTF-8, on both ingest paths.

Each bad row is quarantined with its line, field and reason, the rest of the file is stored,
and the run ends ``done``; nothing with a control character reaches the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credence.ingest.fast import Prescan
from credence.ingest.run import ingest_file
from credence.rows.text import control_problem, has_control_bytes
from tests.ingest.helpers import NOW, quarantine, records
from tests.store.backends import POLICY_FILE, Backend, policy_set

FF = b"\xff"
HEADER = b"source,source_record_id,subject_id,kind,occurred_on,evidence_ref\n"


def _good(n: int) -> bytes:
    return f"police,G{n},NID-{n},fine,2025-06-01,doc-{n}\n".encode()


# Line 2 and 7 are good; 3-6 are each refused for one field.
BAD_LINES = [
    b"police,P\xff3,NID-3,fine,2025-06-01,doc-3\n",  # 3: not UTF-8
    b"police,P4,NID-4,fine,2025-06-01,doc\x004\n",  # 4: NUL
    b"police,P\t5,NID-5,fine,2025-06-01,doc-5\n",  # 5: a tab inside a field
    "police,P6,NID-6,fine,2025-06-01,doc\u00856\n".encode(),  # 6: C1 control (NEL)
]


def _file(tmp_path: Path) -> tuple[Path, int]:
    body = HEADER + _good(2) + b"".join(BAD_LINES) + _good(7)
    path = tmp_path / "hostile.csv"
    path.write_bytes(body)
    return path, body.index(b"\xff")


def _expected(offset: int) -> list[tuple[int, str, str]]:
    return [
        (
            3,
            "row",
            f"is not valid UTF-8: byte 0xff at byte offset {offset} of the file "
            "(invalid start byte)",
        ),
        (4, "evidence_ref", "contains control character U+0000 at character 4"),
        (5, "source_record_id", "contains control character U+0009 at character 2"),
        (6, "evidence_ref", "contains control character U+0085 at character 4"),
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path-asked", "row-reader"])
def test_control_characters_and_bad_utf8_are_quarantined_by_line(
    backend: Backend, tmp_path: Path, fast: bool
) -> None:
    path, offset = _file(tmp_path)
    summary = ingest_file(
        backend.store, path, source="police", policy=policy_set(), actor="t", now=NOW, fast=fast
    )
    assert (summary.rows, summary.accepted, summary.rejected) == (6, 2, 4)
    # A control character anywhere sends the whole file to the row reader (the prescan).
    assert not summary.fast_path
    assert quarantine(backend) == _expected(offset)
    assert [r[0] for r in records(backend)] == ["police:G2", "police:G7"]
    assert backend.rows("SELECT status FROM ingest_runs") == [("done",)]
    # The redacted raw values of a control-character row are kept for the operator.
    raw = backend.rows("SELECT raw FROM quarantine WHERE line = 4")[0][0]
    assert json.loads(raw)["evidence_ref"] == "doc\x004"


def test_invalid_utf8_deep_in_a_plain_file_leaves_the_fast_path_there(
    backend: Backend, tmp_path: Path
) -> None:
    # No control character: the Arrow path reads the first batches, refuses the one with the
    # bad byte, and the row reader takes over from there.
    lines = [_good(n) for n in range(2, 52)]
    lines[31] = b"police,P33,NID-33,fine,2025-06-01,doc-\xc3(\n"  # line 33: a broken sequence
    body = HEADER + b"".join(lines)
    path = tmp_path / "plain.csv"
    path.write_bytes(body)
    summary = ingest_file(
        backend.store,
        path,
        source="police",
        policy=policy_set(),
        actor="t",
        now=NOW,
        batch_size=10,
    )
    assert summary.fast_path
    assert (summary.rows, summary.accepted, summary.rejected) == (50, 49, 1)
    where = body.index(b"\xc3(")
    assert quarantine(backend) == [
        (
            33,
            "row",
            f"is not valid UTF-8: byte 0xc3 at byte offset {where} of the file "
            "(invalid continuation byte)",
        )
    ]
    assert len(records(backend)) == 49


def test_jsonl_and_parquet_refuse_control_characters_too(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"source": "police", "source_record_id": "J1", "subject_id": "NID-1", "kind": "fine",
         "occurred_on": "2025-06-01"},
        {"source": "police", "source_record_id": "J\u00002", "subject_id": "NID-2",
         "kind": "fine", "occurred_on": "2025-06-01"},
        {"source": "police", "source_record_id": "J3", "subject_id": "NID-\u001b[31m3",
         "kind": "fine", "occurred_on": "2025-06-01"},
    ]  # fmt: skip
    jsonl = tmp_path / "rows.jsonl"
    body = "".join(json.dumps(r) + "\n" for r in rows).encode() + b'{"source": "\xff"}\n'
    jsonl.write_bytes(body)
    summary = ingest_file(
        sqlite_backend.store, jsonl, source="police", policy=policy_set(), actor="t", now=NOW
    )
    assert summary.accepted == 1
    assert quarantine(sqlite_backend) == [
        (2, "source_record_id", "contains control character U+0000 at character 2"),
        (3, "subject_id", "contains control character U+001B at character 5"),
        (
            4,
            "row",
            f"is not valid UTF-8: byte 0xff at byte offset {body.index(FF)} of the file "
            "(invalid start byte)",
        ),
    ]
    # The quarantined national id is pseudonymised like any other.
    raw = sqlite_backend.rows("SELECT raw FROM quarantine WHERE line = 3")[0][0]
    assert json.loads(raw)["subject_id"].startswith("hmac:")

    parquet = tmp_path / "rows.parquet"
    columns = {k: pa.array([r[k] for r in rows], pa.string()) for k in rows[0]}
    columns["source_record_id"] = pa.array(["Q1", "Q\u007f2", "Q3"], pa.string())
    pq.write_table(pa.table(columns), parquet)
    summary = ingest_file(
        sqlite_backend.store, parquet, source="police", policy=policy_set(), actor="t", now=NOW
    )
    assert (summary.accepted, summary.rejected) == (1, 2)
    assert sqlite_backend.rows(
        "SELECT line, field, reason FROM quarantine WHERE file LIKE '%.parquet' ORDER BY line"
    ) == [
        (2, "source_record_id", "contains control character U+007F at character 2"),
        (3, "subject_id", "contains control character U+001B at character 5"),
    ]
    stored = sqlite_backend.rows("SELECT source_record_id, evidence_ref FROM records")
    assert all(
        not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in (v or ""))
        for r in stored
        for v in r
    )


def test_the_cli_reports_bad_rows_and_exits_1_without_a_traceback(
    backend: Backend, tmp_path: Path
) -> None:
    path, offset = _file(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from credence.cli import main; main()",
            "ingest",
            str(path),
            "--source",
            "police",
            "--policy",
            str(POLICY_FILE),
            "--now",
            "2026-06-15T12:00:00Z",
        ],
        env=backend.env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr  # 1: rows were rejected (docs/cli.md)
    assert "Traceback" not in done.stderr
    assert "rejections by field" in done.stdout
    assert quarantine(backend) == _expected(offset)
    assert backend.rows("SELECT status, rows, accepted, rejected FROM ingest_runs") == [
        ("done", 6, 2, 4)
    ]


def test_a_field_over_the_csv_limit_rejects_its_row_only(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    huge = "x" * 200_000
    body = HEADER + _good(2) + f'police,P3,NID-3,fine,2025-06-01,"{huge}"\n'.encode() + _good(4)
    path = tmp_path / "huge.csv"
    path.write_bytes(body)
    summary = ingest_file(
        sqlite_backend.store, path, source="police", policy=policy_set(), actor="t", now=NOW
    )
    assert (summary.rows, summary.accepted, summary.rejected) == (3, 2, 1)
    assert quarantine(sqlite_backend) == [
        (3, "row", "is not valid CSV: field larger than field limit (131072)")
    ]


@given(st.text(), st.integers(min_value=0))
def test_the_byte_prescan_and_the_text_check_agree(text: str, cut: int) -> None:
    # The prescan (bytes, per chunk) decides the fast path; the text check decides the row.
    # They must agree on every text, wherever a chunk boundary falls (a line feed is neither).
    data = text.encode()
    expected = control_problem(text.replace("\n", "")) is not None
    assert has_control_bytes(data) == expected
    scan = Prescan()
    at = cut % (len(data) + 1)
    scan.feed(data[:at])
    scan.feed(data[at:])
    assert scan.control == expected
