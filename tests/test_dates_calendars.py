"""Declared date arithmetic and working-day calendars: one definition, every evaluator.

Hand-computed cases (month ends, 29 February, composed FCRA periods, German, Chinese and US
holidays), then the differential checks: the Ibis plan's arithmetic on DuckDB equals the
Python one on every day of four years, the batch score equals the reference evaluator on
records dated on month ends, and the incremental calendar's expiry windows equal the days the
reference evaluator says records expire.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from credence.calendars import Calendar
from credence.compute.batch import connect, score_batch, source_from_records
from credence.compute.batch_compile import IBIS_DATES
from credence.compute.incremental import touched_subjects
from credence.dates import Period
from credence.policy.compiled import compile_policy, expiry_threshold
from credence.policy.load import loads_policy
from credence.records import Record
from tests.builders import base_policy, policy, rec, rule
from tests.compute.test_batch_support import DIFFERENTIAL, comparable, reference_rows


def period(value: Any, **calendar: Any) -> Period:
    """The expiry period of a rule declared as ``value`` in a version with ``calendar``."""
    doc = base_policy(rules=[rule("fine", -10, value)], calendar=calendar or {"round": "down"})
    found = policy(doc).latest.rules[0].expires_after
    assert found is not None
    return found


def deadline(value: Any, **calendar: Any) -> Period:
    """The review period declared as ``value`` in a version with ``calendar``."""
    doc = base_policy(contest={"review_period": value}, calendar=calendar or {"round": "down"})
    return policy(doc).latest.contest.review_period


# --- rounding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "value", "down", "up"),
    [
        (date(2026, 1, 31), "P1M", date(2026, 2, 28), date(2026, 3, 1)),
        (date(2024, 1, 30), "P1M", date(2024, 2, 29), date(2024, 3, 1)),
        (date(2024, 1, 29), "P1M", date(2024, 2, 29), date(2024, 2, 29)),
        (date(2024, 2, 29), "P1Y", date(2025, 2, 28), date(2025, 3, 1)),
        (date(2024, 2, 29), "P4Y", date(2028, 2, 29), date(2028, 2, 29)),
        (date(2026, 3, 31), "P6M", date(2026, 9, 30), date(2026, 10, 1)),
        (date(2026, 8, 31), "P1M10D", date(2026, 10, 10), date(2026, 10, 11)),
        (date(2026, 3, 15), "P1Y6M10D", date(2027, 9, 25), date(2027, 9, 25)),
    ],
)
def test_a_missing_day_rounds_as_declared(start: date, value: str, down: date, up: date) -> None:
    assert period(value, round="down").after(start) == down
    assert period(value, round="up").after(start) == up
    # A period's own round wins over the version's.
    assert period({"steps": [value], "round": "up"}, round="down").after(start) == up


def test_undeclared_rounding_counts_down_as_every_earlier_decision_did() -> None:
    doc = {k: v for k, v in base_policy(rules=[rule("fine", -10, "P1M")]).items()}
    del doc["calendar"]
    undeclared = policy(doc).latest.rules[0].expires_after
    assert undeclared is not None and undeclared.round is None
    assert undeclared.after(date(2026, 1, 31)) == date(2026, 2, 28)


# --- composition ----------------------------------------------------------------------------


def test_fcra_seven_years_run_from_the_end_of_the_180_days() -> None:
    law = period({"steps": ["P180D", "P7Y"]})
    iso = period("P7Y180D")
    # 2019-10-01 + 180 days = 2020-03-29 (through 29 February 2020), + 7 years = 2027-03-29;
    # the ISO duration adds the years first: 2026-10-01 + 180 days = 2027-03-30.
    assert law.after(date(2019, 10, 1)) == date(2027, 3, 29)
    assert iso.after(date(2019, 10, 1)) == date(2027, 3, 30)
    # Without a 29 February inside either 180 days the two agree.
    assert law.after(date(2019, 1, 10)) == iso.after(date(2019, 1, 10)) == date(2026, 7, 9)
    assert str(law) == "P180D then P7Y" and str(iso) == "P7Y180D"


def test_the_bundled_fcra_policy_composes_as_the_act_says() -> None:
    from credence.policy import library

    compiled = compile_policy(library.resolve("credit-reporting"))
    rule_ = compiled.versions[0].rules["report.collection"]
    assert rule_.expires_on(date(2019, 10, 1), date(2019, 10, 1)) == date(2027, 3, 29)


# --- calendars ------------------------------------------------------------------------------


def test_working_days_skip_weekends_and_the_jurisdictions_holidays() -> None:
    # Friday 18 December 2026 + 10 working days in Bavaria, with 24 December a declared day off:
    # 21, 22, 23 | 24 off, 25-26 Christmas, 27 Sunday | 28, 29, 30, 31 | 1 January holiday |
    # 2 January (Saturday), so 4 and 5 January | 6 January Epiphany (Bavaria) | 7 January.
    ten = deadline({"working_days": 10}, holidays="DE-BY", days_off=["2026-12-24"])
    assert ten.after(date(2026, 12, 18)) == date(2027, 1, 7)
    # Federal Germany keeps 6 January a working day.
    assert deadline({"working_days": 10}, holidays="DE", days_off=["2026-12-24"]).after(
        date(2026, 12, 18)
    ) == date(2027, 1, 6)
    assert str(ten) == "10 working days (DE-BY + 1 day(s) off)"


def test_china_works_the_weekend_days_it_moves_for_the_spring_festival() -> None:
    cal = Calendar("CN")
    # Spring Festival 2026: 15-23 February off; Saturday 14 and Saturday 28 February worked.
    assert [cal.is_day_off(date(2026, 2, d)) for d in (13, 14, 15, 17, 23, 24, 28)] == [
        False,
        False,
        True,
        True,
        True,
        False,
        False,
    ]
    five = deadline({"working_days": 5}, holidays="CN")
    # Thursday 12 February: 13, 14 (worked Saturday), then 24, 25, 26.
    assert five.after(date(2026, 2, 12)) == date(2026, 2, 26)


def test_a_deadline_on_a_day_off_moves_to_the_next_working_day_where_the_policy_says() -> None:
    # 2026-06-20 + 14 days = Saturday 4 July (US Independence Day); 3 July is its observed day.
    moved = deadline("P14D", holidays="US", next_working_day=True)
    assert moved.after(date(2026, 6, 20)) == date(2026, 7, 6)
    assert deadline("P14D", holidays="US").after(date(2026, 6, 20)) == date(2026, 7, 4)
    # A period may opt out of its version's move.
    opt_out = deadline({"steps": ["P14D"], "next_working_day": False}, next_working_day=True)
    assert opt_out.after(date(2026, 6, 20)) == date(2026, 7, 4)
    # New York: a deadline on Columbus Day (Monday 12 October 2026) moves to the Tuesday.
    ny = deadline("P30D", holidays="US-NY", next_working_day=True)
    assert ny.after(date(2026, 9, 12)) == date(2026, 10, 13)


def test_expiries_stay_in_calendar_days() -> None:
    with pytest.raises(ValidationError, match="this period counts calendar days"):
        period({"working_days": 10})
    with pytest.raises(ValidationError, match="this period counts calendar days"):
        period({"steps": ["P1Y"], "next_working_day": True})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("calendar: {holidays: XX}", "'XX' is not a jurisdiction the holidays package knows"),
        ("calendar: {holidays: DE-ZZ}", "'DE-ZZ' is not a jurisdiction"),
        ("calendar: {round: nearest}", "round"),
        ("calendar: {days_off: ['2026-02-30']}", "days_off"),
        (
            "contest: {review_period: {steps: [P30D], rounding: up}}",
            "unknown period key(s) ['rounding']",
        ),
        ("contest: {review_period: {working_days: -1}}", "working_days: expected a whole number"),
        ("contest: {review_period: {}}", "a period needs steps"),
        ("contest: {review_period: {steps: P30D}}", "steps: expected a list"),
    ],
)
def test_bad_calendars_and_periods_name_the_field_and_the_line(text: str, message: str) -> None:
    from credence.errors import PolicyError

    doc = BAD.format(extra=text)
    with pytest.raises(PolicyError) as caught:
        loads_policy(doc, "bad.yaml")
    assert message in str(caught.value)
    assert "bad.yaml:" in str(caught.value)


BAD = """\
id: bad
version: "1"
effective_from: 2025-01-01
scale: {{base: 100, min: 0, max: 200}}
grades: [{{grade: A, min: 0, max: 200}}]
categories: [{{id: main}}]
{extra}
"""


def test_a_period_survives_a_dump_and_a_reload() -> None:
    doc = base_policy(
        rules=[rule("fine", -10, {"steps": ["P180D", "P7Y"], "round": "up"})],
        contest={"review_period": {"working_days": 10}, "extension": "P15D"},
        calendar={"holidays": "DE-BY", "round": "down", "next_working_day": True},
    )
    first = policy(doc).latest
    again = type(first).model_validate(first.model_dump(mode="json"))
    assert again.rules == first.rules and again.contest == first.contest


# --- one arithmetic, every evaluator ----------------------------------------------------------

PERIODS = [
    ("P1M", "down"),
    ("P1M", "up"),
    ("P1Y", "up"),
    ("P18M", "up"),
    ("P2Y6M", "down"),
    ("P1M10D", "up"),
    (["P180D", "P7Y"], "up"),
    (["P10D", "P1M"], "up"),
    (["P1M", "P1M"], "down"),
]


def _declared(value: Any, rounding: str) -> Period:
    steps = value if isinstance(value, list) else [value]
    return period({"steps": steps, "round": rounding})


def test_the_batch_plans_arithmetic_equals_pythons_on_every_day_of_four_years() -> None:
    days = [date(2023, 1, 1) + timedelta(days=i) for i in range(366 * 4 + 61)]
    con = ibis.duckdb.connect()
    table = con.create_table("anchors", ibis.memtable({"day": days}).execute())
    for value, rounding in PERIODS:
        p = _declared(value, rounding)
        got = con.execute(table.select(end=p.on(table.day, IBIS_DATES).cast("date")))
        want = [p.after(d) for d in days]
        assert [d.date() if hasattr(d, "date") else d for d in got["end"]] == want, (
            value,
            rounding,
        )


def _month_end_day(draw: st.DrawFn) -> date:
    year = draw(st.integers(2023, 2025))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(26, 31))
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day, last))


@st.composite
def rounding_policies(draw: st.DrawFn) -> Any:
    rules = []
    for i in range(draw(st.integers(1, 3))):
        value, rounding = draw(st.sampled_from(PERIODS))
        steps = value if isinstance(value, list) else [value]
        rules.append(
            rule(f"k{i}", draw(st.sampled_from([-10, -3, 4])), {"steps": steps, "round": rounding})
        )
    rounding = draw(st.sampled_from(["down", "up"]))
    return policy(
        base_policy(rules=rules, calendar={"round": rounding}, effective_from=date(2020, 1, 1))
    )


@st.composite
def month_end_records(draw: st.DrawFn, kinds: int = 3) -> list[Record]:
    out = []
    for s in range(draw(st.integers(1, 4))):
        for i in range(draw(st.integers(1, 4))):
            day = _month_end_day(draw)
            kind = f"k{draw(st.integers(0, kinds - 1))}"
            out.append(rec(f"s{s}-r{i}", kind, day, subject=f"s{s}"))
    return out


@settings(DIFFERENTIAL, max_examples=40)
@given(rounding_policies(), month_end_records(), st.data())
def test_duckdb_scores_month_end_records_as_the_reference_evaluator(pol, recs, data) -> None:
    kinds = {r.kind for v in pol.versions for r in v.rules}
    recs = [r for r in recs if r.kind in kinds]
    if not recs:
        return
    # Judge on the day a record expires, or the day before, where the rounding decides.
    compiled = compile_policy(pol)
    ends = []
    for r in recs:
        rule_ = compiled.rule_then(r.kind, r.occurred_on)
        assert rule_ is not None
        ends.append(rule_.expires_on(r.occurred_on, r.effective_on))
    end = data.draw(st.sampled_from([e for e in ends if e is not None]))
    as_of = end - timedelta(days=data.draw(st.sampled_from([0, 1])))
    con = connect("duckdb")
    result = score_batch(pol, source_from_records(con, recs), as_of, as_of, calendar=True)
    assert result.table is not None
    rows = result.table.to_pylist()
    got = {r["subject_id"]: comparable(r) for r in rows}
    want = {k: comparable(v) for k, v in reference_rows(pol, recs, as_of, as_of, con).items()}
    assert {k: {c: v[c] for c in want[k]} for k, v in got.items()} == want
    # The plan's calendar (its own Ibis expression of the expiry) names the next expiry as
    # the Python arithmetic does: the first day after as_of a record expires or starts counting.
    nxt: dict[str, date] = {}
    for r, e in zip(recs, ends, strict=True):
        for day in (r.occurred_on, e):
            if day is not None and day > as_of:
                nxt[r.subject_id] = min(day, nxt.get(r.subject_id, day))
    assert {r["subject_id"]: r["next_change"] for r in rows} == {sid: nxt.get(sid) for sid in got}


@settings(DIFFERENTIAL, max_examples=30)
@given(rounding_policies(), month_end_records(), st.data())
def test_the_incremental_calendar_wakes_a_subject_on_the_day_its_record_expires(
    pol, recs, data
) -> None:
    compiled = compile_policy(pol)
    recs = [r for r in recs if compiled.rule_then(r.kind, r.occurred_on) is not None]
    if not recs:
        return
    since = data.draw(st.dates(date(2023, 6, 1), date(2031, 6, 1)))
    until = since + timedelta(days=data.draw(st.sampled_from([1, 2, 31])))
    con = connect("duckdb")
    source = source_from_records(con, recs)
    got = set(con.execute(touched_subjects(pol, source, since, until))["subject_id"])
    want = set()
    for r in recs:
        rule_ = compiled.rule_then(r.kind, r.occurred_on)
        assert rule_ is not None
        expiry = rule_.expires_on(r.occurred_on, r.effective_on)
        moments = [r.occurred_on, r.effective_on, r.recorded_at.date()]
        if any(since < d <= until for d in [*moments, expiry]):
            want.add(r.subject_id)
    assert got == want


@pytest.mark.parametrize(("value", "rounding"), PERIODS)
def test_the_expiry_threshold_inverts_the_period(value: Any, rounding: str) -> None:
    p = _declared(value, rounding)
    anchors = [date(2023, 11, 1) + timedelta(days=i) for i in range(200)]
    for as_of in [p.after(a) + timedelta(days=k) for a in anchors[::7] for k in (-1, 0, 1)]:
        t = expiry_threshold(p, as_of)
        assert all((a >= t) == (as_of < p.after(a)) for a in anchors), (as_of, t)


@pytest.mark.parametrize(("value", "rounding"), PERIODS)
def test_the_plans_calendar_and_scores_follow_the_rounding_on_every_month_end(
    value: Any, rounding: str
) -> None:
    p = _declared(value, rounding)
    steps = value if isinstance(value, list) else [value]
    pol = policy(
        base_policy(
            rules=[rule("k0", -10, {"steps": steps, "round": rounding})],
            effective_from=date(2020, 1, 1),
        )
    )
    anchors = [
        date(y, m, d)
        for y in range(2022, 2026)
        for m in range(1, 13)
        for d in range(26, 32)
        if d <= (date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)).day
    ]
    recs = [rec(f"r{i}", "k0", a, subject=f"s{i}") for i, a in enumerate(anchors)]
    con = connect("duckdb")
    source = source_from_records(con, recs)
    for as_of in (date(2024, 2, 28), date(2024, 2, 29), date(2025, 2, 28), date(2025, 3, 1)):
        result = score_batch(pol, source, as_of, as_of, calendar=True)
        assert result.table is not None
        got = {r["subject_id"]: (r["score"], r["next_change"]) for r in result.table.to_pylist()}
        want = {}
        for r in recs:
            end = p.after(r.occurred_on)
            counts = r.occurred_on <= as_of < end
            upcoming = [d for d in (r.occurred_on, end) if d > as_of]
            want[r.subject_id] = (90 if counts else 100, min(upcoming) if upcoming else None)
        assert got == want, (value, rounding, as_of)


def _listing_policy(notice: Any, **calendar: Any) -> Any:
    listed = {
        "id": "debtors",
        "type": "blacklist",
        "entry": {"record_kinds": ["fine"]},
        "legal_basis": "Act s.9",
        "notice_period": notice,
        "duration": "P1Y",
        "appeal_route": "court",
    }
    return policy(base_policy(lists=[listed], calendar={"round": "down", **calendar}))


@pytest.mark.parametrize(
    ("notice", "calendar", "listed_on"),
    [
        # Served 2026-12-11 (the day of the record); + 14 days = Friday 25 December.
        ("P14D", {}, date(2026, 12, 25)),
        ("P14D", {"holidays": "DE", "next_working_day": True}, date(2026, 12, 28)),
        # 10 working days in Bavaria with 24 December off: 14-18, 21-23, 28, 29.
        (
            {"working_days": 10},
            {"holidays": "DE-BY", "days_off": ["2026-12-24"]},
            date(2026, 12, 29),
        ),
        # China: 1 January 2027 off, Saturday 2 January a day off too (no worked weekend).
        ({"steps": ["P21D"]}, {"holidays": "CN", "next_working_day": True}, date(2027, 1, 4)),
    ],
)
def test_the_reference_evaluator_lists_on_the_deadline_the_calendar_gives(
    notice: Any, calendar: dict[str, Any], listed_on: date
) -> None:
    from credence.engine.reference import evaluate

    pol = _listing_policy(notice, **calendar)
    got = evaluate(pol, [rec("r1", "fine", date(2026, 12, 11))], date(2027, 2, 1))
    (listing,) = got.listings
    assert (listing.served_on, listing.deadline, listing.listed_on) == (
        date(2026, 12, 11),
        listed_on,
        listed_on,
    )
