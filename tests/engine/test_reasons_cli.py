"""`credence explain` shows the principal reasons and the way back (hand-computed, city-merit)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from credence.cli import app

CSV = """\
source,source_record_id,subject_id,kind,occurred_on,effective_on,recorded_at,amount,status,status_at
court,J-1,alice,legal.judgment_unfulfilled,2026-03-01,2026-04-01,2026-04-02T10:00:00Z,,,
tax_office,T-1,alice,financial.tax_arrears,2026-02-10,,,1500,,
"""
ARGS = ["explain", "-p", "city-merit", "--subject", "alice", "--as-of", "2026-06-01"]


def run(tmp_path: Path, *extra: str) -> str:
    path = tmp_path / "records.csv"
    path.write_text(CSV)
    result = CliRunner().invoke(app, [*ARGS, "-r", str(path), "--known-at", "2026-06-01", *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_explain_text_gives_the_reasons_and_the_way_back(tmp_path: Path) -> None:
    text = run(tmp_path)
    # 1000 - 100 - 30 = 870, grade B; A starts at 960: 90 points away. Without the judgment
    # alone the score is 970 (decisive); without the tax arrears 900.
    assert "  grade B (ends at score 960: 90 points away)\n" in text
    assert (
        "    1. [legal.judgment_unfulfilled] Court judgment not complied with: record court:J-1 "
        "of 2026-03-01, reported by court, -100 points; it stops counting on 2031-04-01. "
        "Weight 100, decisive; basis: Municipal Merit Ordinance 2026 art. 10(2); Civil Procedure "
        "Code art. 255\n"
    ) in text
    assert "    2. [financial.tax_arrears] Unpaid taxes: record tax_office:T-1" in text
    # The judgment runs five years from the day it became final (2026-04-01); the arrears
    # three years from the act. A comes back on 2031-04-01, or today if the objection to the
    # judgment succeeds: 1765 days sooner.
    assert "  grade A: on 2031-04-01 (score 1000, grade A) if nothing new is reported\n" in text
    assert "    sooner, on 2026-06-01 (score 970, grade A), with 1 action(s):\n" in text
    assert "(+100 points on 2026-06-01, 1765 days sooner alone)" in text
    # AA (1030) is out of reach: at most four volunteering credits a year of 5 points.
    assert "  grade AA: not with the records known if nothing new is reported\n" in text


def test_explain_json_carries_reasons_and_way_back(tmp_path: Path) -> None:
    doc = json.loads(run(tmp_path, "--format", "json"))
    [grade] = doc["reasons"]
    assert (grade["outcome"], grade["id"], grade["threshold"], grade["needed"]) == (
        "grade",
        "B",
        960,
        90,
    )
    assert [(r["code"], r["weight"], r["decisive"]) for r in grade["reasons"]] == [
        ("legal.judgment_unfulfilled", 100, True),
        ("financial.tax_arrears", 30, False),
    ]
    goals = {g["id"]: g for g in doc["way_back"]["goals"]}
    assert (goals["A"]["on"], goals["A"]["sooner_on"], goals["A"]["sooner_score"]) == (
        "2031-04-01",
        "2026-06-01",
        970,
    )
    assert [(a["action"], a["record_id"], a["days"]) for a in goals["A"]["actions"]] == [
        ("objection", "court:J-1", 1765)
    ]
    assert [(x["record_id"], x["expires_on"]) for x in doc["way_back"]["expiries"]] == [
        ("tax_office:T-1", "2029-02-10"),
        ("court:J-1", "2031-04-01"),
    ]
