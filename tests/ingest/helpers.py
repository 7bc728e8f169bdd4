"""Writing record files and reading back what the store holds, for the ingest tests."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.store.backends import Backend

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
HEADER = (
    "source",
    "source_record_id",
    "subject_id",
    "kind",
    "occurred_on",
    "effective_on",
    "recorded_at",
    "amount",
    "evidence_ref",
    "status",
    "status_at",
)


def write_csv(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    """A CSV record file (``\\n`` line ends, quotes only where needed)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    """The same rows as JSON Lines (empty cells left out)."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            obj = {k: v for k, v in zip(header, row, strict=True) if v != ""}
            handle.write(json.dumps(obj) + "\n")
    return path


def write_parquet(
    path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER
) -> Path:
    """The same rows as Parquet (string columns, empty cells null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {
        name: pa.array([row[i] or None for row in rows], pa.string())
        for i, name in enumerate(header)
    }
    pq.write_table(pa.table(columns), path)
    return path


def records(b: Backend) -> list[tuple[Any, ...]]:
    """Every stored record (without the run that wrote it), in id order."""
    return b.rows(
        "SELECT record_id, source, source_record_id, subject_id, kind, occurred_on, "
        "effective_on, recorded_at, amount, evidence_ref, supersedes, ingested_at "
        "FROM records ORDER BY record_id"
    )


def statuses(b: Backend) -> list[tuple[Any, ...]]:
    """Every status row (without its serial id), in record and time order."""
    return b.rows(
        "SELECT record_id, status, at, ref, reason, actor, logged_at FROM record_status "
        "ORDER BY record_id, at, status"
    )


def quarantine(b: Backend) -> list[tuple[Any, ...]]:
    """Every quarantined row: line, field, reason."""
    return b.rows("SELECT line, field, reason FROM quarantine ORDER BY line, field, reason")


def quarantine_full(b: Backend) -> list[tuple[Any, ...]]:
    """Every quarantined row with its file, source and redacted raw values."""
    return b.rows(
        "SELECT file_sha256, source, line, field, reason, raw, quarantined_at FROM quarantine "
        "ORDER BY line, field, reason"
    )


def subjects(b: Backend) -> list[tuple[Any, ...]]:
    """Every subject row."""
    return b.rows("SELECT subject_id, kind, region, created_at FROM subjects ORDER BY subject_id")
