"""The API's assessment and notice bodies carry the principal reasons and the way back.

The world's scheme (tests/process/data/scheme.yaml) is a demerit scale; Alice has two majors (3)
and three minors (1): 9 points on 2026-06-02, grade ``high`` (8-30) and the ban stage (8).
"""

from __future__ import annotations

from typing import Any

from tests.api.world import World


def _ranked(outcome: dict[str, Any]) -> list[tuple[str, str, int, bool]]:
    return [(r["code"], r["record_id"], r["weight"], r["decisive"]) for r in outcome["reasons"]]


def test_the_assessment_gives_each_adverse_outcome_with_its_reasons(sqlite_world: World) -> None:
    a = sqlite_world.call("alice", "GET", "/me/assessment").json()
    assert (a["as_of"], a["score"], a["grade"]) == ("2026-06-02", 9, "high")
    outcomes = [(o["outcome"], o["id"], o["threshold"], o["needed"]) for o in a["reasons"]]
    # high ends at 7 (mid's top), each stage one below its threshold.
    assert outcomes[:4] == [
        ("grade", "high", 7, 2),
        ("stage", "ban", 7, 2),
        ("stage", "warning", 5, 4),
        ("stage", "reminder", 3, 6),
    ]
    grade = a["reasons"][0]
    # Without one major the score is 6 (mid): decisive; without a minor 8 (still high).
    assert [(r["rank"], r["record_ids"], r["weight"], r["decisive"]) for r in grade["reasons"]] == [
        (1, ["agency:A1"], 3, True),
        (2, ["agency:A5"], 3, True),
        (3, ["agency:A2"], 1, False),
        (4, ["agency:A3"], 1, False),
    ]
    assert grade["reasons"][0]["legal_basis"] == "Act s.2"
    assert grade["reasons"][0]["text"] == (
        "Major: record agency:A1 of 2026-01-10, reported by agency, +3 points; it stops "
        "counting on 2028-01-10."
    )


def test_the_assessment_gives_the_exact_way_back(sqlite_world: World) -> None:
    wb = sqlite_world.call("alice", "GET", "/me/assessment").json()["way_back"]
    assert [(x["record_id"], x["expires_on"]) for x in wb["expiries"]] == [
        ("agency:A2", "2027-02-10"),
        ("agency:A3", "2027-03-10"),
        ("agency:A4", "2027-04-10"),
        ("agency:A1", "2028-01-10"),
        ("agency:A5", "2028-05-10"),
    ]
    goals = {(g["goal"], g["id"]): g for g in wb["goals"]}
    # 9 -> 8 on 2027-02-10 -> 7 (mid) on 2027-03-10; 3 (low) on 2028-01-10; 0 on 2028-05-10.
    assert [(k, goals[("grade", k)]["on"]) for k in ("mid", "low", "clear")] == [
        ("mid", "2027-03-10"),
        ("low", "2028-01-10"),
        ("clear", "2028-05-10"),
    ]
    mid = goals[("grade", "mid")]
    # A successful objection to A1 gives 6 (mid) today, 281 days sooner.
    assert (mid["sooner_on"], mid["sooner_score"], mid["sooner_grade"]) == ("2026-06-02", 6, "mid")
    assert [(x["action"], x["record_id"], x["points"], x["days"]) for x in mid["actions"]] == [
        ("objection", "agency:A1", 3, 281)
    ]
    # The course credit (-2, no limit) is offered as often as the widest gap needs: 6 / 2.
    credits = [x for x in wb["actions"] if x["action"] == "credit"]
    assert [(x["kind"], x["points"]) for x in credits] == [("course", 2)] * 3


def test_each_stage_notice_gives_that_stage_s_reasons(sqlite_world: World) -> None:
    items = sqlite_world.call("alice", "GET", "/me/notices").json()["items"]
    by_ref = {n["ref"]: n["content"]["reasons"] for n in items}
    # The ban (from 8) ends at 7: either major alone; the reminder (from 4) at 3: neither.
    assert _ranked({"reasons": by_ref["ban@2026-05-10"]}) == [
        ("major", "agency:A1", 3, True),
        ("major", "agency:A5", 3, True),
        ("minor", "agency:A2", 1, False),
        ("minor", "agency:A3", 1, False),
    ]
    assert [r["decisive"] for r in by_ref["reminder@2026-02-10"]] == [False] * 4
