"""The lab's scores: the batch plan (built from the compiled policy) over the store's records.

The lab has no scorer of its own. Grades and list criteria on a day are what
:func:`credence.compute.batch.score_batch` says about the store's records as known that day;
the store's tables are copied once into DuckDB and scored there for every day asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from credence.compute import batch
from credence.policy.load import PolicySet
from credence.store.db import Store
from credence.store.reader import KNOWN_BY
from credence.store.schema import RecordStatus, StoredRecord

_RECORD_COLUMNS = (
    "record_id",
    "source",
    "source_record_id",
    "subject_id",
    "kind",
    "occurred_on",
    "effective_on",
    "recorded_at",
    "amount",
    "evidence_ref",
    "ingested_at",
)
_STATUS_COLUMNS = ("record_id", "id", "status", "at", "ref", "logged_at")


def store_source(store: Store) -> batch.BatchSource:
    """The store's records and statuses on an in-memory DuckDB, read as the store reads them."""
    r, s = StoredRecord.__table__.c, RecordStatus.__table__.c
    with store.engine.connect() as con:
        records = con.execute(select(*(r[c] for c in _RECORD_COLUMNS))).all()
        status = con.execute(select(*(s[c] for c in _STATUS_COLUMNS))).all()
    return source_of_rows(records, status)


def source_of_rows(
    records: Sequence[Sequence[Any]], status: Sequence[Sequence[Any]]
) -> batch.BatchSource:
    """A batch source over rows in the store's layout (``records`` and ``record_status``
    columns as :data:`_RECORD_COLUMNS` and :data:`_STATUS_COLUMNS` order them)."""
    rec = pa.table(
        {c: [row[k] for row in records] for k, c in enumerate(_RECORD_COLUMNS)},
        schema=pa.schema(
            [
                *((f.name, f.type) for f in batch.RECORD_SCHEMA),
                ("ingested_at", pa.timestamp("us", tz="UTC")),
            ]
        ),
    )
    st = pa.table(
        {c: [row[k] for row in status] for k, c in enumerate(_STATUS_COLUMNS)},
        schema=pa.schema(
            [
                ("record_id", pa.string()),
                ("id", pa.int64()),
                ("status", pa.string()),
                ("at", pa.timestamp("us", tz="UTC")),
                ("ref", pa.string()),
                ("logged_at", pa.timestamp("us", tz="UTC")),
            ]
        ),
    )
    duck = batch.connect("duckdb")
    return batch.BatchSource(
        duck,
        duck.create_table("lab_records_known", rec, overwrite=True),
        duck.create_table("lab_status_known", st, overwrite=True),
        ingested_column=KNOWN_BY["records"],
        logged_column=KNOWN_BY["record_status"],
        status_order=("at", "id"),
        not_null=frozenset(("record_id", "effective_on", "recorded_at")),
    )


def scores_on(policy: PolicySet, source: batch.BatchSource, day: date) -> pa.Table:
    """Every subject's score, grade and list criteria on ``day``, as known that day."""
    result = batch.score_batch(policy, source, day, day)
    assert result.table is not None
    return result.table


def grades_over(
    policy: PolicySet, source: batch.BatchSource, days: Sequence[date]
) -> list[dict[str, int]]:
    """Subjects per grade on each day (subjects with records only)."""
    out: list[dict[str, int]] = []
    for day in days:
        if policy.version_at(day) is None:
            out.append({})
            continue
        grades: Counter[str] = Counter(scores_on(policy, source, day).column("grade").to_pylist())
        out.append({g: n for g, n in grades.items() if g is not None})
    return out


def criteria_met(table: pa.Table) -> dict[str, set[str]]:
    """List id → subjects meeting its entry criteria in a scores table."""
    ids = table.column("subject_id").to_pylist()
    out: dict[str, set[str]] = {}
    for name in table.column_names:
        if name.startswith("list__"):
            met = table.column(name).to_pylist()
            out[name.removeprefix("list__")] = {s for s, on in zip(ids, met, strict=True) if on}
    return out
