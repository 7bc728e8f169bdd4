"""``credence demo``: the whole system end to end on the embedded default.

A synthetic city lives under the municipal merit scheme for some years: its agencies report
records (with the faults real agencies make), the store ingests them, due process runs, the
batch evaluator scores everyone, and the impact report says who was listed and how many of
them wrongly. The store's clock is set to the end of the simulated period, because the
simulated years lie ahead of today.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from datetime import time as day_start
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from credence import csvsafe
from credence.commands.sim import progress_bars
from credence.policy import library
from credence.records import Record
from credence.rows.fields import COLUMNS

if TYPE_CHECKING:
    pass

DEMO_POLICY = "city-merit"
MARKER = ".credence-demo"


def run_demo(
    console: Console,
    folder: Path,
    *,
    population: int = 100_000,
    years: int = 5,
    seed: int = 7,
    quiet: bool = False,
) -> dict[str, float]:
    """Run the demo into ``folder`` (recreated); return the seconds each step took."""
    from credence.sim.process import run_simulation
    from credence.sim.report import build_report, summary_table, write_report
    from credence.sim.scenarios import Scenario

    timings: dict[str, float] = {}
    began = time.perf_counter()
    policy = library.resolve(DEMO_POLICY)
    _fresh(folder)
    from credence.store.db import initialise

    store, _ = initialise(folder, f"sqlite:///{(folder / 'credence.db').resolve()}", actor="demo")
    console.print(f"[bold]1. Store[/bold] created at {folder} (SQLite, WAL, audit chain)")

    step = time.perf_counter()
    scenario = Scenario(population=population, years=years, seed=seed)
    with progress_bars(console, quiet=quiet, transient=True) as tick:
        sim = run_simulation(policy, scenario, tick)
    timings["simulate"] = time.perf_counter() - step
    console.print(
        f"[bold]2. Simulation[/bold]: {population:,} people over {years} years "
        f"({sim.start} to {sim.end}) in {timings['simulate']:.1f} s"
    )

    step = time.perf_counter()
    clock = datetime.combine(sim.end, day_start(23, 59), tzinfo=UTC)
    files, in_transit = _write_reports_of_agencies(folder / "incoming", sim.records, clock)
    accepted = rejected = 0
    from credence.ingest.run import ingest_file

    for source, path in sorted(files.items()):
        summary = ingest_file(store, path, source=source, policy=policy, actor="demo", now=clock)
        accepted += summary.accepted
        rejected += summary.rejected
    timings["ingest"] = time.perf_counter() - step
    console.print(
        f"[bold]3. Ingest[/bold]: {accepted:,} records from {len(files)} agencies accepted, "
        f"{rejected} rejected ({in_transit:,} late reports still in transit at the end are "
        f"not sent), in {timings['ingest']:.1f} s"
    )

    step = time.perf_counter()
    grades, flagged = _batch_score(store.folder / "credence.db", policy, sim.end)
    timings["score"] = time.perf_counter() - step
    version = policy.version_at(sim.end) or policy.latest
    table = Table(
        title=f"4. Grades on {sim.end} (batch evaluator, DuckDB, {timings['score']:.1f} s): "
        f"{sum(grades.values()):,} subjects with records"
    )
    table.add_column("grade")
    table.add_column("subjects", justify="right")
    for band in sorted(version.grades, key=lambda g: -g.min):
        table.add_row(band.grade, f"{grades.get(band.grade, 0):,}")
    console.print(table)

    step = time.perf_counter()
    from credence.runs.outbox import FileSender
    from credence.runs.run import run

    # Due process concerns the subjects a list or measure ever reached; everyone else would
    # only be read and left unchanged.
    touched = sorted(
        flagged
        | {store.keys.subject_id(sim.population.ids[x.subject]) for x in sim.listings}
        | {store.keys.subject_id(sim.population.ids[m.subject]) for m in sim.measures}
    )
    summary_run = run(
        store,
        policy,
        sim.end,
        actor="demo",
        sender=FileSender(folder / "outbox"),
        subjects=touched or None,
    )
    timings["process"] = time.perf_counter() - step
    console.print(
        f"[bold]5. Due process[/bold] to {sim.end} for the {summary_run.subjects:,} subjects "
        f"with notices or listings: {summary_run.transitions:,} transitions, "
        f"{summary_run.delivered:,} notices delivered, in {timings['process']:.1f} s"
    )

    step = time.perf_counter()
    report = build_report(sim, "city-demo")
    html, _ = write_report(report, folder / "reports" / "city-demo")
    timings["report"] = time.perf_counter() - step
    console.print(summary_table(report))
    store.close()
    timings["total"] = time.perf_counter() - began
    console.print(
        f"\nImpact report: {html}\nDone in {timings['total']:.0f} s. Browse the store with:\n"
        f"  CREDENCE_DATA={folder} .venv/bin/credence serve --policy {DEMO_POLICY}",
        highlight=False,
        markup=False,
    )
    return timings


def _fresh(folder: Path) -> None:
    """Recreate the demo folder, refusing to delete anything the demo did not make."""
    if folder.exists():
        if not (folder / MARKER).exists() and any(folder.iterdir()):
            raise FileExistsError(
                f"{folder} exists and was not made by the demo; choose another --data folder"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by credence demo\n")


def _write_reports_of_agencies(
    folder: Path, records: dict[int, list[Record]], clock: datetime
) -> tuple[dict[str, Path], int]:
    """One CSV per reporting agency, as agencies would send them (national ids in clear).

    Reports recorded after ``clock`` have not been sent yet; they are counted, not written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    # What agencies send: no record ids of ours, the status history in one column.
    columns = [c for c in COLUMNS if c not in ("record_id", "status", "status_at")]
    by_source: dict[str, list[Record]] = defaultdict(list)
    in_transit = 0
    for recs in records.values():
        for r in recs:
            if r.recorded_at > clock:
                in_transit += 1
                continue
            by_source[r.source].append(r)
    paths: dict[str, Path] = {}
    for source, recs in by_source.items():
        path = folder / f"{source}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csvsafe.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            for r in sorted(recs, key=lambda x: (x.recorded_at, x.source_record_id)):
                # Decisions after the clock (objections decided later) have not happened yet.
                changes = [h for h in r.history if h.at <= clock]
                history = (
                    json.dumps(
                        [
                            {"status": h.status.value, "at": h.at.isoformat(), "ref": h.ref}
                            for h in changes
                        ]
                    )
                    if changes
                    else ""
                )
                writer.writerow(
                    [
                        r.source,
                        r.source_record_id,
                        r.subject_id,
                        r.kind,
                        r.occurred_on.isoformat(),
                        r.effective_on.isoformat(),
                        r.recorded_at.isoformat(),
                        "" if r.amount is None else str(r.amount),
                        r.evidence_ref or "",
                        history,
                    ]
                )
        paths[source] = path
    return paths, in_transit


def _batch_score(db: Path, policy: object, day: date) -> tuple[dict[str, int], set[str]]:
    """Score every stored subject on DuckDB; return the grades and who meets a list's criteria."""
    import pyarrow as pa

    from credence.compute import batch
    from credence.policy.load import PolicySet

    assert isinstance(policy, PolicySet)
    con = sqlite3.connect(db)
    try:
        rec = con.execute(
            "SELECT record_id, source, source_record_id, subject_id, kind, occurred_on, "
            "effective_on, recorded_at, amount, evidence_ref FROM records"
        ).fetchall()
        st = con.execute(
            "SELECT record_id, id, status, at, ref FROM record_status ORDER BY at, id"
        ).fetchall()
    finally:
        con.close()

    def when(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    columns: list[tuple[object, ...]] = list(zip(*rec, strict=True)) if rec else [()] * 10
    records = pa.table(
        {
            "record_id": columns[0],
            "source": columns[1],
            "source_record_id": columns[2],
            "subject_id": columns[3],
            "kind": columns[4],
            "occurred_on": [date.fromisoformat(str(d)) for d in columns[5]],
            "effective_on": [date.fromisoformat(str(d)) for d in columns[6]],
            "recorded_at": [when(str(t)) for t in columns[7]],
            "amount": [None if a is None else Decimal(str(a)) for a in columns[8]],
            "evidence_ref": columns[9],
        },
        schema=batch.RECORD_SCHEMA,
    )
    status = pa.table(
        {
            "record_id": [s[0] for s in st],
            "seq": [s[1] for s in st],
            "status": [s[2] for s in st],
            "at": [when(s[3]) for s in st],
            "ref": [s[4] for s in st],
        },
        schema=batch.STATUS_SCHEMA,
    )
    duck = batch.connect("duckdb")
    source = batch.BatchSource(
        duck,
        duck.create_table("demo_records", records, overwrite=True),
        duck.create_table("demo_status", status, overwrite=True),
    )
    result = batch.score_batch(policy, source, day, day)
    assert result.table is not None
    flagged: set[str] = set()
    for name in result.table.column_names:
        if name.startswith("list__"):
            met = result.table.column(name).to_pylist()
            ids = result.table.column("subject_id").to_pylist()
            flagged |= {sid for sid, on in zip(ids, met, strict=True) if on}
    return dict(result.grades), flagged
