"""Stages, notices, measures and credits: hand-computed timelines with exact dates."""

from __future__ import annotations

from datetime import date
from typing import Any

from credence.engine.assessment import Assessment
from credence.engine.reference import evaluate
from credence.engine.timeline import Decisions
from credence.records import Record
from tests.builders import base_policy, policy, rec, rule

D = date


def demerit(on_skip: str = "hold", lag: str = "P0D", **stages: Any) -> dict[str, Any]:
    """Points 0-20; reminder at 4, warning at 6, ban at 8 (14 days' notice, one month)."""
    ladder = {
        "on_skip": on_skip,
        "service_lag": lag,
        "ladder": [
            {"id": "reminder", "threshold": 4},
            {"id": "warning", "threshold": 6},
            {"id": "ban", "threshold": 8, "measure": "ban"},
        ],
    }
    ladder.update(stages)
    return base_policy(
        direction="higher_is_worse",
        scale={"base": 0, "min": 0, "max": 20},
        grades=[
            {"grade": "ok", "min": 0, "max": 3},
            {"grade": "warned", "min": 4, "max": 7},
            {"grade": "banned", "min": 8, "max": 20},
        ],
        rules=[rule("minor", 1, "P1Y"), rule("major", 3, "P2Y")],
        measures=[
            {
                "id": "ban",
                "domain": "main",
                "legal_basis": "Act s.8",
                "notice_period": "P14D",
                "appeal_route": "Court within one month",
                "duration": "P1M",
            }
        ],
        stages=ladder,
    )


def notices(a: Assessment) -> list[tuple[str, date, date | None, str]]:
    assert a.stages is not None
    return [(n.stage, n.issued_on, n.served_on, n.status) for n in a.stages.notices]


def stage(a: Assessment) -> tuple[str | None, str | None]:
    assert a.stages is not None
    return a.stages.reached, a.stages.effective


JUMP = [rec("r1", "major", D(2025, 3, 1)), rec("r2", "major", D(2025, 4, 1))]


def test_hold_serves_the_missing_notice_first_and_holds_the_stage() -> None:
    p = policy(demerit("hold", "P7D"))
    a = evaluate(p, JUMP, D(2025, 4, 10), D(2025, 4, 10))
    assert a.score == 6
    assert stage(a) == ("warning", "reminder")
    assert notices(a) == [
        ("reminder", D(2025, 4, 1), D(2025, 4, 8), "served"),
        ("warning", D(2025, 4, 8), None, "issued"),
    ]
    before = evaluate(p, JUMP, D(2025, 4, 5), D(2025, 4, 5))
    assert stage(before) == ("warning", None)
    later = evaluate(p, JUMP, D(2025, 4, 20), D(2025, 4, 20))
    assert stage(later) == ("warning", "warning")


def test_clamp_sets_the_score_one_short_of_the_next_threshold() -> None:
    p = policy(demerit("clamp", "P7D"))
    a = evaluate(p, JUMP, D(2025, 4, 20), D(2025, 4, 20))
    assert (a.score, a.grade) == (5, "warned")
    assert stage(a) == ("reminder", "reminder")
    clamp = [x for x in a.adjustments if x.type == "stage_clamp"]
    assert [(x.points, x.expires_on) for x in clamp] == [(-1, D(2027, 4, 1))]
    assert notices(a) == [("reminder", D(2025, 4, 1), D(2025, 4, 8), "served")]
    # one more point after the reminder was served climbs normally to the warning
    more = [*JUMP, rec("r3", "minor", D(2025, 5, 1))]
    b = evaluate(p, more, D(2025, 5, 20), D(2025, 5, 20))
    assert b.score == 6
    assert stage(b) == ("warning", "warning")
    # the clamp lasts until the last record counting on the day it was set expires
    c = evaluate(p, more, D(2027, 3, 1), D(2027, 3, 1))
    assert c.score == 3 + 0 - 1
    assert evaluate(p, more, D(2027, 4, 1), D(2027, 4, 1)).score == 0


CLIMB = [
    rec("r1", "major", D(2025, 1, 10)),
    rec("r2", "minor", D(2025, 2, 10)),
    rec("r3", "minor", D(2025, 3, 10)),
    rec("r4", "minor", D(2025, 4, 10)),
    rec("r5", "major", D(2025, 5, 10)),
]


def test_stage_by_stage_to_a_measure_after_its_notice_period() -> None:
    p = policy(demerit())
    a = evaluate(p, CLIMB, D(2025, 6, 1), D(2025, 6, 1))
    assert a.score == 9
    assert stage(a) == ("ban", "ban")
    assert notices(a) == [
        ("reminder", D(2025, 2, 10), D(2025, 2, 10), "served"),
        ("warning", D(2025, 4, 10), D(2025, 4, 10), "served"),
        ("ban", D(2025, 5, 10), D(2025, 5, 10), "expired"),
    ]
    assert a.stages is not None
    [m] = a.stages.measures
    assert (m.measure, m.status, m.in_force_from, m.until) == (
        "ban",
        "in_force",
        D(2025, 5, 24),
        D(2025, 6, 24),
    )
    assert a.stages.notices[2].deadline == D(2025, 5, 24)
    pending = evaluate(p, CLIMB, D(2025, 5, 23), D(2025, 5, 23))
    assert pending.stages is not None and pending.stages.measures == ()
    done = evaluate(p, CLIMB, D(2025, 6, 24), D(2025, 6, 24))
    assert done.stages is not None and done.stages.measures[0].status == "lifted"


def test_rectified_before_the_deadline_nothing_is_applied() -> None:
    doc = demerit()
    doc["credits"] = [rule("course", -2, "P1Y")]
    p = policy(doc)
    rectified = [*CLIMB, rec("k1", "course", D(2025, 5, 15))]
    a = evaluate(p, rectified, D(2025, 6, 1), D(2025, 6, 1))
    assert a.score == 7
    assert stage(a) == ("warning", "warning")
    assert notices(a)[-1] == ("ban", D(2025, 5, 10), D(2025, 5, 10), "complied")
    assert a.stages is not None and a.stages.measures == ()


def test_a_record_revoked_before_the_deadline_withdraws_the_notice() -> None:
    p = policy(demerit())
    revoked = [*CLIMB[:4], rec("r5", "major", D(2025, 5, 10), status=[("revoked", D(2025, 5, 20))])]
    a = evaluate(p, revoked, D(2025, 6, 1), D(2025, 6, 1))
    assert a.score == 6
    assert stage(a) == ("warning", "warning")
    assert notices(a)[-1] == ("ban", D(2025, 5, 10), D(2025, 5, 10), "withdrawn")
    assert a.stages is not None and a.stages.measures == ()


def test_a_measure_in_force_is_rescinded_when_its_record_is_overturned() -> None:
    p = policy(demerit())
    overturned = [
        *CLIMB[:4],
        rec(
            "r5",
            "major",
            D(2025, 5, 10),
            status=[("contested", D(2025, 5, 12)), ("overturned", D(2025, 6, 5))],
        ),
    ]
    # contest suspends by default: the record stops counting on 05-12, before the deadline
    a = evaluate(p, overturned, D(2025, 6, 10), D(2025, 6, 10))
    assert notices(a)[-1][3] == "withdrawn"
    doc = demerit()
    doc["contest"] = {"suspends": False}
    q = policy(doc)
    b = evaluate(q, overturned, D(2025, 6, 10), D(2025, 6, 10))
    assert b.stages is not None
    [m] = b.stages.measures
    assert (m.status, m.in_force_from, m.until) == ("rescinded", D(2025, 5, 24), D(2025, 6, 5))
    assert notices(b)[-1] == ("ban", D(2025, 5, 10), D(2025, 5, 10), "withdrawn")
    assert any(e.event == "measure rescinded" for e in b.stages.events)


def test_human_review_holds_the_measure_until_signed_off() -> None:
    doc = demerit()
    doc["measures"][0]["human_review"] = True
    p = policy(doc)
    waiting = evaluate(p, CLIMB, D(2025, 6, 1), D(2025, 6, 1))
    assert waiting.stages is not None
    assert [(m.status, m.in_force_from) for m in waiting.stages.measures] == [
        ("awaiting_review", None)
    ]
    approved = Decisions(approved={"ban@2025-05-10": D(2025, 5, 30)})
    a = evaluate(p, CLIMB, D(2025, 6, 1), D(2025, 6, 1), decisions=approved)
    assert a.stages is not None
    [m] = a.stages.measures
    assert (m.status, m.in_force_from, m.until) == ("in_force", D(2025, 5, 30), D(2025, 6, 30))


def test_an_unserved_notice_holds_every_later_stage() -> None:
    p = policy(demerit())
    unserved = Decisions(served={"reminder@2025-02-10": None})
    a = evaluate(p, CLIMB, D(2025, 6, 1), D(2025, 6, 1), decisions=unserved)
    assert stage(a) == ("ban", None)
    assert notices(a) == [("reminder", D(2025, 2, 10), None, "issued")]
    assert a.stages is not None and a.stages.measures == ()


def test_without_require_earlier_notices_only_the_reached_stage_is_noticed() -> None:
    p = policy(demerit(require_earlier_notices=False))
    a = evaluate(p, JUMP, D(2025, 4, 10), D(2025, 4, 10))
    assert stage(a) == ("warning", "warning")
    assert notices(a) == [("warning", D(2025, 4, 1), D(2025, 4, 1), "served")]


def test_merit_ladder_clamps_upwards() -> None:
    doc = base_policy(
        rules=[rule("fine", -30, "P1Y"), rule("big", -50, "P1Y")],
        measures=[
            {
                "id": "restrict",
                "domain": "main",
                "legal_basis": "Act s.5",
                "notice_period": "P30D",
                "appeal_route": "Board",
            }
        ],
        stages={
            "on_skip": "clamp",
            "ladder": [
                {"id": "watch", "threshold": 80},
                {"id": "restricted", "threshold": 60, "measure": "restrict"},
            ],
        },
    )
    p = policy(doc)
    a = evaluate(p, [rec("b", "big", D(2025, 3, 1))], D(2025, 4, 1), D(2025, 4, 1))
    # 100 - 50 = 50 jumps past "watch" (80) to "restricted" (60): set to 61, one short of 60
    assert (a.score, stage(a)) == (61, ("watch", "watch"))
    assert [(x.type, x.points) for x in a.adjustments] == [("stage_clamp", 11)]


def test_a_stage_is_judged_on_what_was_known_each_day() -> None:
    p = policy(demerit())
    late = [
        rec("r1", "major", D(2025, 1, 10)),
        rec("r2", "major", D(2025, 2, 10), recorded=D(2025, 3, 15)),
    ]
    # on 2025-03-01 the second offence was not known: no stage, no notice
    early = evaluate(p, late, D(2025, 3, 1), D(2025, 3, 1))
    assert (early.score, stage(early)) == (3, (None, None))
    # once known (3-15), it counts from its act date and the stages are checked that day
    a = evaluate(p, late, D(2025, 4, 1), D(2025, 4, 1))
    assert a.score == 6
    assert notices(a)[0][:2] == ("reminder", D(2025, 3, 15))


# --- credits --------------------------------------------------------------------------------


def credit_policy() -> dict[str, Any]:
    return base_policy(
        credits=[
            rule(
                "volunteer",
                5,
                "P1Y",
                at_most={"count": 2, "per": "P1Y"},
                score_range={"max": 110},
            )
        ]
    )


def test_credits_within_a_count_per_period_limit() -> None:
    p = policy(credit_policy())
    vols: list[Record] = [
        rec("v1", "volunteer", D(2025, 2, 1)),
        rec("v2", "volunteer", D(2025, 3, 1)),
        rec("v3", "volunteer", D(2025, 4, 1)),
        rec("v4", "volunteer", D(2026, 2, 15)),
    ]
    a = evaluate(p, vols[:3], D(2025, 5, 1), D(2025, 5, 1))
    assert a.score == 110
    refused = {n.record_id: n.reason for n in a.not_counted}
    assert refused["v3"].startswith("credit limit reached: at most 2 per P1Y")
    # in 2026 the window (2025-02-15, 2026-02-15] holds only v2, and v1 has expired: 105 before
    b = evaluate(p, vols, D(2026, 2, 20), D(2026, 2, 20))
    assert sorted(b.counted_ids()) == ["v2", "v4"]
    assert b.score == 110


def test_credit_refused_outside_its_score_range() -> None:
    p = policy(credit_policy())
    bonuses = [rec(f"b{i}", "bonus", D(2025, 1, i + 1)) for i in range(3)]
    a = evaluate(p, [*bonuses, rec("v1", "volunteer", D(2025, 2, 1))], D(2025, 3, 1), D(2025, 3, 1))
    assert a.score == 115
    [refusal] = [n for n in a.not_counted if n.record_id == "v1"]
    assert refusal.reason == (
        "credit may be earned only at a score of at most 110; the score on 2025-02-01 was 115"
    )


# --- listings ---------------------------------------------------------------------------------


def listing_policy(**lst: Any) -> Any:
    blacklist = {
        "id": "debtors",
        "type": "blacklist",
        "entry": {"record_kinds": ["debt"]},
        "notice_period": "P30D",
        "duration": "P1Y",
        "legal_basis": "Act s.9",
        "appeal_route": "Court",
        "measures": ["restrict"],
        "repair": {"record_kinds": ["paid"]},
    }
    blacklist.update(lst)
    return policy(
        base_policy(
            rules=[rule("debt", -10, "P2Y"), rule("paid", 0, None)],
            measures=[
                {
                    "id": "restrict",
                    "domain": "main",
                    "legal_basis": "Act s.9",
                    "notice_period": "P30D",
                    "appeal_route": "Court",
                }
            ],
            lists=[blacklist],
        )
    )


def listing(a: Assessment) -> list[tuple[object, ...]]:
    return [
        (
            x.status,
            x.noticed_on,
            x.served_on,
            x.deadline,
            x.listed_on,
            x.until,
            x.removed_on,
            x.reason,
        )
        for x in a.listings
    ]


def ends(a: Assessment) -> tuple[object, ...]:
    first = a.listings[0]
    return (first.status, first.removed_on, first.reason)


DEBT = rec("d1", "debt", D(2025, 3, 1))


def test_listed_after_the_notice_period_for_the_listing_duration() -> None:
    a = evaluate(listing_policy(), [DEBT], D(2025, 4, 15), D(2025, 4, 15))
    assert listing(a) == [
        (
            "listed",
            D(2025, 3, 1),
            D(2025, 3, 1),
            D(2025, 3, 31),
            D(2025, 3, 31),
            D(2026, 3, 31),
            None,
            "",
        )
    ]
    [m] = a.listings[0].measures
    assert (m.measure, m.status, m.in_force_from, m.until) == (
        "restrict",
        "in_force",
        D(2025, 3, 31),
        D(2026, 3, 31),
    )
    pending = evaluate(listing_policy(), [DEBT], D(2025, 3, 30), D(2025, 3, 30))
    assert pending.listings[0].status == "pending_notice"
    ended = evaluate(listing_policy(), [DEBT], D(2026, 4, 1), D(2026, 4, 1))
    assert ends(ended) == ("removed", D(2026, 3, 31), "listing period ended")
    assert len(ended.listings) == 1  # not renewed on the same record


def test_paying_before_the_deadline_withdraws_the_notice() -> None:
    recs = [DEBT, rec("p1", "paid", D(2025, 3, 15))]
    a = evaluate(listing_policy(), recs, D(2025, 5, 1), D(2025, 5, 1))
    assert listing(a) == [
        (
            "withdrawn",
            D(2025, 3, 1),
            D(2025, 3, 1),
            D(2025, 3, 31),
            None,
            None,
            D(2025, 3, 15),
            "criteria no longer met before listing (rectified)",
        )
    ]


def test_repair_after_listing_lifts_the_listing() -> None:
    recs = [DEBT, rec("p1", "paid", D(2025, 5, 1))]
    a = evaluate(listing_policy(), recs, D(2025, 6, 1), D(2025, 6, 1))
    assert ends(a) == ("removed", D(2025, 5, 1), "repaired by p1")
    assert a.listings[0].measures[0].status == "lifted"


def test_an_overturned_record_rescinds_the_listing() -> None:
    overturned = rec("d1", "debt", D(2025, 3, 1), status=[("overturned", D(2025, 6, 1))])
    a = evaluate(listing_policy(), [overturned], D(2025, 7, 1), D(2025, 7, 1))
    assert ends(a) == ("removed", D(2025, 6, 1), "d1 (overturned) no longer counted")
    assert a.listings[0].measures[0].status == "rescinded"


def test_a_listing_measure_under_human_review() -> None:
    p = listing_policy()
    doc = p.versions[0].model_dump()
    doc["measures"][0]["human_review"] = True
    q = policy(doc)
    a = evaluate(q, [DEBT], D(2025, 4, 15), D(2025, 4, 15))
    assert [(m.status, m.in_force_from) for m in a.listings[0].measures] == [
        ("awaiting_review", None)
    ]
    signed = Decisions(approved={"list:debtors@2025-03-01#restrict": D(2025, 4, 10)})
    b = evaluate(q, [DEBT], D(2025, 4, 15), D(2025, 4, 15), decisions=signed)
    assert [(m.status, m.in_force_from) for m in b.listings[0].measures] == [
        ("in_force", D(2025, 4, 10))
    ]


def test_a_redlist_needs_no_notice() -> None:
    p = policy(
        base_policy(
            lists=[
                {
                    "id": "top",
                    "type": "redlist",
                    "entry": {"score_at_least": 105},
                    "legal_basis": "s.1",
                }
            ]
        )
    )
    a = evaluate(p, [rec("b1", "bonus", D(2025, 3, 1))], D(2025, 4, 1), D(2025, 4, 1))
    assert listing(a) == [("listed", None, None, None, D(2025, 3, 1), None, None, "")]
