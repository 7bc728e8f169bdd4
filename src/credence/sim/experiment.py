"""One ``lab run``: a world, the scheme through the real system, the baseline, grades, the report.

The same world (population and reports) goes through two stores: one with the scheme as
written and people who object, one with the safeguards switched off (no notice periods, no
objections), so that the report can set the false listings of both side by side.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from credence.policy.load import PolicySet
from credence.sim.lab import LabRun, Progress, World, make_world, open_store, run_lab
from credence.sim.report import build_report, snapshot_days, write_report
from credence.sim.scenarios import Scenario

MARKER = ".credence-lab"


@dataclass
class Experiment:
    """What a lab run produced: the runs, the report and where it was written."""

    world: World
    lab: LabRun
    baseline: LabRun | None
    report: dict[str, Any]
    html: Path
    json: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def end(self) -> date:
        """The last simulated day (the day the store's data runs to)."""
        return self.world.end


def fresh(folder: Path) -> None:
    """Recreate ``folder``, refusing to delete anything a lab run did not make."""
    import shutil

    if folder.exists():
        if not (folder / MARKER).exists() and any(folder.iterdir()):
            raise FileExistsError(
                f"{folder} exists and was not made by the lab; choose another folder"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by credence lab\n")


def baseline_url(url: str) -> str:
    """The baseline's store beside ``url``: on PostgreSQL a schema of its own (the URL's
    ``search_path`` schema, or ``credence_lab``, with ``_baseline`` added), found by
    ``search_path``; recreated empty."""
    from sqlalchemy import create_engine, text

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    options = dict(parse_qsl(parts.query)).get("options", "")
    given = re.search(r"search_path=([A-Za-z0-9_]+)", options)
    schema = f"{given.group(1) if given else 'credence_lab'}_baseline"
    base = urlunsplit(parts._replace(query=urlencode(query)))
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        con.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def run_experiment(
    policy: PolicySet,
    scenario: Scenario,
    folder: Path,
    *,
    name: str,
    url: str | None = None,
    baseline: bool = True,
    step_days: int = 7,
    snapshots: int = 12,
    progress: Progress | None = None,
    phase: Callable[[str, float], None] | None = None,
) -> Experiment:
    """Run the scheme (and its baseline) over one world and write the report into ``folder``.

    ``phase(name, seconds)`` is called as each phase ends."""
    timings: dict[str, float] = {}

    def done(label: str, began: float) -> None:
        timings[label] = time.perf_counter() - began
        if phase is not None:
            phase(label, timings[label])

    fresh(folder)
    clock = time.perf_counter()
    world = make_world(policy, scenario)
    done("simulate", clock)
    clock = time.perf_counter()
    lab = run_lab(
        policy,
        world,
        open_store(folder, url),
        label="with safeguards",
        step_days=step_days,
        progress=progress,
    )
    for k in ("ingest", "process", "people"):
        timings[f"lab {k}"] = lab.timings[k]
    done("lab", clock)
    base = None
    if baseline:
        clock = time.perf_counter()
        base = run_lab(
            policy,
            world,
            open_store(folder / "baseline", baseline_url(url) if url else None),
            label="baseline",
            safeguards=False,
            step_days=step_days,
            progress=progress,
        )
        done("baseline", clock)
    clock = time.perf_counter()
    from credence.sim.grades import grades_over, store_source

    days = snapshot_days(world.start, world.end, snapshots)
    counts = grades_over(lab.policy, store_source(lab.store), days)
    done("score", clock)
    clock = time.perf_counter()
    report = build_report(lab, name, baseline=base, grades=(days, counts))
    timings["report"] = time.perf_counter() - clock
    report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    html, js = write_report(report, folder / "reports" / name)
    done("report", clock)
    return Experiment(world, lab, base, report, html, js, timings)
