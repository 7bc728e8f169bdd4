"""The ``credence`` command line."""

from __future__ import annotations

import io
import json
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from credence import __version__, csvsafe
from credence.engine.assessment import Assessment
from credence.engine.reference import evaluate
from credence.engine.spec import run_all
from credence.engine.timeline import Decisions
from credence.errors import CredenceError, RecordError
from credence.ingest.formats import read_rows
from credence.policy import library
from credence.policy.analyze import analyze
from credence.policy.lint import lint
from credence.policy.load import PolicySet
from credence.policy.model import PolicyVersion
from credence.records import Record

app = typer.Typer(
    name="credence",
    help="Credence: declarative scoring policies with explanations, notice and appeal.",
    no_args_is_help=True,
    add_completion=False,
)
policy_app = typer.Typer(help="Write, check and test policies.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

PolicyOpt = Annotated[
    str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled policy name.")
]
RecordsOpt = Annotated[Path, typer.Option("--records", "-r", help="CSV, JSONL or Parquet file.")]
AsOfOpt = Annotated[
    str, typer.Option("--as-of", help="Day the situation is judged at (YYYY-MM-DD).")
]
KnownOpt = Annotated[
    str | None,
    typer.Option("--known-at", help="What the system knew by this day (default: today)."),
]


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


def _policy(name: str) -> PolicySet:
    try:
        return library.resolve(name)
    except CredenceError as exc:
        err.print(f"[red]{exc}[/red]", markup=True, highlight=False)
        raise typer.Exit(2) from None


def _records(path: Path) -> tuple[list[Record], list[RecordError]]:
    good: list[Record] = []
    bad: list[RecordError] = []
    try:
        for row in read_rows(path):
            if row.record is not None:
                good.append(row.record)
            else:
                bad.extend(row.errors)
    except RecordError as exc:
        err.print(f"{path}: {exc}", highlight=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"{path}: cannot read: {exc}", highlight=False)
        raise typer.Exit(2) from None
    for e in bad:
        err.print(f"{path}:{e.line}: field {e.field!r}: {e.reason}", highlight=False, markup=False)
    if bad:
        lines = len({e.line for e in bad})
        err.print(f"{lines} row(s) rejected; the other {len(good)} were used.", highlight=False)
    return good, bad


def _known(as_of: date, known_at: str | None) -> date:
    if known_at is None:
        return max(as_of, date.today())
    return _day(known_at, "--known-at")


@app.command()
def score(
    policy: PolicyOpt,
    records: RecordsOpt,
    as_of: AsOfOpt,
    known_at: KnownOpt = None,
    subject: Annotated[str | None, typer.Option(help="Score only this subject.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Score every subject in a records file (or one) at a date; exit 1 if rows were rejected."""
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("use table, json or csv", param_hint="--format")
    pol = _policy(policy)
    day = _day(as_of, "--as-of")
    known = _known(day, known_at)
    good, bad = _records(records)
    by_subject: dict[str, list[Record]] = defaultdict(list)
    for r in good:
        by_subject[r.subject_id].append(r)
    if subject is not None:
        by_subject = {subject: by_subject.get(subject, [])}
    results: list[Assessment] = []
    try:
        for sid in sorted(by_subject):
            results.append(evaluate(pol, by_subject[sid], day, known, subject_id=sid))
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    if fmt == "json":
        sys.stdout.write(json.dumps([_summary(a) for a in results], indent=2) + "\n")
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csvsafe.writer(buf, lineterminator="\n")
        writer.writerow(
            ["subject_id", "score", "grade", "policy_version", "as_of", "known_at", "lists"]
        )
        for a in results:
            lists = ";".join(s.list_id for s in a.lists if s.criteria_met)
            writer.writerow(
                [a.subject_id, a.score, a.grade, a.policy_version, a.as_of, a.known_at, lists]
            )
        sys.stdout.write(buf.getvalue())
    else:
        _score_table(pol, results)
    if bad:
        raise typer.Exit(1)


def _summary(a: Assessment) -> dict[str, object]:
    return {
        "subject_id": a.subject_id,
        "policy_id": a.policy_id,
        "policy_version": a.policy_version,
        "as_of": a.as_of.isoformat(),
        "known_at": a.known_at.isoformat(),
        "score": a.score,
        "grade": a.grade,
        "categories": a.category_totals(),
        "lists": [s.list_id for s in a.lists if s.criteria_met],
        "stage": a.stages.effective if a.stages else None,
    }


def _score_table(pol: PolicySet, results: list[Assessment]) -> None:
    table = Table(title=f"{pol.id}: {len(results)} subject(s)")
    for col in ("subject", "score", "grade", "lists", "stage"):
        table.add_column(col, justify="right" if col == "score" else "left")
    for a in results:
        lists = ", ".join(s.list_id for s in a.lists if s.criteria_met)
        stage = (a.stages.effective or "") if a.stages else ""
        table.add_row(a.subject_id, str(a.score), a.grade, lists, stage)
    out.print(table)
    version = pol.version_at(results[0].as_of) if results else None
    if version is not None:
        _distribution(version, results)


def _distribution(version: PolicyVersion, results: list[Assessment]) -> None:
    counts = Counter(a.grade for a in results)
    table = Table(title="Grade distribution")
    table.add_column("grade")
    table.add_column("band")
    table.add_column("subjects", justify="right")
    table.add_column("share", justify="right")
    total = max(len(results), 1)
    for band in sorted(version.grades, key=lambda g: g.min, reverse=version.higher_is_better):
        n = counts.get(band.grade, 0)
        table.add_row(band.grade, f"{band.min}–{band.max}", str(n), f"{100 * n / total:.1f}%")
    out.print(table)


@app.command()
def explain(
    policy: PolicyOpt,
    subject: Annotated[str, typer.Option(help="The subject to explain.")],
    as_of: AsOfOpt,
    records: Annotated[
        Path | None, typer.Option("--records", "-r", help="CSV, JSONL or Parquet file.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Read the subject from this store instead of --records."),
    ] = None,
    purpose: Annotated[
        str | None, typer.Option(help="With --data: why you read this subject's data (logged).")
    ] = None,
    known_at: KnownOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Explain one subject's score: each contribution, its legal basis, expiry, what is ahead."""
    if fmt not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--format")
    if (records is None) == (data is None):
        raise typer.BadParameter("give either --records or --data", param_hint="--records")
    pol = _policy(policy)
    day = _day(as_of, "--as-of")
    known = _known(day, known_at)
    bad: list[RecordError] = []
    decisions = None
    if records is not None:
        good, bad = _records(records)
        mine = [r for r in good if r.subject_id == subject]
    else:
        if not purpose:
            raise typer.BadParameter("a read of the store needs --purpose", param_hint="--purpose")
        mine, decisions = _stored(data, subject, pol, known, purpose)
    try:
        a = evaluate(pol, mine, day, known, subject_id=subject, decisions=decisions, way_back=True)
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    if fmt == "json":
        sys.stdout.write(json.dumps(a.to_dict(), indent=2) + "\n")
    else:
        out.print(render_explanation(a), highlight=False, markup=False)
    if bad:
        raise typer.Exit(1)


def _stored(
    data: Path | None, subject: str, pol: PolicySet, known: date, purpose: str
) -> tuple[list[Record], Decisions]:
    """A subject's inputs as the store knew them at the end of ``known`` (a logged read)."""
    from credence.audit.access import Access
    from credence.commands.options import _actor, _session
    from credence.store.reader import inputs_of

    access = Access(_actor(None), "operator", purpose)
    with _session(data) as (store, session):
        got = inputs_of(session, store.keys, [subject], known, access=access, policy_id=pol.id)
        session.commit()
    return got[subject].records, got[subject].decisions


def render_explanation(a: Assessment) -> str:
    """A plain-text explanation a rated person can read."""
    lines = [
        f"Subject {a.subject_id} under {a.policy_id} version {a.policy_version}",
        f"as of {a.as_of}, as known at {a.known_at}",
        f"Score {a.score}, grade {a.grade}" + (f" (base {a.base})" if a.base is not None else ""),
        "",
        "Contributions:",
    ]
    if not a.contributions:
        lines.append("  (none)")
    for c in a.contributions:
        expiry = f"expires {c.expires_on}" if c.expires_on else "does not expire"
        lm = ", more lenient later version" if c.lex_mitior else ""
        lines.append(
            f"  {c.points:+d}  {c.kind} [{c.record_id}] from {c.source}, occurred {c.occurred_on}; "
            f"{c.category}; rule version {c.rule_version}{lm}; {expiry}; basis: {c.legal_basis}"
        )
    for adj in a.adjustments:
        lines.append(f"  {adj.points:+d}  {adj.type}: {adj.reason}")
    lines += ["", "Category totals:"]
    for cat in a.categories:
        norm = f" (normalised {cat.normalised})" if cat.normalised else ""
        lines.append(f"  {cat.category}: {cat.total:+d} (sum {cat.raw:+d}){norm}")
    if a.not_counted:
        lines += ["", "Records that do not count:"]
        lines += [f"  {n.record_id} {n.kind}: {n.reason}" for n in a.not_counted]
    if a.lists:
        lines += ["", "Lists:"]
        for s in a.lists:
            state = "criteria met" if s.criteria_met else "criteria not met"
            ev = f" (records {', '.join(s.evidence)})" if s.evidence else ""
            lines.append(f"  {s.list_id} ({s.type}): {state}{ev}")
    if a.listings:
        lines += ["", "Listings:"]
        for e in a.listings:
            parts = [f"  {e.list_id}: {e.status}"]
            if e.noticed_on:
                served = f", served {e.served_on}" if e.served_on else ", not served"
                parts.append(f"notice {e.noticed_on}{served}, deadline {e.deadline}")
            if e.listed_on:
                parts.append(f"listed {e.listed_on}" + (f" until {e.until}" if e.until else ""))
            if e.removed_on:
                parts.append(f"ended {e.removed_on}: {e.reason}")
            lines.append("; ".join(parts))
            for carried in e.measures:
                lines.append(f"    measure {carried.measure}: {carried.status}")
    if a.stages is not None:
        st = a.stages
        lines += ["", f"Stage reached: {st.reached or 'none'}; in effect: {st.effective or 'none'}"]
        for n in st.notices:
            served = f"served {n.served_on}" if n.served_on else "not served"
            deadline = f", deadline {n.deadline}" if n.deadline else ""
            lines.append(
                f"  notice {n.stage}: issued {n.issued_on}, {served}, {n.status}{deadline}"
            )
        for m in st.measures:
            span = f" from {m.in_force_from}" if m.in_force_from else ""
            until = f" until {m.until}" if m.until else ""
            lines.append(f"  measure {m.measure}: {m.status}{span}{until}")
        if st.events:
            lines.append("  timeline:")
            lines += [f"    {e.on} {e.event}: {e.detail}" for e in st.events]
    lines += _reasons_lines(a)
    if a.changes_ahead:
        lines += ["", "Changes ahead (if nothing new is reported):"]
        lines += [
            f"  {c.on}: {c.reason} -> score {c.score}, grade {c.grade}" for c in a.changes_ahead
        ]
    return "\n".join(lines)


def _reasons_lines(a: Assessment) -> list[str]:
    """The principal reasons of each adverse outcome and the way back, as text."""
    lines: list[str] = []
    if a.reasons:
        lines += ["", "Principal reasons:"]
    for o in a.reasons:
        gate = f" (ends at score {o.threshold}: {o.needed} points away)" if o.needed else ""
        lines.append(f"  {o.outcome} {o.id}{gate}")
        for r in o.reasons:
            decisive = ", decisive" if r.decisive else ""
            lines.append(
                f"    {r.rank}. [{r.code}] {r.text} Weight {r.weight}{decisive}; "
                f"basis: {r.legal_basis}"
            )
    wb = a.way_back
    if wb is None or not (wb.expiries or wb.goals):
        return lines
    lines += ["", "The way back:"]
    for x in wb.expiries:
        lines.append(f"  {x.record_id} ({x.kind}, {x.points:+d}) stops counting on {x.expires_on}")
    for g in wb.goals:
        what = f"grade {g.id}" if g.goal == "grade" else f"off {g.goal} {g.id}"
        when = (
            f"on {g.on} (score {g.score_on}, grade {g.grade_on})"
            if g.on
            else "not with the records known"
        )
        lines.append(f"  {what}: {when} if nothing new is reported")
        if g.sooner_on is not None:
            lines.append(
                f"    sooner, on {g.sooner_on} (score {g.sooner_score}, grade {g.sooner_grade}), "
                f"with {len(g.actions)} action(s):"
            )
            for act in g.actions:
                days = f", {act.days} days sooner alone" if act.days else ""
                lines.append(f"      {act.text} ({act.points:+d} points on {act.on}{days})")
    return lines


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of a policy version."""
    sys.stdout.write(json.dumps(PolicyVersion.model_json_schema(), indent=2) + "\n")


@policy_app.command("lint")
def policy_lint(
    file: Annotated[str, typer.Argument(help="Policy file or folder, or a bundled name.")],
    profile: Annotated[str, typer.Option(help="default or eu.")] = "default",
    analysis: Annotated[
        bool,
        typer.Option(
            "--analysis/--no-analysis",
            help="Also show the findings of `policy analyze` (skipped while errors remain).",
        ),
    ] = True,
) -> None:
    """Check a policy against the lines Credence does not cross; exit 1 on any error."""
    if profile not in ("default", "eu"):
        raise typer.BadParameter("use default or eu", param_hint="--profile")
    pol = _policy(file)
    findings = lint(pol, "eu" if profile == "eu" else "default")
    if analysis and not any(f.severity == "error" for f in lint(pol)):
        findings += analyze(pol).lint_findings()
    for f in findings:
        out.print(str(f), highlight=False, markup=False)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    out.print(
        f"{pol.id}: {errors} error(s), {warnings} warning(s) (profile {profile})",
        highlight=False,
        markup=False,
    )
    if errors:
        raise typer.Exit(1)


@policy_app.command("analyze")
def policy_analyze(
    file: Annotated[str, typer.Argument(help="Policy file or folder, or a bundled name.")],
    format_: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Prove what a policy can reach and find its defects, each with a counterexample."""
    if format_ not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--format")
    pol = _policy(file)
    try:
        result = analyze(pol)
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    if format_ == "json":
        sys.stdout.write(json.dumps(result.as_json(), indent=2) + "\n")
        return
    for f in result.lint_findings():
        out.print(str(f), highlight=False, markup=False)
    for r in result.ranges:
        out.print(
            f"version {r.version}: every score lies in [{r.low}, {r.high}]",
            highlight=False,
            markup=False,
        )
        for hit in (h for h in result.reach if h.version == r.version):
            shown = hit.witness.describe() if hit.witness else "no witness"
            out.print(f"  {hit.what} {hit.id}: {hit.state}; {shown}", highlight=False, markup=False)
    out.print(f"{pol.id}: {len(result.findings)} finding(s)", highlight=False, markup=False)


@policy_app.command("book")
def policy_book(
    file: Annotated[str, typer.Argument(help="Policy file or folder, or a bundled name.")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to write NAME.html and NAME.pdf into.")
    ] = Path("policy-books"),
) -> None:
    """Write the policy book: rules beside their law, versions, analysis, worked examples."""
    from credence.book.write import write_book

    pol = _policy(file)
    try:
        files = write_book(pol, out_dir)
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None
    out.print(f"{files.html}\n{files.pdf}", highlight=False, markup=False)


@policy_app.command("test")
def policy_test(
    file: Annotated[
        str | None, typer.Argument(help="Policy file or folder, or a bundled name.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Test every bundled policy.")] = False,
) -> None:
    """Run a policy's embedded tests and print `N passed, N failed`; exit 1 on any failure."""
    if (file is None) == (not all_):
        raise typer.BadParameter("give a policy file or --all")
    targets = [file] if file is not None else library.names()
    passed = failed = 0
    for target in targets:
        pol = _policy(target)
        for res in run_all(pol):
            if res.passed:
                passed += 1
                out.print(f"PASS {pol.id}: {res.name}", highlight=False, markup=False)
            else:
                failed += 1
                out.print(f"FAIL {pol.id}: {res.name}", highlight=False, markup=False)
                for f in res.failures:
                    out.print(f"     {f}", highlight=False, markup=False)
    out.print(f"{passed} passed, {failed} failed", highlight=False)
    if failed:
        raise typer.Exit(1)


@policy_app.command("list")
def policy_list() -> None:
    """List the bundled policies."""
    table = Table(title="Bundled policies")
    for col in ("name", "title", "versions", "tests"):
        table.add_column(col)
    for name in library.names():
        pol = library.resolve(name)
        table.add_row(
            name,
            pol.latest.title,
            ", ".join(f"{v.version} ({v.effective_from})" for v in pol.versions),
            str(len(pol.tests)),
        )
    out.print(table)


@app.command()
def demo(
    population: Annotated[int, typer.Option(help="People in the synthetic city.")] = 10_000,
    years: Annotated[int, typer.Option(help="Years simulated.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 7,
    data: Annotated[
        Path, typer.Option(help="Folder for the demo store and report (recreated).")
    ] = Path("credence-data/demo"),
    url: Annotated[
        str | None,
        typer.Option("--url", help="A PostgreSQL URL for the store (default: embedded SQLite)."),
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option("--baseline/--no-baseline", help="Also run the city with safeguards off."),
    ] = True,
    step: Annotated[
        int, typer.Option("--step", min=1, max=31, help="Days between due-process runs.")
    ] = 28,
) -> None:
    """End to end: simulate a city, ingest and run due process week by week, with objections
    and reviews, the same city with safeguards off, batch-score, write the report."""
    from credence.demo import run_demo

    try:
        run_demo(
            out,
            data,
            population=population,
            years=years,
            seed=seed,
            url=url,
            baseline=baseline,
            step_days=step,
        )
    except (CredenceError, FileExistsError) as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None


@app.command()
def version() -> None:
    """Print the Credence version."""
    out.print(__version__)


def main() -> None:
    """Console-script entry point."""
    app()


def _register_plugins() -> None:
    from credence.commands.analytics import register as register_analytics
    from credence.commands.api import register as register_api
    from credence.commands.batch import register as register_batch
    from credence.commands.runs import register as register_process
    from credence.commands.signins import register as register_signins
    from credence.commands.sim import register as register_sim
    from credence.commands.store import register as register_store
    from credence.commands.subject import register as register_subject

    register_store(app)
    register_process(app)
    register_sim(app)
    register_signins(app)
    register_subject(app)
    register_api(app)
    register_batch(app)
    register_analytics(app)


_register_plugins()
