"""Principal reasons: hand-computed rankings, weights, gates, codes, sentences and the linter."""

from __future__ import annotations

from datetime import date

import pytest

from credence.engine.reference import evaluate
from credence.errors import EvaluationError
from credence.policy.lint import lint, vague_phrase
from credence.process import content
from tests.builders import base_policy, policy, rec, rule
from tests.engine.test_timeline import demerit

D = date
DAY = D(2025, 6, 1)


def merit(**extra: object) -> dict[str, object]:
    """Base 100; C below 80, B to 119, A from 120; fines of 10, a big fine of 30."""
    return base_policy(
        rules=[rule("fine", -10, "P1Y"), rule("big", -30, "P2Y"), rule("bonus", 5, None)],
        **extra,
    )


def ranked(outcome: object) -> list[tuple[int, str, int, bool]]:
    return [(r.rank, r.record_ids[0], r.weight, r.decisive) for r in outcome.reasons]  # type: ignore[attr-defined]


def test_reasons_are_ranked_by_weight_then_record_id_and_at_most_four() -> None:
    records = [
        rec("f3", "fine", D(2025, 3, 1)),
        rec("f1", "fine", D(2025, 2, 1)),
        rec("f4", "fine", D(2025, 4, 1)),
        rec("b1", "big", D(2025, 3, 1)),
        rec("f2", "fine", D(2025, 3, 1)),
        rec("p1", "bonus", D(2025, 3, 1)),
    ]
    a = evaluate(policy(merit()), records, DAY, DAY)
    assert (a.score, a.grade) == (35, "C")  # 100 - 30 - 4 * 10 + 5
    [grade] = a.reasons
    assert (grade.outcome, grade.id, grade.threshold, grade.needed) == ("grade", "C", 80, 45)
    assert ranked(grade) == [
        (1, "b1", 30, False),
        (2, "f1", 10, False),
        (3, "f2", 10, False),
        (4, "f3", 10, False),
    ]


def test_a_record_that_alone_lifts_the_subject_across_the_threshold_is_decisive() -> None:
    a = evaluate(policy(merit()), [rec("b1", "big", D(2025, 3, 1))], DAY, DAY)
    assert (a.score, a.grade) == (70, "C")
    assert ranked(a.reasons[0]) == [(1, "b1", 30, True)]
    assert a.reasons[0].needed == 10


def test_a_record_swallowed_by_the_category_cap_moved_nothing_and_is_no_reason() -> None:
    capped = merit(categories=[{"id": "main", "min": -50}])
    records = [
        rec("b1", "big", D(2025, 3, 1)),
        rec("f1", "fine", D(2025, 2, 1)),
        rec("f2", "fine", D(2025, 4, 1)),
        rec("f3", "fine", D(2025, 4, 2)),
        rec("f4", "fine", D(2025, 4, 3)),
    ]
    a = evaluate(policy(capped), records, DAY, DAY)
    # raw -70 capped to -50: without b1 the sum is -40 (10 points back); without a fine, -60,
    # still capped to -50 (nothing back).
    assert a.score == 50
    assert ranked(a.reasons[0]) == [(1, "b1", 10, False)]


def test_the_top_grade_has_no_reasons() -> None:
    a = evaluate(policy(merit()), [rec("p1", "bonus", D(2025, 3, 1))] * 1, DAY, DAY)
    assert a.grade == "B"
    assert [o.outcome for o in a.reasons] == ["grade"]
    assert a.reasons[0].reasons == ()  # below the top only for want of merit, not for a record
    top = [rec(f"p{i}", "bonus", D(2025, 3, 1)) for i in range(4)]
    assert evaluate(policy(merit()), top, DAY, DAY).reasons == ()


def test_stage_and_measure_reasons_on_a_demerit_scale() -> None:
    p = policy(demerit())
    records = [
        rec("m1", "major", D(2025, 3, 1)),
        rec("m2", "major", D(2025, 4, 1)),
        rec("n1", "minor", D(2025, 5, 1)),
    ]
    a = evaluate(p, records, DAY, DAY)
    assert (a.score, a.grade) == (7, "warned")
    assert a.stages is not None and a.stages.reached == "warning"
    by = {(o.outcome, o.id): o for o in a.reasons}
    assert list(by) == [("grade", "warned"), ("stage", "warning"), ("stage", "reminder")]
    # The stage ends below 6 (at 5): 2 points away; either major alone takes it there.
    stage = by[("stage", "warning")]
    assert (stage.threshold, stage.needed) == (5, 2)
    assert ranked(stage) == [(1, "m1", 3, True), (2, "m2", 3, True), (3, "n1", 1, False)]
    # The reminder (from 4) ends at 3: 4 points away, which no record alone gives back.
    reminder = by[("stage", "reminder")]
    assert (reminder.threshold, reminder.needed) == (3, 4)
    assert ranked(reminder) == [(1, "m1", 3, False), (2, "m2", 3, False), (3, "n1", 1, False)]
    grade = by[("grade", "warned")]
    assert (grade.threshold, grade.needed) == (3, 4)
    assert [r.decisive for r in grade.reasons] == [False, False, False]


def test_a_ban_in_force_carries_its_stage_s_reasons() -> None:
    p = policy(demerit())
    records = [rec(f"m{i}", "major", D(2025, 3, i)) for i in range(1, 4)]
    a = evaluate(p, records, D(2025, 4, 1), D(2025, 4, 1))
    assert a.stages is not None and [m.status for m in a.stages.measures] == ["in_force"]
    by = {(o.outcome, o.id): o for o in a.reasons}
    assert by[("measure", "ban")].reasons == by[("stage", "ban")].reasons
    assert by[("stage", "ban")].threshold == 7


def test_a_list_entered_by_records_of_a_kind_has_those_records_as_reasons() -> None:
    doc = merit(
        lists=[
            {
                "id": "debtors",
                "entry": {"record_kinds": ["big"]},
                "duration": "P1Y",
                "legal_basis": "Act s.L",
                "appeal_route": "Court",
                "notice_period": "P10D",
            }
        ]
    )
    records = [rec("b1", "big", D(2025, 3, 1)), rec("f1", "fine", D(2025, 3, 2))]
    a = evaluate(policy(doc), records, DAY, DAY)
    lst = next(o for o in a.reasons if o.outcome == "list")
    assert (lst.id, lst.threshold, lst.needed) == ("debtors", None, None)
    assert ranked(lst) == [(1, "b1", 30, True)]


def test_reason_code_text_and_legal_basis_come_from_the_rule() -> None:
    doc = merit()
    doc["rules"][0].update(reason="Paid a municipal fine late", reason_code="R12")  # type: ignore[index]
    a = evaluate(policy(doc), [rec("f1", "fine", D(2025, 2, 1))], DAY, DAY)
    [r] = a.reasons[0].reasons
    assert (r.code, r.legal_basis, r.points, r.source) == ("R12", "Act s.fine", -10, "agency")
    assert r.text == (
        "Paid a municipal fine late: record f1 of 2025-02-01, reported by agency, -10 points; "
        "it stops counting on 2026-02-01."
    )
    untitled = evaluate(policy(merit()), [rec("f1", "fine", D(2025, 2, 1))], DAY, DAY)
    assert untitled.reasons[0].reasons[0].code == "fine"
    assert untitled.reasons[0].reasons[0].text.startswith("Fine: record f1 of 2025-02-01")


def test_the_linter_refuses_a_reason_that_names_no_conduct() -> None:
    doc = merit()
    doc["rules"][0]["reason"] = "Does not meet our internal standards"  # type: ignore[index]
    p = policy(doc)
    found = [f for f in lint(p) if f.code == "CR011"]
    assert [(f.severity, f.location) for f in found] == [("error", found[0].location)]
    assert "'internal standards'" in found[0].message
    with pytest.raises(EvaluationError, match="CR011"):
        evaluate(p, [], DAY, DAY)
    titled = merit()
    titled["rules"][1]["title"] = "Insufficient score"  # type: ignore[index]
    assert [f.code for f in lint(policy(titled)) if f.code == "CR011"] == ["CR011"]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("insufficient score", "insufficient score"),
        ("Contrary to POLICY", "policy"),
        ("did not meet the criteria", "criteria"),
        ("Unpaid parking fine of 2025", None),
        ("Judgment of the court not complied with", None),
    ],
)
def test_vague_phrases(text: str, phrase: str | None) -> None:
    assert vague_phrase(text) == phrase


def test_a_stage_notice_gives_the_stage_s_principal_reasons() -> None:
    p = policy(demerit())
    records = [
        rec("m1", "major", D(2025, 3, 1)),
        rec("m2", "major", D(2025, 4, 1)),
        rec("n1", "minor", D(2025, 5, 1)),
    ]
    a = evaluate(p, records, DAY, DAY)
    body = content.stage_notice(a, p.versions[0], "warning", D(2025, 6, 15))
    assert [(r["rank"], r["code"], r["record_id"], r["decisive"]) for r in body["reasons"]] == [
        (1, "major", "m1", True),
        (2, "major", "m2", True),
        (3, "minor", "n1", False),
    ]
    assert body["reasons"][0]["legal_basis"] == "Act s.major"
    assert body["reasons"][0]["text"].startswith("Major: record m1 of 2025-03-01")
