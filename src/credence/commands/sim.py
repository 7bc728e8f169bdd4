"""CLI commands of the policy lab: ``credence simulate`` and ``credence policy diff``."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from credence.errors import CredenceError
from credence.policy import library
from credence.sim.lab import Progress as ProgressFn
from credence.sim.scenarios import Behaviour, Faults, Injection, Scenario

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Data folder (default: $CREDENCE_DATA or ./credence-data).",
        show_default=False,
    ),
]
PopulationOpt = Annotated[int, typer.Option("--population", "-n", min=1, help="Subjects.")]
YearsOpt = Annotated[int, typer.Option("--years", "-y", min=1, max=50, help="Years to run.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Same seed, same population, same report.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``lab run``/``lab diff`` to the ``credence`` app and ``diff`` to its
    ``policy`` sub-app."""
    app.command("simulate")(simulate)
    lab = typer.Typer(help="The policy lab: schemes run over simulated populations.")
    lab.command("run")(simulate)
    lab.command("diff")(policy_diff)
    app.add_typer(lab, name="lab")
    policy_app = next((g.typer_instance for g in app.registered_groups if g.name == "policy"), None)
    if policy_app is None:
        raise RuntimeError("the credence app has no 'policy' sub-app to add 'diff' to")
    policy_app.command("diff")(policy_diff)


def _data_dir(given: Path | None) -> Path:
    # The same rule as credence.store.db.data_dir, without importing the store's extra.
    if given is not None:
        return given
    return Path(os.environ.get("CREDENCE_DATA") or "credence-data")


@contextmanager
def progress_bars(
    console: Console, *, quiet: bool = False, transient: bool = False
) -> Iterator[ProgressFn]:
    """A progress callback drawing one Rich bar per task (nothing when ``quiet``)."""
    if quiet:
        yield lambda _task, _done, _total: None
        return
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=transient) as bar:
        tasks: dict[str, TaskID] = {}

        def tick(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield tick


def _injections(values: list[str]) -> tuple[Injection, ...]:
    out_: list[Injection] = []
    for text in values:
        parts = text.split(":")
        try:
            kind, subjects = parts[0], int(parts[1])
            each = int(parts[2]) if len(parts) > 2 else 1
            on = date.fromisoformat(parts[3]) if len(parts) > 3 else None
        except (IndexError, ValueError):
            raise typer.BadParameter(
                f"{text!r}: use KIND:SUBJECTS[:RECORDS_EACH[:YYYY-MM-DD]]", param_hint="--inject"
            ) from None
        out_.append(Injection(kind, subjects, each, on))
    return tuple(out_)


def simulate(
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled name.")
    ],
    population: PopulationOpt = 10_000,
    years: YearsOpt = 5,
    seed: SeedOpt = 1,
    error_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of reports that are wrong (false, wrong person, duplicate).",
        ),
    ] = 0.01,
    late_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of late reports.")
    ] = 0.05,
    objection_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Chance a warned subject contests a wrong record."),
    ] = 0.6,
    review_accuracy: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of reviewers' decisions that are right."),
    ] = 0.95,
    review_delay: Annotated[
        str,
        typer.Option(help="Days from an objection to its decision: MIN:MAX (drawn evenly)."),
    ] = "5:40",
    start: Annotated[
        str | None, typer.Option(help="First day (default: the policy's first version).")
    ] = None,
    inject: Annotated[
        list[str] | None,
        typer.Option(help="A botched bulk import: KIND:SUBJECTS[:RECORDS_EACH[:DATE]]."),
    ] = None,
    step: Annotated[
        int, typer.Option("--step", min=1, max=31, help="Days between due-process runs.")
    ] = 7,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="Also run the same population with the safeguards off, side by side.",
        ),
    ] = True,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A PostgreSQL URL for the store (default: embedded SQLite)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Run name (a folder under lab/).")] = None,
    data: DataOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json (the report).")] = "table",
    quiet: QuietOpt = False,
) -> None:
    """Run a scheme over a synthetic population through the real store and due process.

    Writes the store, the baseline's and the impact report under the data folder."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    from credence.sim.experiment import run_experiment
    from credence.sim.report import summary_table

    try:
        pol = library.resolve(policy)
        first = date.fromisoformat(start) if start else None
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    except ValueError:
        raise typer.BadParameter(
            f"{start!r} is not a date (YYYY-MM-DD)", param_hint="--start"
        ) from None
    try:
        lo, hi = (int(x) for x in review_delay.split(":"))
        if not 0 <= lo <= hi:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(
            f"{review_delay!r}: use MIN:MAX days, 0 <= MIN <= MAX", param_hint="--review-delay"
        ) from None
    scenario = Scenario(
        population=population,
        years=years,
        seed=seed,
        start=first,
        faults=Faults.from_error_rate(error_rate, late_rate),
        behaviour=Behaviour(
            objection_rate=objection_rate,
            review_accuracy=review_accuracy,
            review_delay_days=(lo, hi),
        ),
        injections=_injections(inject or []),
    )
    label = name or f"{pol.id}-n{population}-y{years}-s{seed}"
    folder = _data_dir(data) / "lab" / label
    began = time.perf_counter()
    try:
        with progress_bars(err, quiet=quiet or fmt == "json") as tick:
            result = run_experiment(
                pol,
                scenario,
                folder,
                name=label,
                url=url,
                baseline=baseline,
                step_days=step,
                progress=tick,
            )
    except (CredenceError, ValueError, FileExistsError) as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    if fmt == "json":
        sys.stdout.write(json.dumps(result.report, indent=2) + "\n")
        return
    out.print(summary_table(result.report))
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    out.print(
        f"Store: {folder} ({result.lab.steps} due-process runs). Time per phase: {phases}.\n"
        f"Report: {result.html} (and {result.json.name}); "
        f"{time.perf_counter() - began:.1f} s",
        highlight=False,
        markup=False,
    )


def policy_diff(
    a: Annotated[str, typer.Argument(help="Policy A: bundled name or path, optionally @version.")],
    b: Annotated[str, typer.Argument(help="Policy B: bundled name or path, optionally @version.")],
    population: PopulationOpt = 10_000,
    years: YearsOpt = 3,
    seed: SeedOpt = 1,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day to compare on (default: end of the run).")
    ] = None,
    step: Annotated[
        int, typer.Option("--step", min=1, max=31, help="Days between due-process runs.")
    ] = 7,
    name: Annotated[str | None, typer.Option(help="Report name (a folder under reports/).")] = None,
    data: DataOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    quiet: QuietOpt = False,
) -> None:
    """Who changes grade, list or measure between policies A and B, and why.

    One simulated population goes through the real ingest and due process under each."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter("use table or json", param_hint="--format")
    from credence.sim.diff import diff_policies, resolve
    from credence.sim.report import render_diff_html

    try:
        pa, pb = resolve(a), resolve(b)
        day = date.fromisoformat(as_of) if as_of else None
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    except ValueError:
        raise typer.BadParameter(f"{as_of!r} is not a date", param_hint="--as-of") from None
    scenario = Scenario(population=population, years=years, seed=seed)
    try:
        with progress_bars(err, quiet=quiet or fmt == "json") as tick:
            result = diff_policies(pa, pb, scenario, day, tick, step_days=step)
    except (CredenceError, ValueError) as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    label = name or f"diff-{_slug(a)}-{_slug(b)}-n{population}-s{seed}"
    folder = _data_dir(data) / "reports" / label
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (folder / "report.html").write_text(render_diff_html(result), encoding="utf-8")
    if fmt == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    _diff_tables(result)
    out.print(f"Report: {folder / 'report.html'}", highlight=False, markup=False)


def _slug(ref: str) -> str:
    return "".join(
        ch if ch.isalnum() or ch in ".-" else "_"
        for ch in Path(ref).stem + ref[len(ref.split("@")[0]) :]
    )


def _diff_tables(result: dict[str, Any]) -> None:
    title = (
        f"{result['a']['policy']} {result['a']['version']} → "
        f"{result['b']['policy']} {result['b']['version']} on {result['as_of']}: "
        f"{result['subjects_changed']:,} of {result['population']:,} subjects change"
    )
    moves = Table(title=title)
    for col in ("grade from", "grade to", "subjects"):
        moves.add_column(col, justify="right" if col == "subjects" else "left")
    for m in result["grade_moves"]:
        moves.add_row(m["from"], m["to"], f"{m['subjects']:,}")
    out.print(moves)
    if result["lists"] or result["measures"]:
        lm = Table(title="Lists and measures")
        for col in ("list / measure", "entered / gained", "left / lost"):
            lm.add_column(col)
        for lid, x in result["lists"].items():
            lm.add_row(f"list {lid}", f"{x['entered']:,}", f"{x['left']:,}")
        for mid, x in result["measures"].items():
            lm.add_row(f"measure {mid}", f"{x['gained']:,}", f"{x['lost']:,}")
        out.print(lm)
    rules = Table(title="Rules behind the changes")
    for col in ("record kind", "subjects", "points B − A"):
        rules.add_column(col, justify="left" if col == "record kind" else "right")
    for r in result["rules"]:
        rules.add_row(r["kind"], f"{r['subjects']:,}", f"{r['points_delta']:+,}")
    out.print(rules)
    if result.get("subjects"):
        who = Table(title=f"Who changes (the first {len(result['subjects'])})")
        for col in ("subject", "grade A → B", "lists A → B", "why (points B − A)"):
            who.add_column(col)
        for x in result["subjects"]:
            who.add_row(
                x["subject"],
                " → ".join(str(g) for g in x["grade"]),
                " → ".join(", ".join(lists) or "none" for lists in x["lists"]),
                ", ".join(f"{w['kind']} {w['points_delta']:+}" for w in x["why"]) or "process",
            )
        out.print(who)
