"""Invariants of the reference evaluator, checked on random policies and record sets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from credence.engine.reference import evaluate
from credence.engine.tally import expiry_of
from credence.policy import library
from credence.policy.compiled import compile_policy
from credence.policy.load import PolicySet
from credence.records import Record
from tests.strategies import eval_days, one_record, policies, records

CITY = library.resolve("city-merit")
LICENCE = library.resolve("licence-demerit")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _harmful_everywhere(policy: PolicySet, kind: str) -> bool:
    rules = [v.rule_for(kind) for v in policy.versions]
    return all(r is not None and all(p <= 0 for p in r.point_values()) for r in rules)


@FAST
@given(policies(merit=True), records(), eval_days, st.data())
def test_merit_score_never_rises_when_a_negative_record_is_added(
    policy: PolicySet, recs: list[Record], day: date, data: st.DataObject
) -> None:
    extra = data.draw(one_record("new"))
    assume(_harmful_everywhere(policy, extra.kind))
    before = evaluate(policy, recs, day, day + timedelta(days=400))
    after = evaluate(policy, [*recs, extra], day, day + timedelta(days=400))
    assert after.score <= before.score


@st.composite
def city_records(draw: st.DrawFn, rid: str) -> Record:
    base = draw(one_record(rid))
    kind = draw(st.sampled_from(sorted(CITY.all_kinds)))
    occurred = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 700)))
    shift = occurred - base.occurred_on
    return replace(
        base,
        kind=kind,
        occurred_on=occurred,
        effective_on=base.effective_on + shift,
        recorded_at=base.recorded_at + shift,
        history=tuple(replace(h, at=h.at + shift) for h in base.history),
    )


@FAST
@given(st.lists(st.integers(0, 10**6), max_size=10), st.data())
def test_bundled_merit_score_never_rises_when_a_negative_record_is_added(
    seeds: list[int], data: st.DataObject
) -> None:
    recs = [data.draw(city_records(f"r{i}")) for i in range(len(seeds))]
    extra = data.draw(city_records("new"))
    assume(_harmful_everywhere(CITY, extra.kind))
    day = date(2026, 1, 1) + timedelta(days=data.draw(st.integers(0, 900)))
    before = evaluate(CITY, recs, day, day + timedelta(days=30))
    after = evaluate(CITY, [*recs, extra], day, day + timedelta(days=30))
    assert after.score <= before.score


@FAST
@given(policies(), records(), st.integers(900, 1600), st.data())
def test_a_record_past_its_expiry_never_changes_a_score(
    policy: PolicySet, recs: list[Record], offset: int, data: st.DataObject
) -> None:
    day = date(2025, 1, 1) + timedelta(days=offset)
    expiring = sorted(
        k
        for k in policy.all_kinds
        if all((r := v.rule_for(k)) is None or r.expires_after is not None for v in policy.versions)
    )
    assume(expiring)
    base = data.draw(one_record("old"))
    occurred = day - timedelta(days=data.draw(st.integers(900, 1200)))
    shift = occurred - base.occurred_on
    extra = replace(
        base,
        kind=data.draw(st.sampled_from(expiring)),
        occurred_on=occurred,
        effective_on=base.effective_on + shift,
        recorded_at=base.recorded_at + shift,
        history=tuple(replace(h, at=h.at + shift) for h in base.history),
    )
    for v in compile_policy(policy).versions:
        rule = v.rule(extra.kind)
        expires = expiry_of(extra, rule) if rule is not None else None
        assert rule is None or (expires is not None and expires <= day)
    known = day + timedelta(days=1000)
    assert (
        evaluate(policy, [*recs, extra], day, known).score
        == evaluate(policy, recs, day, known).score
    )


@FAST
@given(policies(), records(), eval_days, st.randoms())
def test_evaluation_is_independent_of_record_order(
    policy: PolicySet, recs: list[Record], day: date, rnd: object
) -> None:
    shuffled = list(recs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    known = day + timedelta(days=200)
    assert evaluate(policy, shuffled, day, known) == evaluate(policy, recs, day, known)


@st.composite
def licence_records(draw: st.DrawFn, n: int) -> list[Record]:
    out = []
    for i in range(n):
        base = draw(one_record(f"r{i:02d}"))
        kind = draw(st.sampled_from(sorted(LICENCE.all_kinds)))
        occurred = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 500)))
        shift = occurred - base.occurred_on
        out.append(
            replace(
                base,
                kind=kind,
                occurred_on=occurred,
                effective_on=base.effective_on + shift,
                recorded_at=base.recorded_at + shift,
                history=tuple(replace(h, at=h.at + shift) for h in base.history),
            )
        )
    return out


@FAST
@given(st.integers(0, 10), st.integers(0, 800), st.data())
def test_staged_policy_is_independent_of_record_order(
    n: int, offset: int, data: st.DataObject
) -> None:
    recs = data.draw(licence_records(n))
    day = date(2026, 1, 1) + timedelta(days=offset)
    shuffled = data.draw(st.permutations(recs))
    assert evaluate(LICENCE, shuffled, day, day) == evaluate(LICENCE, recs, day, day)


def _learned_after(recs: list[Record], day: date) -> list[Record]:
    later = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return [
        replace(r, record_id=f"late-{r.record_id}", recorded_at=max(r.recorded_at, later))
        for r in recs
    ]


@FAST
@given(policies(), records(), records(max_size=5), eval_days)
def test_the_past_as_then_known_is_unchanged_by_later_reports(
    policy: PolicySet, recs: list[Record], later: list[Record], day: date
) -> None:
    late = _learned_after(later, day)
    with_late = evaluate(policy, [*recs, *late], day, day, subject_id="s1")
    assert with_late == evaluate(policy, recs, day, day, subject_id="s1")


@FAST
@given(st.integers(0, 10), st.integers(0, 5), st.integers(0, 800), st.data())
def test_staged_past_as_then_known_is_unchanged_by_later_reports(
    n: int, m: int, offset: int, data: st.DataObject
) -> None:
    recs = data.draw(licence_records(n))
    day = date(2026, 1, 1) + timedelta(days=offset)
    late = _learned_after(data.draw(licence_records(m)), day)
    with_late = evaluate(LICENCE, [*recs, *late], day, day, subject_id="s1")
    assert with_late == evaluate(LICENCE, recs, day, day, subject_id="s1")


@FAST
@given(policies(weighted=False), records(), eval_days)
def test_the_score_is_base_plus_every_visible_contribution(
    policy: PolicySet, recs: list[Record], day: date
) -> None:
    a = evaluate(policy, recs, day, day + timedelta(days=300))
    assert a.base is not None
    visible = sum(c.points for c in a.contributions) + sum(x.points for x in a.adjustments)
    assert a.score == a.base + visible


@FAST
@given(policies(), records(), eval_days)
def test_score_lies_on_the_scale_and_in_its_grade_band(
    policy: PolicySet, recs: list[Record], day: date
) -> None:
    a = evaluate(policy, recs, day, day + timedelta(days=300))
    version = policy.version_at(day)
    assert version is not None
    assert version.scale.min <= a.score <= version.scale.max
    band = next(g for g in version.grades if g.grade == a.grade)
    assert band.min <= a.score <= band.max
