"""The compiled policy is the one meaning: random policies using the whole language give the
same result through the reference evaluator and through the DuckDB batch plan."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from credence.compute.batch import connect, score_batch, source_from_records
from credence.policy.compiled import compile_policy
from credence.policy.load import PolicySet
from credence.records import Record
from tests.compute.test_batch_support import DIFFERENTIAL, comparable, reference_rows
from tests.strategies import eval_days, full_policies, full_population


@settings(DIFFERENTIAL, max_examples=60)
@given(full_policies(), full_population(), eval_days, st.sampled_from([0, 0, 20, 400]))
def test_random_policies_score_alike_in_the_reference_and_on_duckdb(
    policy: PolicySet, recs: list[Record], as_of: date, lag: int
) -> None:
    if policy.version_at(as_of) is None:
        return
    known = as_of + timedelta(days=lag)
    con = connect("duckdb")
    result = score_batch(policy, source_from_records(con, recs), as_of, known)
    assert result.table is not None
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = {k: comparable(v) for k, v in reference_rows(policy, recs, as_of, known, con).items()}
    assert got == want


@settings(max_examples=80, deadline=None)
@given(full_policies())
def test_every_act_day_has_exactly_one_stretch_per_ruled_kind(policy: PolicySet) -> None:
    compiled = compile_policy(policy)
    for kind in compiled.kinds:
        stretches = [s for s in compiled.stretches if s.kind == kind]
        for v in compiled.versions:
            for day in (v.effective_from, v.effective_from + timedelta(days=29)):
                holding = [
                    s for s in stretches if s.begin <= day and (s.until is None or day < s.until)
                ]
                rule = compiled.rule_then(kind, day)
                assert len(holding) == (0 if rule is None else 1)
                assert rule is None or holding[0].rule.source == rule.source
