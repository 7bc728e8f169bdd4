"""The exact way back: hand-computed dates and actions, and the promise kept by the evaluator."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from credence.dates import end_of_day
from credence.engine.assessment import Assessment, Goal
from credence.engine.reasons import OPEN_LISTING
from credence.engine.reference import evaluate
from credence.engine.way_back import apply_actions
from credence.policy.load import PolicySet
from credence.records import Record
from tests.builders import SUBJECT, base_policy, policy, rec, rule
from tests.engine.test_timeline import demerit
from tests.strategies import full_policies, records

D = date
DAY = D(2025, 6, 1)


def scheme() -> PolicySet:
    """Base 100 (C < 80 <= B < 120 <= A); fines -10 for a year, a big fine -30 for two years,
    and a volunteering credit of +10, at most two a year."""
    return policy(
        base_policy(
            rules=[rule("fine", -10, "P1Y"), rule("big", -30, "P2Y")],
            credits=[
                rule("volunteer", 10, "P1Y", at_most={"count": 2, "per": "P1Y"}),
            ],
        )
    )


RECORDS = [
    rec("f1", "fine", D(2025, 2, 1)),
    rec("b1", "big", D(2025, 3, 1)),
    rec("f2", "fine", D(2025, 5, 1)),
]


def goal(a: Assessment, kind: str, ident: str) -> Goal:
    assert a.way_back is not None
    return next(g for g in a.way_back.goals if (g.goal, g.id) == (kind, ident))


def test_expiries_and_the_day_each_better_grade_comes_with_no_new_records() -> None:
    a = evaluate(scheme(), RECORDS, DAY, DAY, way_back=True)
    assert (a.score, a.grade) == (50, "C")
    assert a.way_back is not None
    assert [(x.record_id, x.points, x.expires_on) for x in a.way_back.expiries] == [
        ("f1", -10, D(2026, 2, 1)),
        ("f2", -10, D(2026, 5, 1)),
        ("b1", -30, D(2027, 3, 1)),
    ]
    b = goal(a, "grade", "B")
    assert (b.on, b.score_on, b.grade_on) == (D(2027, 3, 1), 100, "B")
    top = goal(a, "grade", "A")
    assert (top.on, top.score_on) == (None, None)  # base 100: A needs credits


def test_the_smallest_set_of_actions_and_their_effect_in_points_and_days() -> None:
    a = evaluate(scheme(), RECORDS, DAY, DAY, way_back=True)
    assert a.way_back is not None
    assert [(x.action, x.record_id, x.points) for x in a.way_back.actions] == [
        ("objection", "b1", 30),
        ("objection", "f1", 10),
        ("objection", "f2", 10),
        ("credit", "way-back.credit.volunteer.1", 10),
        ("credit", "way-back.credit.volunteer.2", 10),
    ]
    b = goal(a, "grade", "B")
    # A successful objection to b1 alone: 80 today, 638 days before 2027-03-01.
    assert (b.sooner_on, b.sooner_score, b.sooner_grade) == (DAY, 80, "B")
    assert [(x.action, x.record_id, x.points, x.days) for x in b.actions] == [
        ("objection", "b1", 30, 638)
    ]
    top = goal(a, "grade", "A")
    # 50 + 30 + 10 + 10 + 10 + 10 = 120: every action is needed, and A comes today.
    assert (top.sooner_on, top.sooner_score, top.sooner_grade) == (DAY, 120, "A")
    assert [x.record_id for x in top.actions] == [
        "b1",
        "f1",
        "f2",
        "way-back.credit.volunteer.1",
        "way-back.credit.volunteer.2",
    ]
    assert all(x.days is None for x in top.actions)  # A never comes without them


def test_leaving_a_stage_on_a_demerit_scale() -> None:
    p = policy(demerit())
    records = [
        rec("m1", "major", D(2025, 3, 1)),
        rec("m2", "major", D(2025, 4, 1)),
        rec("n1", "minor", D(2025, 5, 1)),
    ]
    a = evaluate(p, records, DAY, DAY, way_back=True)
    stage = goal(a, "stage", "warning")
    # 7 points: the minor expires 2026-05-01 (6, still the warning), m1 on 2027-03-01 (3).
    assert (stage.on, stage.score_on, stage.grade_on) == (D(2027, 3, 1), 3, "ok")
    assert (stage.sooner_on, stage.sooner_score) == (DAY, 4)
    assert [(x.record_id, x.points, x.days) for x in stage.actions] == [("m1", 3, 638)]
    ok = goal(a, "grade", "ok")
    # m1 and m2 together leave 1 point (the minor): "ok" today; either alone waits for
    # the minor to expire on 2026-05-01, 304 days sooner.
    assert (ok.on, ok.sooner_on, ok.sooner_score) == (D(2027, 3, 1), DAY, 1)
    assert [(x.record_id, x.days) for x in ok.actions] == [("m1", 304), ("m2", 304)]


def test_repair_ends_a_listing_after_its_probation() -> None:
    doc = base_policy(
        rules=[rule("debt", -30, "P3Y"), rule("paid", 0, None)],
        lists=[
            {
                "id": "debtors",
                "entry": {"record_kinds": ["debt"]},
                "notice_period": "P10D",
                "duration": "P2Y",
                "legal_basis": "Act s.L",
                "appeal_route": "Court",
                "repair": {"record_kinds": ["paid"], "probation": "P30D"},
            }
        ],
    )
    p = policy(doc)
    a = evaluate(p, [rec("d1", "debt", D(2025, 3, 1))], DAY, DAY, way_back=True)
    # Noticed 2025-03-01, listed after ten days for two years: off on 2027-03-11.
    off = goal(a, "list", "debtors")
    assert off.on == D(2027, 3, 11)
    # A successful objection ends it today; that is the one action needed.
    assert off.sooner_on == DAY
    assert [(x.action, x.record_id) for x in off.actions] == [("objection", "d1")]
    assert a.way_back is not None
    repair = next(x for x in a.way_back.actions if x.action == "repair")
    assert (repair.kind, repair.points, repair.on) == ("paid", 0, DAY)
    # Paying today ends it once the 30 days' probation has run: 2025-07-01.
    paid = evaluate(
        p,
        apply_actions([rec("d1", "debt", D(2025, 3, 1))], [repair], SUBJECT),
        D(2025, 7, 1),
        D(2025, 7, 1),
    )
    assert [(e.status, e.removed_on) for e in paid.listings] == [("removed", D(2025, 7, 1))]
    before = evaluate(
        p,
        apply_actions([rec("d1", "debt", D(2025, 3, 1))], [repair], SUBJECT),
        D(2025, 6, 30),
        D(2025, 6, 30),
    )
    assert [e.status for e in before.listings] == ["listed"]


# The property: what the way back promises, the reference evaluator gives.


def _known(records_: list[Record], known: date) -> list[Record]:
    cut = end_of_day(known)
    return [
        dataclasses.replace(r, history=tuple(h for h in r.history if h.at < cut))
        for r in records_
        if r.recorded_at < cut
    ]


def _holds(p: PolicySet, set_under: str, a: Assessment, g: Goal) -> bool:
    """The goal in the terms of the version in force on ``a``'s day (as docs/output.md says)."""
    version = p.version_at(a.as_of)
    assert version is not None
    if g.goal == "grade":
        bands = sorted(version.grades, key=lambda b: b.min, reverse=not version.higher_is_better)
        names = [b.grade for b in bands]
        if g.id in names:
            return names.index(a.grade) >= names.index(g.id)
        then = next(v for v in p.versions if v.version == set_under)
        band = next(b for b in then.grades if b.grade == g.id)
        return a.score >= band.min if then.higher_is_better else a.score <= band.max
    if g.goal == "stage":
        ids = [s.id for s in version.stages.ladder] if version.stages else []
        reached = a.stages.reached if a.stages else None
        return reached is None or g.id not in ids or ids.index(reached) < ids.index(g.id)
    episodes = [e for e in a.listings if e.list_id == g.id]
    if episodes:
        return all(e.status not in OPEN_LISTING for e in episodes)
    return not any(s.list_id == g.id and s.criteria_met for s in a.lists)


@settings(
    max_examples=int(__import__("os").environ.get("WB_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    p=full_policies(max_versions=2),
    recs=records(max_size=6),
    offset=st.integers(0, 900),
    probe=st.floats(0, 1),
)
def test_applying_the_actions_gives_the_promised_grade_on_the_promised_day(
    p: PolicySet, recs: list[Record], offset: int, probe: float
) -> None:
    as_of = p.versions[0].effective_from + timedelta(days=offset)
    mine = _known([dataclasses.replace(r, subject_id=SUBJECT) for r in recs], as_of)
    a = evaluate(p, mine, as_of, as_of, subject_id=SUBJECT, way_back=True)
    assert a.way_back is not None
    for g in a.way_back.goals:
        if g.on is not None:
            then = evaluate(p, mine, g.on, g.on, subject_id=SUBJECT)
            assert (then.score, then.grade) == (g.score_on, g.grade_on)
            assert _holds(p, a.policy_version, then, g)
            # No day before the promised one reaches the goal with no new records.
            span = (g.on - as_of).days
            if span > 0:
                day = as_of + timedelta(days=int(probe * (span - 1)))
                earlier = evaluate(p, mine, day, day, subject_id=SUBJECT)
                assert not _holds(p, a.policy_version, earlier, g), (g, day)
        event(f"goal {g.goal}: {'sooner with actions' if g.sooner_on else 'no sooner way'}")
        if g.sooner_on is not None:
            changed = apply_actions(mine, g.actions, SUBJECT)
            then = evaluate(p, changed, g.sooner_on, g.sooner_on, subject_id=SUBJECT)
            assert (then.score, then.grade) == (g.sooner_score, g.sooner_grade)
            assert _holds(p, a.policy_version, then, g)
            assert g.on is None or g.sooner_on < g.on
