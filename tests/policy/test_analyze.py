"""Policy analysis: one policy per finding code, each found, each counterexample replayed
through the reference evaluator; the bundled policies analysed clean."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.book.witness import replay_witness
from credence.engine.reference import evaluate
from credence.engine.spec import to_record
from credence.errors import PolicyError
from credence.policy import library
from credence.policy.analyze import CODES, Analysis, analyze
from credence.policy.load import PolicySet, load_policy, loads_policy
from credence.policy.model import TestRecord

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).parents[2] / "docs"

DEFECTS = {
    "CR201": "cr201-unreachable-grade.yaml",
    "CR202": "cr202-unreachable-stage.yaml",
    "CR203": "cr203-unreachable-list.yaml",
    "CR204": "cr204-unused-measure.yaml",
    "CR205": "cr205-rule-without-effect.yaml",
    "CR206": "cr206-jumpable-ladder.yaml",
    "CR207": "cr207-list-without-exit.yaml",
    "CR208": "cr208-notice-shorter-than-delivery.yaml",
    "CR209": "cr209-kind-gap-between-versions.yaml",
}


def analysed(name: str) -> tuple[PolicySet, Analysis]:
    pol = load_policy(DATA / name)
    return pol, analyze(pol)


def test_there_is_a_defect_policy_for_every_code() -> None:
    assert sorted(DEFECTS) == sorted(CODES)


@pytest.mark.parametrize("code", sorted(DEFECTS))
def test_each_defect_is_found_alone_and_its_counterexample_replays(code: str) -> None:
    pol, result = analysed(DEFECTS[code])
    assert [f.code for f in result.findings] == [code]
    finding = result.findings[0]
    assert finding.location.startswith(str(DATA / DEFECTS[code]) + ":")
    assert finding.witness is not None
    replayed = replay_witness(pol, finding.witness)
    assert replayed.failures == ()


@pytest.mark.parametrize("code", sorted(DEFECTS))
def test_every_witness_of_a_reachable_element_replays(code: str) -> None:
    pol, result = analysed(DEFECTS[code])
    for reach in result.reach:
        if reach.reachable:
            assert reach.witness is not None, reach
            assert replay_witness(pol, reach.witness).failures == (), reach


def test_cr201_the_capped_category_bounds_the_score_at_five() -> None:
    pol, result = analysed(DEFECTS["CR201"])
    assert [(r.low, r.high) for r in result.ranges] == [(0, 5)]
    w = result.findings[0].witness
    assert w is not None
    assert [r.occurred_on for r in w.records] == [date(2026, 1, d) for d in range(1, 6)]
    assert w.as_of == date(2026, 1, 6)
    got = replay_witness(pol, w).assessment
    assert (got.score, got.grade) == (5, "low")
    reach = {(r.what, r.id): r.reachable for r in result.reach}
    assert reach == {("grade", "clear"): True, ("grade", "low"): True, ("grade", "high"): False}


def test_cr206_six_points_reported_on_one_day_jump_to_the_warning() -> None:
    pol, result = analysed(DEFECTS["CR206"])
    w = result.findings[0].witness
    assert w is not None
    # Six one-point offences, four days apart (service lag P3D + 1), all reported on 21 January.
    assert len(w.records) == 6
    assert {r.recorded_on for r in w.records} == {date(2026, 1, 21)}
    got = replay_witness(pol, w).assessment
    assert got.stages is not None
    assert (got.score, got.stages.reached, got.stages.effective) == (6, "warning", None)
    assert [(n.stage, n.issued_on, n.served_on) for n in got.stages.notices] == [
        ("reminder", date(2026, 1, 21), None)
    ]


def test_cr208_the_deadline_falls_two_days_after_a_five_day_delivery() -> None:
    pol, result = analysed(DEFECTS["CR208"])
    w = result.findings[0].witness
    assert w is not None
    # Four offences six days apart; the fourth (19 Jan) reaches the stage; served 24 Jan.
    assert [r.occurred_on for r in w.records] == [date(2026, 1, d) for d in (1, 7, 13, 19)]
    got = replay_witness(pol, w).assessment
    assert got.stages is not None
    [notice] = got.stages.notices
    assert (notice.issued_on, notice.served_on, notice.deadline) == (
        date(2026, 1, 19),
        date(2026, 1, 24),
        date(2026, 1, 26),
    )


def test_cr209_an_act_in_the_gap_never_counts_and_one_after_it_does() -> None:
    pol, result = analysed(DEFECTS["CR209"])
    w = result.findings[0].witness
    assert w is not None and w.as_of == date(2026, 7, 1)
    assert replay_witness(pol, w).failures == ()
    after = TestRecord(id="a1", kind="littering", occurred_on=date(2026, 7, 1))
    got = evaluate(pol, [to_record(pol, 0, after)], date(2026, 7, 2), date(2026, 7, 2))
    assert got.score == 1


@pytest.mark.parametrize("name", library.names())
def test_the_bundled_policies_are_analysed_clean(name: str) -> None:
    pol = library.resolve(name)
    result = analyze(pol)
    assert [str(f.as_lint()) for f in result.findings] == []
    for reach in result.reach:
        assert reach.reachable, reach
        assert reach.witness is not None, reach
        assert replay_witness(pol, reach.witness).failures == (), reach


def test_a_grade_gap_is_refused_when_loading_with_both_grades_named() -> None:
    text = (DATA / DEFECTS["CR201"]).read_text().replace("min: 6, max: 20", "min: 7, max: 20")
    with pytest.raises(PolicyError) as err:
        loads_policy(text, "gap.yaml")
    assert "grades 'low' (up to 5) and 'high' (from 7) must meet without gap or overlap" in str(
        err.value
    )


def test_every_analysis_code_is_documented() -> None:
    text = (DOCS / "policy-language.md").read_text()
    assert [c for c in CODES if c not in text] == []


DAYS = st.lists(st.integers(min_value=0, max_value=400), max_size=12)


@settings(max_examples=40, deadline=None)
@given(days=DAYS, offset=st.integers(min_value=0, max_value=500))
def test_no_history_reaches_what_the_analysis_calls_unreachable(
    days: list[int], offset: int
) -> None:
    """Random histories of the capped policy stay within the proven range [0, 5]."""
    pol, result = analysed(DEFECTS["CR201"])
    start = date(2026, 1, 1)
    records = [
        to_record(pol, i, TestRecord(kind="offence", occurred_on=start + timedelta(days=d)))
        for i, d in enumerate(days)
    ]
    day = start + timedelta(days=offset)
    got = evaluate(pol, records, day, day)
    [bounds] = result.ranges
    assert bounds.low <= got.score <= bounds.high
    assert got.grade != "high"


@settings(max_examples=25, deadline=None)
@given(
    picks=st.lists(
        st.tuples(
            st.sampled_from(
                ["traffic.offence_minor", "traffic.offence_serious", "traffic.offence_criminal"]
            ),
            st.integers(min_value=0, max_value=300),
        ),
        max_size=10,
    )
)
def test_every_licence_demerit_score_lies_in_the_analysed_range(
    picks: list[tuple[str, int]],
) -> None:
    pol = library.resolve("licence-demerit")
    [bounds] = analyze(pol).ranges
    start = date(2026, 1, 1)
    records = [
        to_record(pol, i, TestRecord(kind=k, occurred_on=start + timedelta(days=d)))
        for i, (k, d) in enumerate(picks)
    ]
    got = evaluate(pol, records, date(2026, 12, 31), date(2026, 12, 31))
    assert (bounds.low, bounds.high) == (0, 30)
    assert bounds.low <= got.score <= bounds.high


def test_the_cli_analyzes_a_file_and_lint_shows_the_same_findings() -> None:
    import json

    from typer.testing import CliRunner

    from credence.cli import app

    run = CliRunner()
    path = str(DATA / DEFECTS["CR201"])
    shown = run.invoke(app, ["policy", "analyze", path])
    assert shown.exit_code == 0, shown.output
    assert f"{path}:10:5: CR201 warning: grade 'high' [6, 20] is unreachable" in shown.stdout
    assert "version 1: every score lies in [0, 5]" in shown.stdout
    assert (
        "  grade low: reachable; records [w1 offence on 2026-01-01] as of 2026-01-02: grade low"
        in shown.stdout
    )
    data = json.loads(run.invoke(app, ["policy", "analyze", path, "--format", "json"]).stdout)
    assert data["ranges"] == [{"version": "1", "low": 0, "high": 5}]
    assert [f["code"] for f in data["findings"]] == ["CR201"]
    assert data["findings"][0]["witness"]["claims"] == [
        {"kind": "score", "target": "score", "value": "5"}
    ]
    linted = run.invoke(app, ["policy", "lint", path])
    assert linted.exit_code == 0 and "CR201 warning" in linted.stdout
    quiet = run.invoke(app, ["policy", "lint", path, "--no-analysis"])
    assert quiet.exit_code == 0 and "CR201" not in quiet.stdout


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_random_policies_scores_stay_in_the_proven_range_and_witnesses_replay(
    data: st.DataObject,
) -> None:
    """Differential: the over-approximation bounds every evaluated score, and every witness the
    under-approximation builds is confirmed by the reference evaluator."""
    from tests.strategies import full_policies, records

    pol = data.draw(full_policies(max_versions=2))
    result = analyze(pol)
    ranges = {r.version: r for r in result.ranges}
    recs = data.draw(records())
    day = pol.versions[0].effective_from + timedelta(days=data.draw(st.integers(0, 900)))
    version = pol.version_at(day)
    assert version is not None
    got = evaluate(pol, recs, day, day + timedelta(days=400), listings=False, horizon=0)
    bounds = ranges[version.version]
    assert bounds.low <= got.score <= bounds.high
    for reach in result.reach:
        if reach.witness is not None:
            assert replay_witness(pol, reach.witness).failures == (), reach
    for finding in result.findings:
        if finding.witness is not None:
            assert replay_witness(pol, finding.witness).failures == (), finding


def test_cr208_a_listing_notice_due_two_days_after_a_five_day_delivery() -> None:
    pol, result = analysed("cr208-list-notice-shorter-than-delivery.yaml")
    [finding] = result.findings
    assert finding.code == "CR208" and finding.witness is not None
    # Three offences six days apart; the third (13 Jan) meets the criteria; served 18 Jan.
    assert [r.occurred_on for r in finding.witness.records] == [
        date(2026, 1, d) for d in (1, 7, 13)
    ]
    got = replay_witness(pol, finding.witness)
    assert got.failures == ()
    [listing] = got.assessment.listings
    assert (listing.noticed_on, listing.served_on, listing.deadline) == (
        date(2026, 1, 13),
        date(2026, 1, 18),
        date(2026, 1, 20),
    )
