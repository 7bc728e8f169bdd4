"""``credence demo``: the whole system end to end on the embedded default.

A synthetic city lives under the municipal merit scheme for some years. Its agencies report
records (with the faults real agencies make) week by week; the store ingests them, the due
process runs every week, people object to wrong records on the notices delivered to them and
reviewers decide; the same city is run again with the safeguards off; the batch evaluator
grades everyone, and the impact report (queries over the store) says who was listed and how
many of them wrongly, with and without the safeguards. The store's "data as of" day is set to
the end of the simulated period, because the simulated years lie ahead of today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from credence.commands.sim import progress_bars
from credence.policy import library

DEMO_POLICY = "city-merit"
MARKER = ".credence-demo"


@dataclass(frozen=True)
class DemoRun:
    """What the demo produced: seconds per phase, the simulated last day, the report."""

    timings: dict[str, float]
    end: date
    report: Path


def run_demo(
    console: Console,
    folder: Path,
    *,
    population: int = 10_000,
    years: int = 5,
    seed: int = 7,
    quiet: bool = False,
    url: str | None = None,
    baseline: bool = True,
    step_days: int = 28,
) -> DemoRun:
    """Run the demo into ``folder`` (recreated); print and return the time of each phase."""
    from credence.sim.experiment import MARKER as LAB_MARKER
    from credence.sim.experiment import run_experiment
    from credence.sim.report import summary_table
    from credence.sim.scenarios import Scenario

    policy = library.resolve(DEMO_POLICY)
    _fresh(folder)
    # The lab recreates its own folder; this one is the demo's.
    (folder / LAB_MARKER).write_text("made by credence demo\n")
    scenario = Scenario(population=population, years=years, seed=seed)
    with progress_bars(console, quiet=quiet, transient=True) as tick:
        result = run_experiment(
            policy,
            scenario,
            folder,
            name="city-demo",
            url=url,
            baseline=baseline,
            step_days=step_days,
            progress=tick,
        )
    (folder / MARKER).write_text("made by credence demo\n")
    from credence.store.meta import record_data_as_of

    lab, t, world = result.lab, result.timings, result.world
    record_data_as_of(lab.store.engine, result.end)
    kind = "SQLite" if lab.store.url.startswith("sqlite") else "PostgreSQL"
    console.print(f"[bold]1. Store[/bold] created at {folder} ({kind}, audit chain)")
    console.print(
        f"[bold]2. Simulation[/bold]: {population:,} people over {years} year{'s' * (years != 1)} "
        f"({world.start} to {world.end}) in {t['simulate']:.1f} s",
        highlight=False,
    )
    sources = len({r.source for r in world.reported.records})
    r = lab.reactions
    console.print(
        f"[bold]3. Ingest[/bold]: {r['records_accepted']:,} records from {sources} agencies "
        f"accepted, {r['records_rejected']} rejected, as each week's reports arrived, in "
        f"{t['lab ingest']:.1f} s",
        highlight=False,
    )
    grades = result.report.get("grades")
    if grades:
        counts = grades["counts"][-1]
        table = Table(
            title=f"4. Grades on {grades['days'][-1]} (batch evaluator, DuckDB, "
            f"{t['score']:.1f} s for {len(grades['days'])} days): "
            f"{sum(counts.values()):,} subjects with records"
        )
        table.add_column("grade")
        table.add_column("subjects", justify="right")
        version = policy.version_at(result.end) or policy.latest
        for band in sorted(version.grades, key=lambda g: -g.min):
            table.add_row(band.grade, f"{counts.get(band.grade, 0):,}")
        console.print(table)
    m = result.report["with_safeguards"]
    served = sum(v["served"] for k, v in m["notices"].items() if k != "tables")
    console.print(
        f"[bold]5. Due process[/bold]: {lab.steps} {_cadence(step_days)} runs "
        f"({t['lab process']:.1f} s), "
        f"{served:,} notices served, {m['objections']['filed']:,} objections "
        f"(people and reviewers {t['lab people']:.1f} s)",
        highlight=False,
    )
    if "baseline" in t:
        console.print(
            f"[bold]6. Baseline[/bold]: the same city with no notice periods and no objections "
            f"in {t['baseline']:.1f} s",
            highlight=False,
        )
    console.print(summary_table(result.report))
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
    console.print(f"Time per phase: {phases}", highlight=False)
    total = sum(v for k, v in t.items() if not k.startswith("lab "))
    store = lab.store
    console.print(
        f"\nImpact report: {result.html}\nDone in {total:.0f} s. Browse the store with:\n"
        f"  CREDENCE_DATA={store.folder} .venv/bin/credence serve --policy {DEMO_POLICY}",
        highlight=False,
        markup=False,
    )
    from credence.commands.signins import print_signins

    with store.session() as session:
        print_signins(session, store, store.folder)
        session.commit()
    store.close()
    if result.baseline is not None:
        result.baseline.store.close()
    return DemoRun({**t, "total": total}, result.end, result.html)


def _cadence(step_days: int) -> str:
    """How often the due process ran, in words ("weekly", "4-weekly", "every 10 days")."""
    if step_days % 7 == 0:
        return "weekly" if step_days == 7 else f"{step_days // 7}-weekly"
    return "daily" if step_days == 1 else f"{step_days}-day"


def _fresh(folder: Path) -> None:
    """Recreate the demo folder, refusing to delete anything the demo did not make."""
    import shutil

    if folder.exists():
        if not (folder / MARKER).exists() and any(folder.iterdir()):
            raise FileExistsError(
                f"{folder} exists and was not made by the demo; choose another --data folder"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by credence demo\n")
