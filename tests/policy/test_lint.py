"""The linter: one bad policy per refusal code, with its location."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from credence.cli import app
from credence.policy.lint import CODES, lint
from credence.policy.load import loads_policy
from tests.builders import base_policy, policy, rule

SANCTION = {
    "id": "ban",
    "domain": "main",
    "legal_basis": "Act s.8",
    "notice_period": "P14D",
    "appeal_route": "Court",
}
LADDER = {"ladder": [{"id": "s1", "threshold": 50, "measure": "ban"}]}


def codes(doc: dict[str, Any], profile: str = "default") -> list[tuple[str, str]]:
    # CR012 (missing titles) is tested on its own below; these small policies have none.
    found = lint(policy(doc), profile)  # type: ignore[arg-type]
    return [(f.code, f.severity) for f in found if f.code != "CR012"]


def test_the_base_policy_is_clean() -> None:
    assert codes(base_policy()) == []
    assert codes(base_policy(measures=[SANCTION], stages=LADDER)) == []


def test_cr001_rule_without_legal_basis() -> None:
    r = rule("fine", -10, "P1Y")
    del r["legal_basis"]
    assert codes(base_policy(rules=[r])) == [("CR001", "error")]


def test_cr001_blank_legal_basis_and_measure_without_basis() -> None:
    m = {**SANCTION}
    del m["legal_basis"]
    doc = base_policy(
        rules=[rule("fine", -10, "P1Y", legal_basis="  ")], measures=[m], stages=LADDER
    )
    assert codes(doc) == [("CR001", "error"), ("CR001", "error")]


def test_cr002_negative_rule_without_expiry() -> None:
    assert codes(base_policy(rules=[rule("fine", -10, None)])) == [("CR002", "error")]


def test_cr002_demerit_points_are_negative_for_the_subject() -> None:
    doc = base_policy(direction="higher_is_worse", rules=[rule("offence", 3, None)])
    assert codes(doc) == [("CR002", "error")]


def test_cr002_a_harmful_band_needs_expiry() -> None:
    bands = {"bands": [{"at_least": 0, "points": 5}, {"at_least": 100, "points": -5}]}
    assert codes(base_policy(rules=[rule("mixed", bands, None)])) == [("CR002", "error")]


def test_cr002_blacklist_without_duration() -> None:
    lst = {
        "id": "bl",
        "type": "blacklist",
        "entry": {"grades": ["C"]},
        "notice_period": "P30D",
        "legal_basis": "Act s.9",
        "appeal_route": "Court",
    }
    assert codes(base_policy(lists=[lst])) == [("CR002", "error")]


@pytest.mark.parametrize(
    "category",
    [
        "health",
        "religion",
        "political_opinion",
        "trade_union",
        "ethnic_origin",
        "biometric",
        "genetic",
        "sexual_orientation",
        "sex_life",
        "Trade-Union",
    ],
)
def test_cr003_special_categories(category: str) -> None:
    doc = base_policy(rules=[rule("x", -1, "P1Y", data_category=category)])
    assert codes(doc) == [("CR003", "error")]


@pytest.mark.parametrize("scope", ["family", "household", "contacts", "employer"])
def test_cr004_another_subjects_records(scope: str) -> None:
    doc = base_policy(rules=[rule("relative_debt", -10, "P1Y", scope=scope)])
    assert codes(doc) == [("CR004", "error")]


def test_cr005_measure_without_notice_period() -> None:
    m = {**SANCTION}
    del m["notice_period"]
    assert codes(base_policy(measures=[m], stages=LADDER)) == [("CR005", "error")]


def test_cr005_blacklist_without_notice_period() -> None:
    lst = {
        "id": "bl",
        "type": "blacklist",
        "entry": {"grades": ["C"]},
        "duration": "P1Y",
        "legal_basis": "Act s.9",
        "appeal_route": "Court",
    }
    assert codes(base_policy(lists=[lst])) == [("CR005", "error")]


def test_cr006_measure_without_appeal_route() -> None:
    m = {**SANCTION}
    del m["appeal_route"]
    assert codes(base_policy(measures=[m], stages=LADDER)) == [("CR006", "error")]


def test_a_reward_needs_no_notice_or_appeal() -> None:
    reward = {"id": "perk", "type": "reward", "domain": "main", "legal_basis": "Act s.12"}
    lst = {
        "id": "red",
        "type": "redlist",
        "entry": {"grades": ["A"]},
        "measures": ["perk"],
        "legal_basis": "Act s.12",
    }
    assert codes(base_policy(measures=[reward], lists=[lst])) == []


def _joint(basis: str | None) -> dict[str, Any]:
    m = {**SANCTION, "domain": "transport"}
    if basis:
        m["cross_domain_basis"] = basis
    lst = {
        "id": "bl",
        "type": "blacklist",
        "entry": {"record_kinds": ["fine"]},
        "notice_period": "P30D",
        "duration": "P1Y",
        "legal_basis": "Act s.9",
        "appeal_route": "Court",
        "measures": ["ban"],
    }
    return base_policy(measures=[m], lists=[lst])


def test_cr007_cross_domain_measure_without_its_own_basis() -> None:
    assert codes(_joint(None)) == [("CR007", "error")]


def test_cr008_joint_measure_is_flagged_by_default_and_refused_under_eu() -> None:
    assert codes(_joint("Transport Act s.3")) == [("CR008", "warning")]
    assert codes(_joint("Transport Act s.3"), "eu") == [("CR008", "error")]


def test_cr009_eu_needs_human_review_of_score_driven_measures() -> None:
    doc = base_policy(measures=[SANCTION], stages=LADDER)
    assert codes(doc, "eu") == [("CR009", "error")]
    reviewed = base_policy(measures=[{**SANCTION, "human_review": True}], stages=LADDER)
    assert codes(reviewed, "eu") == []


def test_cr010_kind_name_suggesting_a_special_category_is_a_warning() -> None:
    assert codes(base_policy(rules=[rule("clinic.health_visit", 5, None)])) == [
        ("CR010", "warning")
    ]


def test_cr011_a_reason_that_names_no_conduct_is_refused() -> None:
    vague = rule("fine", -10, "P1Y", reason="Did not meet our internal standards")
    assert codes(base_policy(rules=[vague])) == [("CR011", "error")]
    titled = rule("fine", -10, "P1Y", title="Insufficient score")
    assert codes(base_policy(rules=[titled])) == [("CR011", "error")]
    named = rule("fine", -10, "P1Y", reason="Parked in a disabled bay", title="Policy breach")
    assert codes(base_policy(rules=[named])) == []  # the reason, not the title, is given


def test_cr012_what_people_read_needs_words() -> None:
    m = {**SANCTION}
    doc = base_policy(rules=[rule("fine", -10, "P1Y", sources=["court"])], measures=[m])
    p = policy({**doc, "stages": LADDER})
    found = sorted(f.message for f in lint(p) if f.code == "CR012")
    assert found == [
        "measure 'ban' has no title [version 1]",
        "record kind 'fine' has no title [version 1]",
        "source 'court' has no name in source_names [version 1]",
        "stage 's1' has no title [version 1]",
    ]
    assert {f.severity for f in lint(p) if f.code == "CR012"} == {"warning"}
    m["title"] = "Ban from the service"
    named = base_policy(
        rules=[rule("fine", -10, "P1Y", sources=["court"], title="Fine")],
        measures=[m],
        source_names={"court": "Court"},
        stages={"ladder": [{"id": "s1", "threshold": 50, "measure": "ban", "title": "Warning"}]},
    )
    assert [f for f in lint(policy(named)) if f.code == "CR012"] == []


def test_cr012_every_bundled_policy_has_its_words() -> None:
    from credence.policy import library

    for name in library.names():
        assert [str(f) for f in lint(library.resolve(name)) if f.code == "CR012"] == [], name


def test_cr020_month_and_year_periods_need_a_declared_rounding() -> None:
    undeclared = {k: v for k, v in base_policy().items() if k != "calendar"}
    # P1Y on the fine (29 February) and the default review periods in days (no finding).
    assert codes(undeclared) == [("CR020", "error")]
    assert (
        codes({**undeclared, "rules": [rule("fine", -10, {"steps": ["P1M"], "round": "up"})]}) == []
    )
    assert codes(base_policy(calendar={"round": "up"})) == []
    (found,) = [f for f in lint(policy(undeclared)) if f.code == "CR020"]
    assert found.message.startswith("rule 'fine' expires_after P1Y can land on a day its month")


def test_every_code_is_tested_here() -> None:
    tested = {name.split("_")[1].upper() for name in globals() if name.startswith("test_cr")}
    assert tested == set(CODES)


BAD_FILE = """\
id: bad
version: "1"
effective_from: 2025-01-01
scale: {base: 10, min: 0, max: 20}
grades: [{grade: all, min: 0, max: 20}]
categories: [{id: main}]
rules:
  - kind: ok
    title: A good deed
    category: main
    points: 1
    legal_basis: Act s.1
    data_category: administrative
  - kind: faith
    title: Faith
    category: main
    points: -1
    data_category: religion
"""


def test_findings_carry_file_line_and_column(tmp_path: Any) -> None:
    p = loads_policy(BAD_FILE, "bad.yaml")
    assert [str(f) for f in lint(p)] == [
        "bad.yaml:14:5: CR001 error: rule 'faith' has no legal_basis [version 1]",
        "bad.yaml:14:5: CR002 error: negative rule 'faith' has no expires_after [version 1]",
        "bad.yaml:14:5: CR003 error: rule 'faith' uses data_category 'religion', a special "
        "category (GDPR Art. 9) that no indicator may use [version 1]",
    ]


def test_cli_lint_exits_1_on_errors(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FILE)
    result = CliRunner().invoke(app, ["policy", "lint", str(path)])
    assert result.exit_code == 1
    assert "CR003 error" in result.output
    assert "bad: 3 error(s), 0 warning(s) (profile default)" in result.output
    ok = CliRunner().invoke(app, ["policy", "lint", "city-merit", "--profile", "eu"])
    assert ok.exit_code == 0, ok.output
