"""``credence batch`` as an operator runs it: a full run, then nights that rescore only what moved."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from credence.cli import app
from credence.compute.batch import records_to_arrow
from tests.compute.test_batch_replay import _rec

RUN = CliRunner()


def _files(tmp: Path) -> tuple[Path, Path]:
    records, status = records_to_arrow(
        [
            # -5 for a year from 10 March 2026: gone on 10 March 2027.
            _rec("u1", "ann", "financial.utility_arrears", date(2026, 3, 10)),
            # +30 for three years from the award.
            _rec("a1", "ben", "civic.award", date(2026, 5, 1)),
            _rec("a2", "cat", "civic.award", date(2026, 6, 1)),
        ]
    )
    pq.write_table(records, tmp / "records.parquet")
    pq.write_table(status, tmp / "status.parquet")
    return tmp / "records.parquet", tmp / "status.parquet"


def _batch(tmp: Path, day: str, *extra: str) -> str:
    rec, st = tmp / "records.parquet", tmp / "status.parquet"
    if not rec.exists():
        _files(tmp)
    result = RUN.invoke(
        app,
        [
            "batch",
            "-p",
            "city-merit",
            "--as-of",
            day,
            "--known-at",
            day,
            "-r",
            str(rec),
            "--status",
            str(st),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return result.output


def _scores(path: Path) -> dict[str, tuple[int, str, date]]:
    rows = pq.read_table(str(path)).to_pylist()
    return {r["subject_id"]: (r["score"], r["grade"], r["as_of"]) for r in rows}


def test_full_run_writes_scores_and_grades(tmp_path: Path) -> None:
    out = _batch(tmp_path, "2027-03-09", "--out", str(tmp_path / "out.parquet"))
    assert "3 subjects scored (0 by timeline replay)" in out
    assert _scores(tmp_path / "out.parquet") == {
        "ann": (995, "A", date(2027, 3, 9)),
        "ben": (1030, "AA", date(2027, 3, 9)),
        "cat": (1030, "AA", date(2027, 3, 9)),
    }


def test_nights_rescore_only_the_subject_whose_record_expires(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _batch(tmp_path, "2027-03-08", "--incremental", str(state))
    assert "full run (no previous run): 3 of 3 subjects rescored" in first
    quiet = _batch(tmp_path, "2027-03-09", "--incremental", str(state))
    assert "incremental (from the agenda): 0 of 3 subjects rescored" in quiet
    night = _batch(
        tmp_path, "2027-03-10", "--incremental", str(state), "--out", str(tmp_path / "n.parquet")
    )
    assert "incremental (from the agenda): 1 of 3 subjects rescored" in night
    # ann's arrears expired on 10 March; every row carries the night's date.
    assert _scores(tmp_path / "n.parquet") == {
        "ann": (1000, "A", date(2027, 3, 10)),
        "ben": (1030, "AA", date(2027, 3, 10)),
        "cat": (1030, "AA", date(2027, 3, 10)),
    }


def test_incremental_and_out_missing_is_an_error(tmp_path: Path) -> None:
    rec, _ = _files(tmp_path)
    result = RUN.invoke(app, ["batch", "-p", "city-merit", "--as-of", "2027-03-09", "-r", str(rec)])
    assert result.exit_code == 2
    assert "--out" in result.output
