"""The batch plan on Spark (local mode, a small sample) equals the reference evaluator."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.compute.test_batch_support import (
    DIFFERENTIAL,
    batch_policies,
    comparable,
    population,
    reference_rows,
)
from tests.strategies import eval_days

if importlib.util.find_spec("pyspark") is None:
    if os.environ.get("CI") == "true":
        pytest.fail("pyspark is required under CI (install the project's spark extra)")
    pytest.skip("pyspark is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from credence.compute.batch import connect, spark_session

    # Two shuffle partitions: the samples are tiny and the machine has two cores.
    os.environ.setdefault("CREDENCE_SPARK_PARTITIONS", "2")
    session = spark_session("local[2]")
    yield connect("spark")
    session.stop()


@settings(DIFFERENTIAL, max_examples=5)
@given(
    batch_policies(), population(max_subjects=4, max_records=8), eval_days, st.sampled_from([0, 30])
)
def test_spark_equals_reference(spark: Any, policy: Any, recs: Any, as_of: Any, lag: int) -> None:
    from credence.compute.batch import score_batch, source_from_records

    known = as_of + timedelta(days=lag)
    if policy.version_at(as_of) is None:
        return
    result = score_batch(policy, source_from_records(spark, recs, "diff"), as_of, known)
    assert result.table is not None
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = {k: comparable(v) for k, v in reference_rows(policy, recs, as_of, known).items()}
    assert got == want
