"""Hand-computed cases, one group per semantic point of the design."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from credence.engine.reference import evaluate
from credence.errors import EvaluationError
from tests.builders import base_policy, policy, rec, rule

D = date


# --- 1. whether a record counts -------------------------------------------------------------


def test_a_fine_counts_and_lowers_the_score() -> None:
    a = evaluate(policy(base_policy()), [rec("f1", "fine", D(2025, 3, 1))], D(2025, 6, 1))
    assert (a.score, a.grade) == (90, "B")
    [c] = a.contributions
    assert (c.record_id, c.points, c.rule_version, c.expires_on) == ("f1", -10, "1", D(2026, 3, 1))
    assert c.legal_basis == "Act s.fine"


def test_recorded_later_that_day_is_known_that_day() -> None:
    late = datetime(2025, 6, 1, 23, 59, tzinfo=UTC)
    r = rec("f1", "fine", D(2025, 3, 1), recorded=late)
    assert evaluate(policy(base_policy()), [r], D(2025, 6, 1), D(2025, 6, 1)).score == 90
    assert evaluate(policy(base_policy()), [r], D(2025, 5, 31), D(2025, 5, 31)).score == 100


def test_not_known_at_k_does_not_count_but_does_once_known() -> None:
    r = rec("f1", "fine", D(2025, 3, 1), recorded=D(2025, 7, 1))
    p = policy(base_policy())
    early = evaluate(p, [r], D(2025, 6, 1), D(2025, 6, 1))
    assert early.score == 100
    assert early.not_counted == ()  # the past as then known does not mention it
    # the same past day, as known later: the late report counts from the act's date
    assert evaluate(p, [r], D(2025, 6, 1), D(2025, 8, 1)).score == 90


def test_a_decision_not_final_by_k_does_not_count() -> None:
    r = rec("f1", "fine", D(2025, 3, 1), effective=D(2025, 5, 1), recorded=D(2025, 3, 2))
    p = policy(base_policy())
    a = evaluate(p, [r], D(2025, 4, 1), D(2025, 4, 1))
    assert a.score == 100
    assert a.not_counted[0].reason == "not final by 2025-04-01 (final on 2025-05-01)"
    assert evaluate(p, [r], D(2025, 4, 1), D(2025, 5, 1)).score == 90


def test_count_from_effective_waits_for_the_decision_date() -> None:
    r = rec("f1", "fine", D(2025, 3, 1), effective=D(2025, 5, 1))
    occurred = policy(base_policy(count_from="occurred"))
    effective = policy(base_policy(count_from="effective"))
    assert evaluate(occurred, [r], D(2025, 4, 1), D(2025, 6, 1)).score == 90
    a = evaluate(effective, [r], D(2025, 4, 1), D(2025, 6, 1))
    assert a.score == 100
    assert a.not_counted[0].reason == "counts from 2025-05-01 (effective date)"
    assert evaluate(effective, [r], D(2025, 5, 1), D(2025, 6, 1)).score == 90


@pytest.mark.parametrize(
    ("status", "suspends", "score"),
    [
        ("contested", True, 100),
        ("contested", False, 90),
        ("upheld", True, 90),
        ("overturned", True, 100),
        ("revoked", False, 100),
        ("corrected_by", False, 100),
    ],
)
def test_status_as_known_at_k(status: str, suspends: bool, score: int) -> None:
    p = policy(base_policy(contest={"suspends": suspends}))
    r = rec("f1", "fine", D(2025, 3, 1), status=[(status, D(2025, 4, 1))])
    assert evaluate(p, [r], D(2025, 6, 1), D(2025, 6, 1)).score == score
    # before the status change was recorded, the record was simply active
    assert evaluate(p, [r], D(2025, 3, 15), D(2025, 3, 15)).score == 90


def test_contested_then_upheld_counts_again() -> None:
    p = policy(base_policy())
    r = rec(
        "f1",
        "fine",
        D(2025, 3, 1),
        status=[("contested", D(2025, 4, 1)), ("upheld", D(2025, 5, 1))],
    )
    assert evaluate(p, [r], D(2025, 4, 15), D(2025, 4, 15)).score == 100
    assert evaluate(p, [r], D(2025, 5, 1), D(2025, 5, 1)).score == 90


def test_expiry_day_is_the_first_day_it_no_longer_counts() -> None:
    p = policy(base_policy())
    r = rec("f1", "fine", D(2025, 3, 1))
    assert evaluate(p, [r], D(2026, 2, 28), D(2026, 2, 28)).score == 90
    a = evaluate(p, [r], D(2026, 3, 1), D(2026, 3, 1))
    assert a.score == 100
    assert a.not_counted[0].reason == "expired on 2026-03-01"


def test_expiry_from_effective_date() -> None:
    p = policy(base_policy(rules=[rule("fine", -10, "P6M", expiry_from="effective")]))
    r = rec("f1", "fine", D(2025, 1, 31), effective=D(2025, 2, 28))
    # 2025-02-28 + 6 months = 2025-08-28
    assert evaluate(p, [r], D(2025, 8, 27), D(2025, 9, 1)).score == 90
    assert evaluate(p, [r], D(2025, 8, 28), D(2025, 9, 1)).score == 100


def test_a_kind_without_rule_is_listed_as_not_counted() -> None:
    a = evaluate(policy(base_policy()), [rec("x1", "unknown.kind", D(2025, 3, 1))], D(2025, 6, 1))
    assert a.score == 100
    assert "no rule for 'unknown.kind'" in a.not_counted[0].reason


# --- 2. rule version by act date; lex mitior ------------------------------------------------


def _two_versions(later_points: int, later_expiry: str = "P1Y") -> object:
    v1 = base_policy()
    v2 = base_policy(
        version="2",
        effective_from=D(2025, 7, 1),
        rules=[rule("fine", later_points, later_expiry), rule("bonus", 5, None)],
    )
    return policy(v1, v2)


def test_harsher_later_version_does_not_apply_to_earlier_acts() -> None:
    p = _two_versions(-30)
    a = evaluate(p, [rec("f1", "fine", D(2025, 3, 1))], D(2025, 8, 1), D(2025, 8, 1))
    assert a.score == 90
    assert (a.contributions[0].rule_version, a.contributions[0].lex_mitior) == ("1", False)
    assert a.policy_version == "2"
    # an act after the change is valued by the new version
    b = evaluate(p, [rec("f2", "fine", D(2025, 7, 2))], D(2025, 8, 1), D(2025, 8, 1))
    assert b.score == 70


def test_more_lenient_later_version_applies() -> None:
    p = _two_versions(-4)
    a = evaluate(p, [rec("f1", "fine", D(2025, 3, 1))], D(2025, 8, 1), D(2025, 8, 1))
    assert a.score == 96
    assert (a.contributions[0].rule_version, a.contributions[0].lex_mitior) == ("2", True)
    # before the lenient version was in force, the old value held
    assert evaluate(p, [rec("f1", "fine", D(2025, 3, 1))], D(2025, 6, 30)).score == 90


def test_a_shorter_later_expiry_is_more_lenient() -> None:
    p = _two_versions(-10, "P3M")
    # under v2 the fine of 2025-03-01 expired on 2025-06-01, so at 2025-08-01 it no longer counts
    a = evaluate(p, [rec("f1", "fine", D(2025, 3, 1))], D(2025, 8, 1), D(2025, 8, 1))
    assert a.score == 100
    assert a.not_counted[0].reason == "expired on 2025-06-01"


def test_a_kind_abolished_later_stops_counting() -> None:
    v1 = base_policy()
    v2 = base_policy(version="2", effective_from=D(2025, 7, 1), rules=[rule("bonus", 5, None)])
    p = policy(v1, v2)
    a = evaluate(p, [rec("f1", "fine", D(2025, 3, 1))], D(2025, 8, 1), D(2025, 8, 1))
    assert a.score == 100
    assert "no longer scores 'fine'" in a.not_counted[0].reason


def test_an_act_before_the_first_version_is_never_punished() -> None:
    a = evaluate(policy(base_policy()), [rec("f1", "fine", D(2024, 12, 31))], D(2025, 3, 1))
    assert a.score == 100
    assert "no rule for 'fine' was in force on 2024-12-31" in a.not_counted[0].reason


def test_policy_not_in_force_on_as_of_is_an_error() -> None:
    with pytest.raises(EvaluationError, match="not in force on 2024-06-01"):
        evaluate(policy(base_policy()), [], D(2024, 6, 1))


# --- same-act groups and amount bands -------------------------------------------------------


def test_same_act_only_the_heaviest_counts() -> None:
    p = policy(
        base_policy(
            rules=[
                rule("a", -10, "P1Y", same_act_group="g"),
                rule("b", -25, "P1Y", same_act_group="g"),
                rule("c", -7, "P1Y"),
            ]
        )
    )
    records = [
        rec("r1", "a", D(2025, 3, 1)),
        rec("r2", "b", D(2025, 3, 1)),
        rec("r3", "c", D(2025, 3, 1)),
    ]
    a = evaluate(p, records, D(2025, 6, 1))
    assert a.score == 100 - 25 - 7
    assert sorted(a.counted_ids()) == ["r2", "r3"]
    assert a.not_counted[0].record_id == "r1"
    # acts on different days are different acts
    other = [rec("r1", "a", D(2025, 3, 1)), rec("r2", "b", D(2025, 3, 2))]
    assert evaluate(p, other, D(2025, 6, 1)).score == 65


def test_same_act_tie_keeps_the_lower_record_id() -> None:
    p = policy(base_policy(rules=[rule("a", -10, "P1Y", same_act_group="g")]))
    a = evaluate(p, [rec("r9", "a", D(2025, 3, 1)), rec("r2", "a", D(2025, 3, 1))], D(2025, 6, 1))
    assert a.counted_ids() == ["r2"]


def test_amount_bands() -> None:
    bands = {"bands": [{"at_least": 0, "points": -5}, {"at_least": 1000, "points": -20}]}
    p = policy(base_policy(rules=[rule("debt", bands, "P2Y")]))
    assert (
        evaluate(p, [rec("d", "debt", D(2025, 3, 1), amount="999.99")], D(2025, 6, 1)).score == 95
    )
    assert evaluate(p, [rec("d", "debt", D(2025, 3, 1), amount=1000)], D(2025, 6, 1)).score == 80
    missing = evaluate(p, [rec("d", "debt", D(2025, 3, 1))], D(2025, 6, 1))
    assert (missing.score, missing.not_counted[0].reason) == (
        100,
        "banded rule: the record has no amount",
    )
    below = evaluate(p, [rec("d", "debt", D(2025, 3, 1), amount=-1)], D(2025, 6, 1))
    assert below.not_counted[0].reason == "banded rule: amount -1 is below the lowest band"


def test_points_per_unit_with_a_cap() -> None:
    # -5 per whole month of arrears, at most -40 for one record
    per_month = {"each": -5, "per": 1, "cap": -40}
    p = policy(base_policy(rules=[rule("arrears", per_month, "P2Y")]))

    def score(amount: object) -> int:
        a = evaluate(p, [rec("d", "arrears", D(2025, 3, 1), amount=amount)], D(2025, 6, 1))
        return a.score

    assert score("0.5") == 100  # below one unit: 0 points
    assert score(3) == 85
    assert score("3.99") == 85  # whole units only
    assert score(8) == 60
    assert score(20) == 60  # held to the cap
    missing = evaluate(p, [rec("d", "arrears", D(2025, 3, 1))], D(2025, 6, 1))
    assert (missing.score, missing.not_counted[0].reason) == (
        100,
        "per-unit rule: the record has no amount",
    )
    half_month = {"each": 2, "per": "0.5"}
    q = policy(base_policy(rules=[rule("service", half_month, None)]))
    a = evaluate(q, [rec("s", "service", D(2025, 3, 1), amount="7.25")], D(2025, 6, 1))
    assert a.score == 128  # 14 whole half-months, no cap


# --- 3. caps and the scale ------------------------------------------------------------------


def test_category_cap_and_scale_clamp_are_explained() -> None:
    p = policy(
        base_policy(
            categories=[{"id": "main", "min": -25}, {"id": "extra"}],
            rules=[rule("fine", -10, "P1Y"), rule("big", -200, "P1Y", category="extra")],
        )
    )
    fines = [rec(f"f{i}", "fine", D(2025, 3, i + 1)) for i in range(4)]
    a = evaluate(p, fines, D(2025, 6, 1))
    assert a.score == 75
    assert a.category_totals() == {"main": -25, "extra": 0}
    [cap] = a.adjustments
    assert (cap.type, cap.points, cap.category) == ("category_cap", 15, "main")
    b = evaluate(p, [*fines, rec("b1", "big", D(2025, 3, 1))], D(2025, 6, 1))
    assert b.score == 0
    assert [(x.type, x.points) for x in b.adjustments] == [
        ("category_cap", 15),
        ("scale_clamp", 125),
    ]
    assert b.base is not None
    assert (
        b.base + sum(c.points for c in b.contributions) + sum(x.points for x in b.adjustments) == 0
    )


def test_weighted_model_by_hand() -> None:
    doc = base_policy(
        model="weighted",
        scale={"min": 350, "max": 950},
        grades=[
            {"grade": "poor", "min": 350, "max": 549},
            {"grade": "fair", "min": 550, "max": 699},
            {"grade": "good", "min": 700, "max": 950},
        ],
        categories=[
            {"id": "payment", "weight": 3, "min": -100, "max": 100, "base": 0},
            {"id": "history", "weight": 1, "min": 0, "max": 50, "base": 25},
        ],
        rules=[
            rule("late", -40, "P2Y", category="payment"),
            rule("tenure", 10, None, category="history"),
        ],
    )
    p = policy(doc)
    # payment level -40 -> (−40+100)/200 = 0.3; history 35 -> 35/50 = 0.7
    # (3*0.3 + 1*0.7) / 4 = 0.4; 350 + 600*0.4 = 590
    a = evaluate(
        p, [rec("l", "late", D(2025, 3, 1)), rec("t", "tenure", D(2025, 3, 1))], D(2025, 6, 1)
    )
    assert (a.score, a.grade) == (590, "fair")
    assert [(c.category, c.total, c.normalised) for c in a.categories] == [
        ("payment", -40, "0.3000"),
        ("history", 35, "0.7000"),
    ]
    # no records: payment 0.5, history 0.5 -> 650
    assert evaluate(p, [], D(2025, 6, 1)).score == 650


# --- 4. grades ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fines", "grade"), [(2, "B"), (3, "C")])
def test_grade_boundaries(fines: int, grade: str) -> None:
    p = policy(base_policy(rules=[rule("fine", -10, "P1Y")]))
    records = [rec(f"f{i}", "fine", D(2025, 3, i + 1)) for i in range(fines)]
    # 80 is the lowest B, 70 is a C
    assert evaluate(p, records, D(2025, 6, 1)).grade == grade


# --- demerit direction ----------------------------------------------------------------------


def _demerit(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "direction": "higher_is_worse",
        "scale": {"base": 0, "min": 0, "max": 20},
        "grades": [
            {"grade": "ok", "min": 0, "max": 3},
            {"grade": "warned", "min": 4, "max": 7},
            {"grade": "banned", "min": 8, "max": 20},
        ],
        "rules": [rule("minor", 1, "P1Y"), rule("major", 3, "P2Y"), rule("course", -2, "P1Y")],
    }
    fields.update(overrides)
    return base_policy(**fields)


def test_demerit_points_add_and_lex_mitior_prefers_fewer_points() -> None:
    v1 = _demerit()
    v2 = _demerit(
        version="2",
        effective_from=D(2025, 7, 1),
        rules=[rule("minor", 1, "P1Y"), rule("major", 2, "P2Y"), rule("course", -2, "P1Y")],
    )
    p = policy(v1, v2)
    records = [rec("m1", "major", D(2025, 3, 1)), rec("m2", "minor", D(2025, 3, 2))]
    assert evaluate(p, records, D(2025, 6, 1)).score == 4
    after = evaluate(p, records, D(2025, 8, 1))
    assert (after.score, after.grade) == (3, "ok")
    assert after.contributions[0].lex_mitior is True


def test_demerit_score_cannot_fall_below_zero() -> None:
    p = policy(_demerit())
    a = evaluate(p, [rec("c", "course", D(2025, 3, 1))], D(2025, 6, 1))
    assert a.score == 0
    assert [(x.type, x.points) for x in a.adjustments] == [("scale_clamp", 2)]


# --- 5. list criteria -----------------------------------------------------------------------


def test_list_criteria_by_grade_score_and_kind() -> None:
    p = policy(
        base_policy(
            lists=[
                {
                    "id": "low",
                    "type": "blacklist",
                    "entry": {"grades": ["C"]},
                    "notice_period": "P30D",
                    "duration": "P1Y",
                    "legal_basis": "Act s.9",
                    "appeal_route": "court",
                },
                {
                    "id": "top",
                    "type": "redlist",
                    "entry": {"score_at_least": 105},
                    "legal_basis": "Act s.10",
                },
                {
                    "id": "fined",
                    "type": "blacklist",
                    "entry": {"record_kinds": ["fine"]},
                    "notice_period": "P30D",
                    "duration": "P1Y",
                    "legal_basis": "Act s.11",
                    "appeal_route": "court",
                },
            ]
        )
    )
    a = evaluate(p, [rec("f1", "fine", D(2025, 3, 1))], D(2025, 6, 1))
    met = {s.list_id: (s.criteria_met, s.evidence) for s in a.lists}
    assert met == {"low": (False, ()), "top": (False, ()), "fined": (True, ("f1",))}
    b = evaluate(p, [rec("b1", "bonus", D(2025, 3, 1))], D(2025, 6, 1))
    assert [s.list_id for s in b.lists if s.criteria_met] == ["top"]


def test_repair_ends_a_listing_after_probation() -> None:
    p = policy(
        base_policy(
            rules=[rule("debt", -10, "P2Y"), rule("paid", 0, None)],
            lists=[
                {
                    "id": "debtors",
                    "type": "blacklist",
                    "entry": {"record_kinds": ["debt"]},
                    "notice_period": "P30D",
                    "duration": "P2Y",
                    "legal_basis": "Act s.9",
                    "appeal_route": "court",
                    "repair": {"record_kinds": ["paid"], "probation": "P3M"},
                },
            ],
        )
    )
    records = [rec("d1", "debt", D(2025, 3, 1)), rec("p1", "paid", D(2025, 5, 1))]
    during = evaluate(p, records, D(2025, 7, 31))
    assert [(s.criteria_met, s.repaired_by) for s in during.lists] == [(True, None)]
    after = evaluate(p, records, D(2025, 8, 1))
    assert [(s.criteria_met, s.evidence, s.repaired_by) for s in after.lists] == [
        (False, ("d1",), "p1")
    ]
    # a new debt after the payment puts the subject back on the list
    again = evaluate(p, [*records, rec("d2", "debt", D(2025, 9, 1))], D(2025, 10, 1))
    assert [s.criteria_met for s in again.lists] == [True]


# --- refusals --------------------------------------------------------------------------------


def test_known_at_before_as_of_is_refused() -> None:
    with pytest.raises(EvaluationError, match="before as_of"):
        evaluate(policy(base_policy()), [], D(2025, 6, 1), D(2025, 5, 1))


def test_another_subjects_records_are_refused() -> None:
    records = [rec("f1", "fine", D(2025, 3, 1)), rec("f2", "fine", D(2025, 3, 1), subject="other")]
    with pytest.raises(EvaluationError, match="only by their own records"):
        evaluate(policy(base_policy()), records, D(2025, 6, 1))


def test_a_policy_reading_family_records_is_refused() -> None:
    p = policy(base_policy(rules=[rule("fine", -10, "P1Y", scope="family")]))
    with pytest.raises(EvaluationError, match="CR004"):
        evaluate(p, [], D(2025, 6, 1))


def test_a_negative_rule_without_expiry_is_refused() -> None:
    p = policy(base_policy(rules=[rule("fine", -10, None)]))
    with pytest.raises(EvaluationError, match="CR002"):
        evaluate(p, [], D(2025, 6, 1))


# --- changes ahead --------------------------------------------------------------------------


def test_changes_ahead_list_each_expiry_with_the_resulting_score() -> None:
    p = _two_versions(-10)
    records = [rec("f1", "fine", D(2025, 3, 1)), rec("f2", "fine", D(2025, 4, 15))]
    a = evaluate(p, records, D(2025, 6, 1), D(2025, 6, 1))
    assert [(c.on, c.reason, c.score, c.grade) for c in a.changes_ahead] == [
        (D(2025, 7, 1), "2 version in force", 80, "B"),
        (D(2026, 3, 1), "f1 expires", 90, "B"),
        (D(2026, 4, 15), "f2 expires", 100, "B"),
    ]
