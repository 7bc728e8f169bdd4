"""The command line as a user drives it: exact outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from credence.cli import app

RUN = CliRunner()

CSV = """\
source,source_record_id,subject_id,kind,occurred_on,effective_on,recorded_at,amount,status,status_at
court,J-1,alice,legal.judgment_unfulfilled,2026-03-01,2026-04-01,2026-04-02T10:00:00Z,,,
tax_office,T-1,alice,financial.tax_arrears,2026-02-10,,,1500,,
bank,L-1,bob,financial.loan_default,2026-13-01,,,,,
bank,L-2,bob,financial.loan_default,2026-02-01,,,,revoked,2026-03-01
city_hall,A-1,carol,civic.award,2026-04-20,,,,,
"""


def write(tmp_path: Path, text: str = CSV, name: str = "records.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_score_json_with_a_rejected_row(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = RUN.invoke(
        app,
        [
            "score",
            "-p",
            "city-merit",
            "-r",
            str(path),
            "--as-of",
            "2026-06-01",
            "--known-at",
            "2026-06-01",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1  # a row was rejected: reported, never silently dropped
    assert "records.csv:4: field 'occurred_on': '2026-13-01' is not a valid date" in result.stderr
    assert "1 row(s) rejected; the other 4 were used." in result.stderr
    rows = {r["subject_id"]: r for r in json.loads(result.stdout)}
    assert {k: (v["score"], v["grade"]) for k, v in rows.items()} == {
        "alice": (870, "B"),  # 1000 - 100 (judgment) - 30 (arrears of 1500)
        "bob": (1000, "A"),  # the loan default was revoked
        "carol": (1030, "AA"),  # +30 award
    }
    assert rows["alice"]["categories"] == {"civic": 0, "financial": -30, "legal": -100}
    assert rows["alice"]["policy_version"] == "2026.1"


def test_score_csv_and_one_subject(tmp_path: Path) -> None:
    path = write(tmp_path, CSV.replace("bank,L-1,bob,financial.loan_default,2026-13-01,,,,,\n", ""))
    result = RUN.invoke(
        app,
        [
            "score",
            "-p",
            "city-merit",
            "-r",
            str(path),
            "--as-of",
            "2026-06-01",
            "--known-at",
            "2026-06-01",
            "--format",
            "csv",
            "--subject",
            "carol",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "subject_id,score,grade,policy_version,as_of,known_at,lists\n"
        "carol,1030,AA,2026.1,2026-06-01,2026-06-01,\n"
    )


def test_score_table_shows_the_grade_distribution(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = RUN.invoke(
        app, ["score", "-p", "city-merit", "-r", str(path), "--as-of", "2026-06-01"]
    )
    assert "Grade distribution" in result.stdout
    assert "alice" in result.stdout and "870" in result.stdout


def test_known_at_excludes_later_reports(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = RUN.invoke(
        app,
        [
            "score",
            "-p",
            "city-merit",
            "-r",
            str(path),
            "--as-of",
            "2026-04-01",
            "--known-at",
            "2026-04-01",
            "--format",
            "csv",
            "--subject",
            "alice",
        ],
    )
    # the judgment became final on 04-01 but was recorded on 04-02: not known yet
    assert "alice,970,A," in result.stdout


def test_explain_text_names_basis_expiry_and_what_is_ahead(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = RUN.invoke(
        app,
        [
            "explain",
            "-p",
            "city-merit",
            "-r",
            str(path),
            "--subject",
            "alice",
            "--as-of",
            "2026-06-01",
            "--known-at",
            "2026-06-01",
        ],
    )
    text = result.stdout
    assert "Score 870, grade B (base 1000)" in text
    assert (
        "-100  legal.judgment_unfulfilled [court:J-1] from court, occurred 2026-03-01; legal; "
        "rule version 2026.1; expires 2031-04-01; basis: Municipal Merit Ordinance 2026 art. "
        "10(2); Civil Procedure Code art. 255"
    ) in text
    assert "2029-02-10: tax_office:T-1 expires -> score 900, grade B" in text
    assert "2031-04-01: court:J-1 expires -> score 1000, grade A" in text


def test_explain_json_shape(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = RUN.invoke(
        app,
        [
            "explain",
            "-p",
            "city-merit",
            "-r",
            str(path),
            "--subject",
            "bob",
            "--as-of",
            "2026-06-01",
            "--known-at",
            "2026-06-01",
            "--format",
            "json",
        ],
    )
    doc = json.loads(result.stdout)
    assert set(doc) == {
        "subject_id",
        "policy_id",
        "policy_version",
        "as_of",
        "known_at",
        "score",
        "grade",
        "base",
        "categories",
        "contributions",
        "adjustments",
        "not_counted",
        "lists",
        "stages",
        "changes_ahead",
        "listings",
        "reasons",
        "way_back",
    }
    assert doc["not_counted"] == [
        {"record_id": "bank:L-2", "kind": "financial.loan_default", "reason": "status revoked"}
    ]


def test_explain_a_staged_policy_shows_the_timeline(tmp_path: Path) -> None:
    text = (
        "source,source_record_id,subject_id,kind,occurred_on\n"
        "court,C1,dave,traffic.offence_criminal,2026-02-01\n"
        "court,C2,dave,traffic.offence_criminal,2026-03-01\n"
    )
    path = write(tmp_path, text)
    result = RUN.invoke(
        app,
        [
            "explain",
            "-p",
            "licence-demerit",
            "-r",
            str(path),
            "--subject",
            "dave",
            "--as-of",
            "2026-04-01",
            "--known-at",
            "2026-04-01",
        ],
    )
    out = result.stdout
    assert "Score 5, grade reminder (base 0)" in out
    assert "-1  stage_clamp: stage reminder was reached without its notice served" in out
    assert "notice reminder: issued 2026-03-01, served 2026-03-04, served" in out


def test_unknown_column_is_refused_with_its_name(tmp_path: Path) -> None:
    path = write(tmp_path, "source,source_record_id,subject_id,kind,ocurred_on\n")
    result = RUN.invoke(
        app, ["score", "-p", "city-merit", "-r", str(path), "--as-of", "2026-06-01"]
    )
    assert result.exit_code == 2
    assert "line 1: field 'ocurred_on': unknown column" in result.stderr


def test_bad_policy_path_is_reported() -> None:
    result = RUN.invoke(app, ["policy", "lint", "/no/such.yaml"])
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr


def test_policy_schema_is_json_schema() -> None:
    result = RUN.invoke(app, ["policy", "schema"])
    schema = json.loads(result.stdout)
    assert schema["title"] == "PolicyVersion"
    assert {"rules", "grades", "stages", "credits", "lists", "measures"} <= set(
        schema["properties"]
    )


def test_policy_test_reports_counts_and_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    ok = RUN.invoke(app, ["policy", "test", "licence-demerit"])
    assert ok.exit_code == 0
    assert ok.stdout.strip().endswith("9 passed, 0 failed")
    from credence.policy.library import path_of

    broken = (
        path_of("licence-demerit")
        .read_text()
        .replace("expect: {score: 0, grade: clear, counted: []}", "expect: {score: 1}")
    )
    bad = write(tmp_path, broken, "broken.yaml")
    result = RUN.invoke(app, ["policy", "test", str(bad)])
    assert result.exit_code == 1
    assert "score: expected 1, got 0" in result.stdout
    assert result.stdout.strip().endswith("8 passed, 1 failed")


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    # The demo's cost is per due-process step: a small city, monthly runs, one year.
    args = ["demo", "--population", "500", "--years", "1", "--step", "28", "--data", str(folder)]
    result = RUN.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "2. Simulation: 500 people over 1 year (2026-01-01 to 2026-12-31)" in out
    assert "3. Ingest:" in out and " 0 rejected" in out
    assert "4. Grades on 2026-12-31 (batch evaluator, DuckDB" in out
    assert "5. Due process: 14 4-weekly runs" in out  # 13 and the last day
    assert "6. Baseline: the same city with no notice periods and no objections" in out
    assert "Ready-made sign-ins" in out and "credence principal add" in out
    assert (folder / "reports" / "city-demo" / "report.html").exists()
    assert (folder / "credence.db").exists()
    # a second run recreates its own folder (the baseline is not what this checks)
    again = RUN.invoke(app, [*args, "--no-baseline", "--population", "100"])
    assert again.exit_code == 0, again.output
    assert "6. Baseline" not in again.stdout
    assert not (folder / "baseline").exists()
    # a foreign folder is never deleted
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    refused = RUN.invoke(
        app, ["demo", "--population", "100", "--years", "1", "--data", str(foreign)]
    )
    assert refused.exit_code == 2
    assert (foreign / "keep.txt").exists()
