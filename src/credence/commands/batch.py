"""``credence batch``: score a whole population with the compiled plan."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from credence.errors import CredenceError
from credence.policy import library
from credence.policy.load import PolicySet

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to the Credence CLI."""
    app.command("batch")(batch)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


def batch(
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled policy name.")
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="Day the situation is judged at.")],
    known_at: Annotated[
        str | None, typer.Option("--known-at", help="What was known by this day (default: today).")
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", "-e", help="duckdb (default), postgres or spark.")
    ] = "duckdb",
    records: Annotated[
        str | None,
        typer.Option(
            "--records", "-r", help="Records: Parquet file or folder (any URI for Spark)."
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="Status changes: Parquet (record_id, status, at[, seq, ref])."
        ),
    ] = None,
    store: Annotated[
        bool,
        typer.Option("--store", help="Read the store's tables in PostgreSQL (engine postgres)."),
    ] = False,
    url: Annotated[
        str | None, typer.Option("--url", help="PostgreSQL URL (default CREDENCE_DATABASE_URL).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the assessments to this Parquet file.")
    ] = None,
    incremental: Annotated[
        Path | None,
        typer.Option(
            "--incremental",
            help="State folder: rescore only subjects touched since the run stored there.",
        ),
    ] = None,
    memory_limit: Annotated[
        str | None, typer.Option("--memory-limit", help="DuckDB memory limit, e.g. 4GB.")
    ] = None,
) -> None:
    """Score every subject with the batch plan; write Parquet and print the grade distribution."""
    from credence.compute import batch as b
    from credence.compute.incremental import export_result, score_incremental

    if engine not in b.ENGINES:
        raise typer.BadParameter(f"use one of {', '.join(b.ENGINES)}", param_hint="--engine")
    if store == (records is not None):
        raise typer.BadParameter("give either --records or --store", param_hint="--records")
    if store and engine != "postgres":
        raise typer.BadParameter("--store reads PostgreSQL: use --engine postgres")
    if output is None and incremental is None:
        raise typer.BadParameter("give --out FILE or --incremental FOLDER", param_hint="--out")
    pol = _policy(policy)
    day = _day(as_of, "--as-of")
    known = _day(known_at, "--known-at") if known_at else max(day, date.today())
    try:
        con = b.connect(
            engine,
            url=url,
            memory_limit=memory_limit,
            temp_directory=str(b.scratch_dir()),
        )
        if store:
            source = b.source_from_store(con)
        else:
            assert records is not None
            source = b.source_from_parquet(con, records, status)
        if incremental is not None:
            inc = score_incremental(pol, source, day, known, incremental)
            what = "full run" if inc.full else "incremental"
            out.print(
                f"{what} ({inc.reason}): {inc.rescored} of {inc.subjects} subjects rescored, "
                f"{inc.replayed} by timeline replay, {inc.seconds:.2f} s -> {inc.path}",
                highlight=False,
            )
            grades, total = inc.grades, inc.subjects
        else:
            res = b.score_batch(pol, source, day, known, output=output)
            out.print(
                f"{res.subjects} subjects scored ({res.replayed} by timeline replay) in "
                f"{res.seconds:.2f} s -> {res.path}",
                highlight=False,
            )
            grades, total = res.grades, res.subjects
        if incremental is not None and output is not None:
            export_result(incremental, output)
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
    table = Table(title=f"{pol.id}: grades as of {day}, as known at {known}")
    table.add_column("grade")
    table.add_column("subjects", justify="right")
    table.add_column("share", justify="right")
    for grade, n in b.grade_table(grades, pol, day):
        table.add_row(grade, str(n), f"{100 * n / total:.1f}%" if total else "-")
    out.print(table)


def _policy(name: str) -> PolicySet:
    try:
        return library.resolve(name)
    except CredenceError as exc:
        err.print(str(exc), highlight=False, markup=False)
        raise typer.Exit(2) from None
