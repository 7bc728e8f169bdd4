"""The policy book: every bundled policy's book is built (HTML and PDF), with each rule beside its
law in plain words, the versions' dates, the analysis and the worked examples."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from pathlib import Path

import pytest

from credence.book.content import book_of, work_example
from credence.book.write import render_html, write_book
from credence.policy import library
from credence.policy.load import load_policy

DATA = Path(__file__).parent / "data"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.parametrize("name", library.names())
def test_every_bundled_policy_has_a_book(name: str, tmp_path: Path) -> None:
    pol = library.resolve(name)
    files = write_book(pol, tmp_path)
    assert files.html == tmp_path / f"{pol.id}.html"
    assert files.pdf.read_bytes().startswith(b"%PDF-")
    assert b"/Type /Page" in files.pdf.read_bytes()
    text = text_of(files.html.read_text())
    for v in pol.versions:
        assert f"Version {v.version}" in text
        assert f"in force from {v.effective_from}" in text
        for rule in (*v.rules, *v.credits):
            assert rule.kind in text
            assert rule.legal_basis is not None and rule.legal_basis in text
        for m in v.measures:
            assert m.id in text
    # The bundled policies' own tests are worked examples, and every one passes.
    book = book_of(pol)
    assert [x.name for x in book.examples] == [t.name for t in pol.tests]
    assert [x.failures for x in book.examples if not x.passed] == []
    assert "(FAILS)" not in text
    assert "No findings." in text


def test_the_book_quotes_the_law_beside_each_element_in_plain_words() -> None:
    pol = load_policy(DATA / "book-quoted.yaml")
    book = book_of(pol)
    first, second = book.versions
    assert first.period == "in force from 2026-01-01 to 2026-06-30 (replaced on 2026-07-01)"
    assert second.period == "in force from 2026-07-01, until a later version replaces it"
    rule = next(e for e in first.entries if e.id == "offence")
    assert (rule.section, rule.citation) == ("rule", "Model Conduct Act s. 1(1)")
    assert rule.legal_text == (
        "Each offence shall be entered with two points, which are erased after 365 days."
    )
    assert rule.plain == (
        "A record of this kind adds +2 points to the conduct category, counted from the day of "
        "the act. It stops counting 365 days after the act."
    )
    stage = next(e for e in first.entries if e.section == "stage")
    assert stage.plain == (
        "Reached at a score of 4 or more. A notice is served (taken as delivered 3 days after "
        "issue). Then measure warning-letter applies."
    )
    measure = next(e for e in first.entries if e.section == "measure")
    assert measure.plain == (
        "A sanction in the conduct domain. It takes effect 14 days after its notice is served. "
        "It lasts 90 days. Appeal: Objection to the Model Authority within one month."
    )
    amended = next(e for e in second.entries if e.id == "offence")
    assert amended.citation == "Model Conduct Act s. 1(1), as amended"
    html = render_html(book)
    text = text_of(html)
    assert "“Each offence shall be entered with one point, which is erased after 365 days.”" in text
    assert "<blockquote>" in html


def test_a_worked_example_shows_the_records_the_expectation_and_the_computed_result() -> None:
    pol = load_policy(DATA / "book-quoted.yaml")
    x = work_example(pol, pol.tests[0])
    assert x.passed
    assert x.as_of == date(2026, 3, 1)
    assert x.records == (
        ("o1", "offence", "2026-01-10", ""),
        ("o2", "offence", "2026-02-10", ""),
    )
    assert x.expected == (("score", "4"), ("grade", "points"), ("stage", "warned"))
    assert x.computed == (
        ("score", "4"),
        ("grade", "points"),
        ("counted", "o1, o2"),
        ("stage", "warned"),
        ("notices_served", "warned"),
        ("measures_in_force", "warning-letter"),
    )


def test_a_failing_embedded_test_is_shown_as_failing() -> None:
    pol = load_policy(DATA / "book-quoted.yaml")
    case = pol.tests[1].model_copy(
        update={"expect": pol.tests[1].expect.model_copy(update={"score": 2})}
    )
    x = work_example(pol, case)
    assert not x.passed
    assert x.failures == ("score: expected 2, got 1",)


def test_the_book_of_a_defective_policy_shows_its_findings_with_counterexamples(
    tmp_path: Path,
) -> None:
    pol = load_policy(DATA / "cr206-jumpable-ladder.yaml")
    files = write_book(pol, tmp_path)
    text = text_of(files.html.read_text())
    assert "CR206" in text
    assert "stage reached warning with the notice of reminder not served" in text


def test_the_cli_writes_the_book(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from credence.cli import app

    shown = CliRunner().invoke(app, ["policy", "book", "licence-demerit", "--out", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.split() == [
        str(tmp_path / "licence-demerit.html"),
        str(tmp_path / "licence-demerit.pdf"),
    ]


def test_without_a_unicode_font_the_pdf_falls_back_to_latin_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import credence.book.write as write

    monkeypatch.setattr(write, "_FONTS", tmp_path / "no-fonts")
    pol = load_policy(DATA / "book-quoted.yaml")
    book = book_of(pol)
    path = tmp_path / "book.pdf"
    write.render_pdf(book, path)  # the quotes “ ” are outside Latin-1: replaced, not an error
    assert path.read_bytes().startswith(b"%PDF-")
    assert b"/Helvetica" in path.read_bytes()
