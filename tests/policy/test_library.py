"""The bundled policy library: every policy's embedded tests pass, lint and listing behave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from credence import cli
from credence.cli import app
from credence.engine.spec import run_all, run_case
from credence.policy import library
from credence.policy.lint import lint
from credence.policy.model import Scope
from credence.policy.model import TestCase as PolicyCase

NAMES = library.names()
EXPECTED = {
    "city-merit",
    "licence-demerit",
    "commercial-score",
    "court-debtor-list",
    "credit-reporting",
    "licence-points-ny",
}
JOINT = {"company-officer-bar", "civil-service-bar", "public-procurement-exclusion"}


def test_the_library_holds_the_expected_policies() -> None:
    assert set(NAMES) >= EXPECTED


@pytest.mark.parametrize("name", NAMES)
def test_every_embedded_test_passes(name: str) -> None:
    policy = library.resolve(name)
    results = run_all(policy)
    failures = {r.name: r.failures for r in results if not r.passed}
    assert failures == {}


@pytest.mark.parametrize("name", NAMES)
def test_every_policy_has_at_least_five_tests(name: str) -> None:
    assert len(library.resolve(name).tests) >= 5


@pytest.mark.parametrize("name", NAMES)
def test_default_profile_has_no_errors(name: str) -> None:
    errors = [str(f) for f in lint(library.resolve(name), "default") if f.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("name", NAMES)
def test_every_policy_has_a_doc_page(name: str) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "policies"
    assert (docs / f"{name}.md").is_file()
    assert f"{name}.md" in (docs / "index.md").read_text(encoding="utf-8")


def _joint_findings(profile: str) -> dict[str, str]:
    findings = lint(library.resolve("court-debtor-list"), profile)  # type: ignore[arg-type]
    out: dict[str, str] = {}
    for f in findings:
        if f.code == "CR008":
            measure = re.search(r"measure '([^']+)'", f.message)
            assert measure is not None
            out[measure.group(1)] = f.severity
    return out


def test_joint_measures_are_flagged_by_the_default_profile() -> None:
    assert _joint_findings("default") == dict.fromkeys(JOINT, "warning")
    errors = [f for f in lint(library.resolve("court-debtor-list")) if f.severity == "error"]
    assert errors == []


def test_joint_measures_are_refused_by_the_eu_profile() -> None:
    assert _joint_findings("eu") == dict.fromkeys(JOINT, "error")


def test_the_court_measure_in_its_own_domain_is_not_a_joint_measure() -> None:
    for profile in ("default", "eu"):
        assert "high-consumption-restriction" not in _joint_findings(profile)


def test_lint_cli_shows_both_outcomes_for_the_debtor_list() -> None:
    runner = CliRunner()
    default = runner.invoke(app, ["policy", "lint", "court-debtor-list"])
    assert default.exit_code == 0, default.output
    assert "CR008 warning" in default.output
    eu = runner.invoke(app, ["policy", "lint", "court-debtor-list", "--profile", "eu"])
    assert eu.exit_code == 1
    assert "CR008 error" in eu.output
    assert "3 error(s)" in eu.output


def test_commercial_score_has_no_social_connection_dimension() -> None:
    policy = library.resolve("commercial-score")
    for version in policy.versions:
        assert version.model == "weighted"
        assert (version.scale.min, version.scale.max) == (350, 950)
        for cat in version.categories:
            text = f"{cat.id} {cat.label}".lower()
            assert not re.search(r"social|contact|relation|friend|famil|network", text), cat.id
        for rule in (*version.rules, *version.credits):
            assert rule.scope is Scope.SELF


def test_policy_list_names_every_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A wide console, so that no name is folded whatever the terminal running the tests.
    monkeypatch.setattr(cli, "out", Console(width=200, soft_wrap=True))
    result = CliRunner().invoke(app, ["policy", "list"])
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert name in result.output


def test_policy_test_all_runs_every_embedded_test() -> None:
    result = CliRunner().invoke(app, ["policy", "test", "--all"])
    total = sum(len(library.resolve(n).tests) for n in NAMES)
    assert result.exit_code == 0, result.output
    assert f"{total} passed, 0 failed" in result.output


def test_performance_removes_the_debtor_from_the_list() -> None:
    case = PolicyCase.model_validate(
        {
            "name": "performance removes the debtor from the list (art. 10(1))",
            "as_of": "2026-06-01",
            "records": [
                {
                    "id": "g1",
                    "kind": "court.refuses_despite_ability",
                    "occurred_on": "2026-02-01",
                    "effective_on": "2026-03-10",
                },
                {"id": "p1", "kind": "court.obligation_performed", "occurred_on": "2026-05-01"},
            ],
            "expect": {"lists": []},
        }
    )
    result = run_case(library.resolve("court-debtor-list"), case)
    assert result.passed, result.failures
