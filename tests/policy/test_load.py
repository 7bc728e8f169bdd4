"""Loading policies: versions by date, inheritance, and errors that point at the line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from credence.errors import PolicyError
from credence.policy.load import load_policy, loads_policy

GOOD = """\
id: p
version: "1"
effective_from: 2025-01-01
scale: {base: 10, min: 0, max: 20}
grades:
  - {grade: low, min: 0, max: 9}
  - {grade: high, min: 10, max: 20}
categories: [{id: main}]
rules:
  - kind: fine
    category: main
    points: -2
    expires_after: P1Y
    legal_basis: Act s.1
    data_category: administrative
"""


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        loads_policy(text, "p.yaml")
    return info.value.problems


def test_a_good_policy_loads() -> None:
    p = loads_policy(GOOD, "p.yaml")
    assert p.id == "p"
    assert p.version_at(date(2025, 1, 1)) is p.versions[0]
    assert p.version_at(date(2024, 12, 31)) is None


def test_yaml_syntax_error_names_file_line_and_column() -> None:
    bad = GOOD.replace("points: -2", "points: [-2")
    [(loc, msg)] = problems(bad)
    assert loc.startswith("p.yaml:13:")
    assert msg.startswith("YAML syntax error")


def test_a_day_the_calendar_lacks_is_an_error_at_its_line_not_a_crash() -> None:
    bad = GOOD.replace("effective_from: 2025-01-01", "effective_from: 2025-02-30")
    assert problems(bad) == [
        ("p.yaml:3:17", "YAML syntax error: not a date: 2025-02-30 (day is out of range for month)")
    ]


def test_schema_error_names_the_field_path_line_and_expectation() -> None:
    bad = GOOD.replace("points: -2", "points: lots")
    found = problems(bad)
    assert found[0][0] == "p.yaml:12:13"
    assert found == [
        (
            "p.yaml:12:13",
            "rules.0.points: expected a whole number of points, a mapping {bands: [...]} or "
            "{each: N, per: AMOUNT}",
        )
    ]


def test_points_per_unit_load_and_bad_ones_name_the_field() -> None:
    ok = GOOD.replace("points: -2", "points: {each: -5, per: 1, cap: -40}")
    rule = loads_policy(ok, "p.yaml").versions[0].rules[0]
    assert rule.point_values() == [-5, -40]
    zero = GOOD.replace("points: -2", "points: {each: 0, per: 1}")
    assert problems(zero) == [("p.yaml:12:13", "rules.0.points: each must not be 0")]
    wrong_sign = GOOD.replace("points: -2", "points: {each: -5, per: 1, cap: 40}")
    [(loc, msg)] = problems(wrong_sign)
    assert loc == "p.yaml:12:13"
    assert "cap (40) must have the sign of each (-5)" in msg
    no_per = GOOD.replace("points: -2", "points: {each: -5, per: 0}")
    [(loc, msg)] = problems(no_per)
    assert msg.startswith("rules.0.points.per: ")
    typo = GOOD.replace("points: -2", "points: {each: -5, per: 1, capp: -9}")
    [(loc, msg)] = problems(typo)
    assert msg.startswith("rules.0.points.capp: ")


def test_unknown_field_is_an_error_not_ignored() -> None:
    bad = GOOD.replace("expires_after: P1Y", "expire_after: P1Y")
    [(loc, msg)] = problems(bad)
    assert loc == "p.yaml:13:19"
    assert (
        msg
        == "rules.0.expire_after: unknown field (check its spelling against the policy reference)"
    )


def test_missing_field() -> None:
    bad = GOOD.replace("    data_category: administrative\n", "")
    [(_, msg)] = problems(bad)
    assert msg == "rules.0.data_category: required field is missing"


def test_bad_duration() -> None:
    bad = GOOD.replace("P1Y", "one year")
    [(loc, msg)] = problems(bad)
    assert loc == "p.yaml:13:20"
    assert "ISO-8601" in msg


def test_grades_must_tile_the_scale() -> None:
    bad = GOOD.replace("{grade: high, min: 10, max: 20}", "{grade: high, min: 12, max: 20}")
    [(_, msg)] = problems(bad)
    assert "must meet without gap or overlap" in msg


def test_duplicate_keys_are_refused() -> None:
    bad = GOOD.replace("    points: -2\n", "    points: -2\n    points: -3\n")
    [(loc, msg)] = problems(bad)
    assert (loc, msg) == ("p.yaml:13:5", "duplicate key 'points'")


def test_rule_in_unknown_category() -> None:
    bad = GOOD.replace("category: main", "category: mian")
    [(_, msg)] = problems(bad)
    assert "category 'mian' is not one of ['main']" in msg


def test_every_problem_is_reported_at_once() -> None:
    bad = GOOD.replace("points: -2", "points: x").replace("expires_after: P1Y", "expires_after: 1")
    assert len(problems(bad)) == 2


MULTI = """\
id: p
versions:
  - version: "1"
    effective_from: 2025-01-01
    scale: {base: 10, min: 0, max: 20}
    grades:
      - {grade: low, min: 0, max: 9}
      - {grade: high, min: 10, max: 20}
    categories: [{id: main}]
    rules:
      - {kind: fine, category: main, points: -2, expires_after: P1Y, legal_basis: s.1, data_category: administrative}
      - {kind: tip, category: main, points: 1, legal_basis: s.2, data_category: administrative}
  - version: "2"
    effective_from: 2025-07-01
    rules:
      - {kind: fine, category: main, points: -1, expires_after: P6M, legal_basis: s.1a, data_category: administrative}
    remove_rules: [tip]
tests:
  - name: one fine
    as_of: 2025-03-01
    records: [{kind: fine, occurred_on: 2025-02-01}]
    expect: {score: 8}
"""


def test_versions_inherit_and_merge_rules_by_kind() -> None:
    p = loads_policy(MULTI, "m.yaml")
    v1, v2 = p.versions
    assert [r.kind for r in v1.rules] == ["fine", "tip"]
    assert [(r.kind, r.points) for r in v2.rules] == [("fine", -1)]
    assert v2.scale == v1.scale
    assert len(p.tests) == 1
    assert p.locate("2", "rules", "fine") == "m.yaml:16:9"
    assert p.locate("1", "rules", "tip") == "m.yaml:12:9"


def test_error_in_a_later_version_points_into_that_version() -> None:
    bad = MULTI.replace("points: -1", "points: minus")
    [(loc, msg)] = problems(bad)
    assert loc == "p.yaml:16:46"
    assert msg.startswith("versions.1.rules.0.points")


def test_two_versions_on_one_day_are_refused() -> None:
    bad = MULTI.replace("2025-07-01", "2025-01-01")
    [(_, msg)] = problems(bad)
    assert "start on the same day" in msg


def test_a_folder_of_version_files(tmp_path: Path) -> None:
    (tmp_path / "v1.yaml").write_text(GOOD)
    (tmp_path / "v2.yaml").write_text(
        GOOD.replace('version: "1"', 'version: "2"').replace("2025-01-01", "2026-01-01")
    )
    p = load_policy(tmp_path)
    assert [v.version for v in p.versions] == ["1", "2"]


def test_a_folder_mixing_policies_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(
        GOOD.replace("id: p", "id: q").replace("2025-01-01", "2026-01-01")
    )
    with pytest.raises(PolicyError, match="share one policy id"):
        load_policy(tmp_path)


def test_missing_file() -> None:
    with pytest.raises(PolicyError, match="no such file"):
        load_policy("/nonexistent/policy.yaml")


def test_categories_cannot_be_dropped_by_a_later_version() -> None:
    bad = MULTI.replace(
        "    remove_rules: [tip]\n", "    remove_rules: [tip]\n    categories: [{id: other}]\n"
    )
    bad = bad.replace(
        "{kind: fine, category: main, points: -1", "{kind: fine, category: other, points: -1"
    )
    [(_, msg)] = problems(bad)
    assert "drops categories ['main']" in msg
