"""Each rule is stated once in the compiled policy; the reference evaluator and the Ibis plan
apply that one statement (to Python values and to columns), and these are its exact cases."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.compute.batch_compile import IBIS_OPS
from credence.policy.compiled import (
    PYTHON,
    change_days,
    compile_policy,
    entry_met,
    round_half_up,
    same_act_order,
)
from credence.policy.load import PolicySet
from credence.policy.model import ListEntryCriteria, PolicyVersion
from tests.strategies import full_policies, version_dicts


def _weighted() -> PolicySet:
    doc = {
        "id": "w",
        "version": "1",
        "effective_from": "2026-01-01",
        "model": "weighted",
        "direction": "higher_is_better",
        "scale": {"min": 0, "max": 1000},
        "categories": [
            {"id": "a", "min": 0, "max": 3, "weight": 2, "base": 3},
            {"id": "b", "min": -5, "max": 5, "weight": 1, "base": 0},
        ],
        "grades": [
            {"grade": "C", "min": 0, "max": 399},
            {"grade": "B", "min": 400, "max": 699},
            {"grade": "A", "min": 700, "max": 1000},
        ],
        "rules": [],
    }
    return PolicySet.of(PolicyVersion.model_validate(doc))


def test_weighted_score_by_hand() -> None:
    # levels a=1 (of 0..3), b=0 (of -5..5): 1000 * (2*(1/3) + 1*(5/10)) / 3 = 388.88... -> 389
    v = compile_policy(_weighted()).versions[0]
    assert v.weighting == (30, 3, (20, 3))
    assert v.combine({"a": 1, "b": 0}) == 389
    assert v.grade_for(389) == "C"
    assert v.grade_for(400) == "B"
    assert v.grade_for(1000) == "A"
    # halves round up: a=3, b=-5 gives 1000 * 2 / 3 = 666.67 -> 667; a=0, b=0 gives 166.67
    assert v.combine({"a": 3, "b": -5}) == 667
    assert v.combine({"a": 0, "b": 0}) == 167


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_weighted_integer_formula_equals_the_exact_fraction(data: st.DataObject) -> None:
    doc = data.draw(version_dicts(weighted=True))
    v = compile_policy(PolicySet.of(PolicyVersion.model_validate(doc))).versions[0]
    levels = {}
    for c in v.caps:
        assert c.min is not None and c.max is not None
        levels[c.id] = data.draw(st.integers(c.min, c.max))
    weighted = sum(
        (c.weight or 0) * Fraction(levels[c.id] - (c.min or 0), (c.max or 0) - (c.min or 0))
        for c in v.caps
    )
    total = sum(c.weight or 0 for c in v.caps)
    span = v.scale_max - v.scale_min
    assert v.combine(levels) == v.scale_min + round_half_up(span * weighted / total)


@settings(max_examples=80, deadline=None)
@given(full_policies())
def test_the_compiled_grade_is_the_authored_band(policy: PolicySet) -> None:
    for v in compile_policy(policy).versions:
        for score in range(v.scale_min, v.scale_max + 1):
            assert v.grade_for(score) == v.source.grade_for(score)


def test_same_act_order_heaviest_first_then_lowest_id() -> None:
    rows = [(-3, "r2"), (5, "r3"), (-5, "r4"), (1, "r1")]
    ranked = sorted(rows, key=lambda r: same_act_order(r[0], r[1]))
    assert ranked == [(5, "r3"), (-5, "r4"), (-3, "r2"), (1, "r1")]


def test_same_act_order_on_columns_is_the_same_order() -> None:
    t = ibis.memtable({"pts": [-3, 5, -5, 1], "rid": ["r2", "r3", "r4", "r1"]})
    ranked = t.order_by(list(same_act_order(t.pts, t.rid, IBIS_OPS))).to_pyarrow()
    assert ranked.column("rid").to_pylist() == ["r3", "r4", "r2", "r1"]


def test_entry_criteria_all_must_hold() -> None:
    crit = ListEntryCriteria.model_validate({"grades": ["D"], "score_at_most": 300})
    assert entry_met(crit, "D", 300, False) is True
    assert entry_met(crit, "D", 301, False) is False
    assert entry_met(crit, "C", 100, False) is False
    kinds = ListEntryCriteria.model_validate({"record_kinds": ["court.x"]})
    assert entry_met(kinds, "A", 900, True) is True
    assert entry_met(kinds, "A", 900, False) is False
    t = ibis.memtable({"g": ["D", "D", "C"], "s": [300, 301, 100]})
    met = t.select(m=entry_met(crit, t.g, t.s, None, IBIS_OPS)).to_pyarrow()
    assert met.column("m").to_pylist() == [True, False, False]


def test_change_days_and_the_rules_that_value_a_record() -> None:
    policy = compile_policy(_two_versions())
    v1, v2 = policy.versions
    assert [r.source.expires_after for r in policy.valuing_rules("k1")] == [
        v1.rule("k1").source.expires_after,  # type: ignore[union-attr]
        v2.rule("k1").source.expires_after,  # type: ignore[union-attr]
    ]
    stretch = v1.rule("k1")
    assert stretch is not None
    assert policy.valuing_rules("k1", stretch, v2) == (stretch, v2.rule("k1"))
    day = date(2026, 3, 1)
    assert change_days(day, day + timedelta(1), [day + timedelta(2)], [None]) == [
        day,
        day + timedelta(1),
        day + timedelta(2),
        None,
    ]


def test_limit_window_is_the_period_before_the_credit() -> None:
    doc = _weighted_credit_doc()
    policy = compile_policy(PolicySet.of(PolicyVersion.model_validate(doc)))
    credit = policy.versions[0].rule("k9")
    assert credit is not None
    assert credit.limit_window(date(2026, 6, 30)) == (date(2025, 6, 30), date(2026, 6, 30))


def test_python_ops_floor_division_and_bounds() -> None:
    assert PYTHON.floor_div(7, 2) == 3
    assert PYTHON.greatest(-4, 0) == 0
    assert PYTHON.least(12, 10) == 10
    assert PYTHON.first([(False, "a"), (True, "b")], "c") == "b"


def _base_doc() -> dict[str, object]:
    return {
        "id": "p",
        "version": "1",
        "effective_from": "2026-01-01",
        "model": "additive",
        "direction": "higher_is_better",
        "scale": {"min": 0, "max": 100, "base": 50},
        "categories": [{"id": "c", "min": -50, "max": 50}],
        "grades": [{"grade": "B", "min": 0, "max": 49}, {"grade": "A", "min": 50, "max": 100}],
        "rules": [
            {
                "kind": "k1",
                "category": "c",
                "points": -5,
                "expires_after": "P1Y",
                "legal_basis": "Act 1",
                "data_category": "administrative",
            }
        ],
    }


def _two_versions() -> PolicySet:
    first = _base_doc()
    second = dict(first, version="2", effective_from="2027-01-01")
    second["rules"] = [dict(first["rules"][0], points=-3, expires_after="P6M")]  # type: ignore[index]
    return PolicySet.of(*(PolicyVersion.model_validate(d) for d in (first, second)))


def _weighted_credit_doc() -> dict[str, object]:
    doc = _base_doc()
    doc["credits"] = [
        {
            "kind": "k9",
            "category": "c",
            "points": 4,
            "expires_after": "P1Y",
            "legal_basis": "Act 2",
            "data_category": "administrative",
            "at_most": {"count": 1, "per": "P1Y"},
        }
    ]
    return doc
