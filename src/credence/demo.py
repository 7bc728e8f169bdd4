"""``credence demo``: the bundled merit scheme over the bundled sample records."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from credence.engine.reference import evaluate
from credence.ingest.formats import read_rows
from credence.policy import library
from credence.policy.lint import lint
from credence.records import Record

SAMPLE = Path(__file__).parent / "data" / "sample-records.csv"


def run_demo(console: Console, as_of: date) -> None:
    """Lint and test the policy, score every sample subject, explain the most affected one."""
    from credence.cli import render_explanation
    from credence.engine.spec import run_all

    policy = library.resolve("city-merit")
    findings = lint(policy)
    console.print(
        f"[bold]Policy[/bold] {policy.id}: {len(policy.versions)} version(s), "
        f"{sum(f.severity == 'error' for f in findings)} lint error(s)"
    )
    results = run_all(policy)
    console.print(
        f"Embedded tests: {sum(r.passed for r in results)} passed, "
        f"{sum(not r.passed for r in results)} failed"
    )
    by_subject: dict[str, list[Record]] = defaultdict(list)
    rejected = 0
    for row in read_rows(SAMPLE):
        if row.record is None:
            rejected += 1
            for e in row.errors:
                console.print(
                    f"  rejected {SAMPLE.name}:{e.line}: field {e.field!r}: {e.reason}",
                    highlight=False,
                    markup=False,
                )
        else:
            by_subject[row.record.subject_id].append(row.record)
    console.print(
        f"Records: {sum(map(len, by_subject.values()))} accepted, {rejected} rejected "
        f"(named above), {len(by_subject)} subjects with records"
    )
    assessments = [evaluate(policy, recs, as_of, as_of) for recs in by_subject.values()]
    grades = Counter(a.grade for a in assessments)
    version = policy.version_at(as_of) or policy.latest
    table = Table(title=f"Grade distribution on {as_of}")
    table.add_column("grade")
    table.add_column("subjects", justify="right")
    for band in sorted(version.grades, key=lambda g: -g.min):
        table.add_row(band.grade, str(grades.get(band.grade, 0)))
    console.print(table)
    listed = Counter(s.list_id for a in assessments for s in a.lists if s.criteria_met)
    for list_id, n in sorted(listed.items()):
        console.print(f"List criteria met: {list_id}: {n} subject(s)")
    worst = min(assessments, key=lambda a: (a.score, a.subject_id))
    console.print("")
    console.print(render_explanation(worst), highlight=False, markup=False)
    console.print(
        "\nTry: credence explain --policy city-merit "
        f"--records {SAMPLE} --subject {worst.subject_id} --as-of {as_of}",
        highlight=False,
        markup=False,
    )
