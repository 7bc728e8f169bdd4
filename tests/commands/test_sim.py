"""``credence simulate`` and ``credence policy diff`` through a real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from credence.commands.sim import register
from credence.policy import library
from credence.sim.diff import diff_policies, resolve
from credence.sim.scenarios import Scenario


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    # The same shape as credence.cli: a root app with a "policy" sub-app.
    root = typer.Typer()
    root.add_typer(typer.Typer(), name="policy")

    @root.command()
    def version() -> None:
        """Keeps the root a group with several commands."""

    register(root)
    return root


def test_register_needs_a_policy_sub_app() -> None:
    with pytest.raises(RuntimeError, match="policy"):
        register(typer.Typer())


def test_simulate_writes_the_store_and_report_under_the_data_folder(
    app: typer.Typer, tmp_path: Path
) -> None:
    args = [
        *("lab", "run", "-p", "city-merit", "-n", "600", "-y", "1", "--step", "28"),
        *("--data", str(tmp_path), "-q"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "lab" / "city-merit-n600-y1-s1"
    assert (run / "credence.db").exists() and (run / "baseline" / "credence.db").exists()
    folder = run / "reports" / "city-merit-n600-y1-s1"
    assert (folder / "report.html").exists()
    report = json.loads((folder / "report.json").read_text())
    assert report["scenario"]["population"] == 600
    assert report["with_safeguards"]["steps"] == 14  # 13 four-weekly runs and the last day
    assert "people falsely listed" in result.output and "without" in result.output
    assert "Time per phase: simulate" in result.output
    assert "report.html" in result.output


def test_simulate_json_and_injection(app: typer.Typer, tmp_path: Path) -> None:
    args = [
        *("simulate", "-p", "city-merit", "-n", "500", "-y", "1", "--error-rate", "0"),
        *("--inject", "legal.judgment_unfulfilled:3:5", "--format", "json", "--name", "inj"),
        *("--no-baseline", "--step", "28", "--data", str(tmp_path)),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # Three law-abiding people, five false records each: all fifteen reach the store.
    assert report["with_safeguards"]["records"]["by_fault"] == {"injected": 15}
    assert "without_safeguards" not in report
    assert (tmp_path / "lab" / "inj" / "reports" / "inj" / "report.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "no-such-policy"], "no such file"),
        (["-p", "city-merit", "--inject", "bad"], "KIND:SUBJECTS"),
        (["-p", "city-merit", "--start", "2026-13-01"], "not a date"),
        (["-p", "city-merit", "--review-delay", "9:2"], "MIN:MAX"),
    ],
)
def test_simulate_errors(app: typer.Typer, tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", *args, "--data", str(tmp_path), "-q"])
    assert result.exit_code == 2
    assert message in result.output


def test_policy_diff_names_the_rule_that_changed(app: typer.Typer, tmp_path: Path) -> None:
    args = [
        *("policy", "diff", "city-merit@2026.1", "city-merit@2026.2", "-n", "800", "-y", "1"),
        *("--step", "28"),
        *("--data", str(tmp_path), "--format", "json", "-q"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["subjects_changed"] > 0
    assert [r["kind"] for r in diff["rules"]] == ["civic.traffic_violation"]
    assert all(r["points_delta"] > 0 for r in diff["rules"])  # the amendment is more lenient
    # Who changes, and why: each named subject's only difference is that rule.
    assert len(diff["subjects"]) == min(diff["subjects_changed"], 50)
    assert {w["kind"] for x in diff["subjects"] for w in x["why"]} == {"civic.traffic_violation"}
    assert next(iter((tmp_path / "reports").iterdir())).joinpath("report.html").exists()


def test_policy_diff_table(app: typer.Typer, tmp_path: Path) -> None:
    args = [
        "lab",
        "diff",
        "city-merit@2026.1",
        "city-merit",
        "-n",
        "300",
        "-y",
        "1",
        "--step",
        "28",
    ]
    result = CliRunner().invoke(app, [*args, "--data", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert "Rules behind the changes" in result.output
    bad = CliRunner().invoke(app, ["policy", "diff", "city-merit@9", "city-merit", "-q"])
    assert bad.exit_code == 2 and "no version '9'" in bad.output


def test_a_policy_does_not_differ_from_itself() -> None:
    city = library.resolve("city-merit")
    diff = diff_policies(city, city, Scenario(population=500, years=1, seed=1), step_days=28)
    assert diff["subjects_changed"] == 0 and diff["rules"] == [] and diff["grade_moves"] == []


def test_diff_across_policies_moves_every_grade() -> None:
    diff = diff_policies(
        resolve("city-merit"),
        resolve("licence-demerit"),
        Scenario(population=300, years=1, seed=2, chronic_factor=10.0),
        step_days=28,
    )
    assert diff["subjects_changed"] == 300  # different scales: every grade differs
    city = {g.grade for g in resolve("city-merit").latest.grades}
    licence = {g.grade for g in resolve("licence-demerit").latest.grades}
    assert all(m["from"] in city and m["to"] in licence for m in diff["grade_moves"])
