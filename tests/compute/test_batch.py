"""The batch evaluator on DuckDB equals the reference evaluator, subject by subject."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from credence.compute.batch import connect, score_batch, source_from_records
from tests.compute.test_batch_support import (
    DIFFERENTIAL,
    batch_policies,
    comparable,
    population,
    reference_rows,
)
from tests.strategies import eval_days

KNOWN_LAG = st.sampled_from([0, 0, 0, 15, 400])


@settings(DIFFERENTIAL, max_examples=80)
@given(batch_policies(), population(), eval_days, KNOWN_LAG)
def test_duckdb_equals_reference(policy, recs, as_of, lag) -> None:
    known = as_of + timedelta(days=lag)
    if policy.version_at(as_of) is None:
        return
    con = connect("duckdb")
    result = score_batch(policy, source_from_records(con, recs), as_of, known)
    assert result.table is not None
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = {k: comparable(v) for k, v in reference_rows(policy, recs, as_of, known, con).items()}
    assert got == want
