"""The batch plan inside PostgreSQL equals the reference evaluator (and reads the store's tables).

PostgreSQL runs at 127.0.0.1:5432 (or ``CREDENCE_TEST_POSTGRES_URL``). Without a server these
tests skip on a developer's machine and fail under CI, where the server must be there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.compute.batch import (
    BatchSource,
    connect,
    records_to_arrow,
    score_batch,
    source_from_records,
    source_from_store,
)
from credence.compute.incremental import export_result, score_incremental
from credence.policy.load import load_policy
from credence.records import Record, Status, StatusChange
from tests.compute.test_batch_support import (
    DIFFERENTIAL,
    batch_policies,
    comparable,
    population,
    reference_rows,
)
from tests.strategies import eval_days

URL = os.environ.get("CREDENCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = f"credence_batch_{os.getpid()}"


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    try:
        con = connect("postgres", url=URL)
    except Exception as exc:  # any connection failure: the server is not there
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI and unreachable at {URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {URL}: {exc}")
    # A private schema: other test runs share the database.
    con.raw_sql(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
    con.raw_sql(f'SET search_path TO "{SCHEMA}"')
    yield con
    con.raw_sql(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    con.disconnect()


@settings(DIFFERENTIAL, max_examples=40)
@given(batch_policies(), population(), eval_days, st.sampled_from([0, 0, 15, 400]))
def test_postgres_equals_reference(pg: Any, policy: Any, recs: Any, as_of: Any, lag: int) -> None:
    known = as_of + timedelta(days=lag)
    if policy.version_at(as_of) is None:
        return
    result = score_batch(policy, source_from_records(pg, recs, "diff"), as_of, known)
    assert result.table is not None
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = {k: comparable(v) for k, v in reference_rows(policy, recs, as_of, known, pg).items()}
    assert got == want


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_store_tables_respect_ingestion_and_status_log_times(pg: Any, tmp_path: Path) -> None:
    """Over the store's layout, what was ingested or logged after K is unknown at K."""
    policy = load_policy("src/credence/policy/library/city-merit.yaml")
    day = date(2026, 2, 1)
    recs = [
        Record("court:1", "court", "1", "s1", "legal.judgment_unfulfilled", day, day, _at(day)),
        Record("bank:1", "bank", "1", "s1", "financial.loan_default", day, day, _at(day)),
        Record(
            "tax:1",
            "tax_office",
            "1",
            "s2",
            "financial.tax_arrears",
            day,
            day,
            _at(day),
            amount=Decimal("1500"),
            history=(StatusChange(Status.REVOKED, _at(date(2026, 3, 1))),),
        ),
    ]
    records, status = records_to_arrow(recs)
    # The store's columns: ingested_at on records; id, logged_at on statuses.
    ingested = [_at(day), _at(date(2026, 5, 1)), _at(day)]
    records = records.append_column("ingested_at", pa.array(ingested, pa.timestamp("us", "UTC")))
    status = status.drop_columns(["seq"])
    status = status.append_column("id", pa.array([1], pa.int64()))
    status = status.append_column(
        "logged_at", pa.array([_at(date(2026, 3, 20))], pa.timestamp("us", "UTC"))
    )
    pg.create_table("records", records, overwrite=True)
    pg.create_table("record_status", status, overwrite=True)
    source = source_from_store(pg, database=SCHEMA)
    assert isinstance(source, BatchSource)

    def scores(known: date) -> dict[str, int]:
        result = score_batch(policy, source, date(2026, 3, 10), known)
        assert result.table is not None
        return {r["subject_id"]: r["score"] for r in result.table.to_pylist()}

    # 10 March, known 10 March: the loan default was ingested only in May; the revocation of
    # s2's tax arrears took effect on 1 March but was logged on 20 March.
    assert scores(date(2026, 3, 10)) == {"s1": 900, "s2": 970}
    assert scores(date(2026, 6, 1)) == {"s1": 850, "s2": 1000}

    # Nightly over the store: what was ingested or logged since the last run is rescored even
    # though no date in the record itself falls in the interval.
    state = tmp_path / "state"
    nights = [
        (date(2026, 3, 10), 2, {"s1": 900, "s2": 970}),
        (date(2026, 3, 11), 0, {"s1": 900, "s2": 970}),
        (date(2026, 3, 21), 1, {"s1": 900, "s2": 1000}),  # the revocation, logged 20 March
        # The default, ingested 1 May; the window starts the day before the last run (20 March),
        # so the revocation logged that day is looked at again.
        (date(2026, 5, 2), 2, {"s1": 850, "s2": 1000}),
    ]
    for night, rescored, expected in nights:
        inc = score_incremental(policy, source, night, night, state)
        assert inc.rescored == rescored, night
        rows = pq.read_table(str(export_result(state, tmp_path / "n.parquet"))).to_pylist()
        assert {r["subject_id"]: r["score"] for r in rows} == expected, night
        assert scores(night) == expected
