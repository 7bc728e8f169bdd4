"""Whole runs: reproducible reports, no false listings without errors, errors corrected."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from credence.policy import library
from credence.sim import Faults, Injection, Scenario, build_report, run_simulation, write_report
from credence.sim.process import month_ends
from credence.sim.scenarios import Behaviour

CITY = library.resolve("city-merit")
NO_ERRORS = Faults(false_rate=0, wrong_person_rate=0, duplicate_rate=0, late_rate=0.05)


def test_seeded_runs_give_identical_reports(tmp_path: Path) -> None:
    scenario = Scenario(population=2000, years=2, seed=5)
    one = write_report(build_report(run_simulation(CITY, scenario), "r"), tmp_path / "one")
    two = write_report(build_report(run_simulation(CITY, scenario), "r"), tmp_path / "two")
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes()
    other = build_report(run_simulation(CITY, Scenario(population=2000, years=2, seed=6)), "r")
    assert json.loads(one[1].read_text()) != other


def test_zero_error_rate_gives_zero_false_listings() -> None:
    scenario = Scenario(population=4000, years=3, seed=2, faults=NO_ERRORS, chronic_factor=25.0)
    sim = run_simulation(CITY, scenario)
    report = build_report(sim, "clean")
    assert report["lists"]["serious-arrears"]["listings"] > 0  # the scheme does list people
    assert report["records"]["wrong"] == 0
    false = report["false"]
    assert (false["listings"], false["measures"], false["listings_caused_by_errors"]) == (0, 0, 0)
    assert false["people_listed_per_100k"] == 0.0
    assert not any(o.outcome == "overturned" for o in sim.objections)


def test_injected_false_records_list_people_and_objections_reverse_it() -> None:
    # Warned people contest every wrong record, but only after the rectification period: the
    # wrong listing happens, and the objection then undoes it.
    behaviour = Behaviour(
        objection_rate=1.0, spontaneous_rate=0.0, objection_delay_days=45, objection_window_days=60
    )
    inj = Injection("legal.judgment_unfulfilled", subjects=10, records_each=5)
    scenario = Scenario(
        population=2000, years=2, seed=3, faults=NO_ERRORS, behaviour=behaviour, injections=(inj,)
    )
    sim = run_simulation(CITY, scenario)
    report = build_report(sim, "injected")
    false = report["false"]
    assert false["people_listed"] == 10
    assert false["listings_caused_by_errors"] == 10
    assert false["people_measured"] == 10
    assert false["corrected"] == 10 and false["still_listed_at_end"] == 0
    assert report["correction"]["overturned"] == 50
    days = report["correction"]["days_falsely_listed"]
    assert days["n"] == 10 and 0 < days["median"] < 60
    wrong = [x for x in sim.listings if sim.clean(x.subject) and x.outcome == "listed"]
    assert all(x.exit == "corrected" and x.end is not None for x in wrong)
    # Every measure on them was lifted on the day of correction.
    for m in sim.measures:
        if sim.clean(m.subject):
            assert m.exit == "corrected"


def test_prompt_objections_prevent_the_false_listing() -> None:
    behaviour = Behaviour(
        objection_rate=1.0, spontaneous_rate=0.0, objection_delay_days=1, objection_window_days=5
    )
    inj = Injection("legal.judgment_unfulfilled", subjects=10, records_each=5)
    scenario = Scenario(
        population=2000, years=2, seed=3, faults=NO_ERRORS, behaviour=behaviour, injections=(inj,)
    )
    report = build_report(run_simulation(CITY, scenario), "prompt")
    assert report["false"]["people_listed"] == 0
    assert report["lists"]["serious-arrears"]["prevented"].get("objection", 0) >= 10


def test_notices_let_people_rectify() -> None:
    scenario = Scenario(population=4000, years=3, seed=2, chronic_factor=25.0)
    report = build_report(run_simulation(CITY, scenario), "r")
    prevention = report["prevention"]
    assert prevention["by_cause"].get("rectified", 0) > 0
    assert prevention["warned_who_rectified"] > 0
    assert 0 < prevention["share_prevented"] < 1
    assert len(report["monthly"]) == 36
    assert all(sum(m["grades"].values()) == 4000 for m in report["monthly"])
    regions = report["burden"]["region"]
    assert sum(r["population"] for r in regions) == 4000


def test_stage_policy_runs_with_notices_and_measures() -> None:
    policy = library.resolve("licence-demerit")
    sim = run_simulation(policy, Scenario(population=700, years=2, seed=4, chronic_factor=30.0))
    report = build_report(sim, "licence")
    assert report["measures"]["licence-revocation"]["episodes"] > 0
    assert report["prevention"]["notices_before_a_measure"] >= report["prevention"]["enforced"] > 0
    assert all(n.outcome in ("enforced", "prevented", "pending") for n in sim.stage_notices)


def test_cross_domain_measures_are_flagged() -> None:
    policy = library.resolve("court-debtor-list")
    sim = run_simulation(policy, Scenario(population=1500, years=2, seed=4, chronic_factor=20.0))
    report = build_report(sim, "court")
    cross = report["cross_domain"]
    assert cross["findings"] and all(f["code"] == "CR008" for f in cross["findings"])
    assert "company-officer-bar" in cross["measures"]
    assert report["measures"]["company-officer-bar"]["cross_domain"] is True
    assert report["measures"]["high-consumption-restriction"]["cross_domain"] is False


def test_html_report_is_self_contained(tmp_path: Path) -> None:
    sim = run_simulation(CITY, Scenario(population=800, years=1, seed=1))
    html_path, json_path = write_report(build_report(sim, "x"), tmp_path)
    page = html_path.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert not re.search(r"<script|<link|\bsrc=|\bhref=|@import|url\(", page)
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) >= 4
    for chart in charts:
        ElementTree.fromstring(chart)  # well-formed XML
    assert json.loads(json_path.read_text())["name"] == "x"


@pytest.mark.parametrize(
    ("start", "end", "count", "last"),
    [
        ("2026-01-01", "2030-12-31", 60, "2030-12-31"),
        ("2026-03-15", "2026-05-10", 3, "2026-05-10"),
    ],
)
def test_month_ends(start: str, end: str, count: int, last: str) -> None:
    from datetime import date

    months = month_ends(date.fromisoformat(start), date.fromisoformat(end))
    assert len(months) == count and months[-1].isoformat() == last
