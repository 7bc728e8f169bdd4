"""Due-process runs: the agenda against ``--full`` on a simulated store (prints figures).

    .venv/bin/python benchmarks/process.py [--people 2000] [--years 2] [--policy city-merit]

Builds one SQLite store from the simulator (its agencies' reports ingested as files), copies it,
and on the two copies side by side times: the first run for the policy; a night with nothing
new; a night with 1% of the subjects touched by a new record, with the ms per due subject; and
the same night as ``--full`` on the copy, whose ratio to the agenda night is printed. Each run's
per-phase timings (plan, read, visit, commit) are printed as ``credence process run -v`` shows
them. The machine's load average is printed, since wall times on a shared machine depend on what
else runs. PostgreSQL, several workers and the 100k/300k/1M sizes of the issue are not run here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from credence.demo import _write_reports_of_agencies
from credence.ingest.run import ingest_file
from credence.policy import library
from credence.runs.outbox import FileSender
from credence.runs.run import RunSummary, run
from credence.sim.process import run_simulation
from credence.sim.scenarios import Scenario
from credence.store.db import Store, initialise, open_store


def _timed(label: str, store: Store, policy: object, day: object, **kw: object) -> RunSummary:
    started = time.perf_counter()
    s = run(store, policy, day, actor="bench", sender=FileSender(store.folder / "outbox"), **kw)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    per = wall / s.subjects * 1000 if s.subjects else 0.0
    phases = ", ".join(f"{k} {v:.2f}" for k, v in s.timings.items())
    print(
        f"{label:<28} {wall:8.2f} s  {s.subjects:>7,} due  {per:7.2f} ms/due  "
        f"due: {s.reasons}  ({phases})"
    )
    return s


def main() -> None:
    """Build the store, run the nights side by side, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--years", type=int, default=2)
    ap.add_argument("--policy", default="city-merit")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}")
    policy = library.resolve(args.policy)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "agenda"
        store, _ = initialise(folder, actor="bench")
        sim = run_simulation(policy, Scenario(population=args.people, years=args.years, seed=7))
        clock = datetime.combine(sim.end, datetime.min.time(), tzinfo=UTC)
        files, _ = _write_reports_of_agencies(folder / "incoming", sim.records, clock)
        for source, path in sorted(files.items()):
            ingest_file(store, path, source=source, policy=policy, actor="bench", now=clock)
        store.close()
        copy = Path(tmp) / "full"
        shutil.copytree(folder, copy)
        agenda, full = open_store(folder), open_store(copy)
        end = sim.end
        print(f"{args.people:,} people, {args.policy}, {args.years} years to {end}")
        _timed("first run", agenda, policy, end)
        _timed("first run (--full copy)", full, policy, end, everyone=True)
        _timed("night, nothing new", agenda, policy, end + timedelta(days=1))
        _timed("night, nothing new --full", full, policy, end + timedelta(days=1), everyone=True)
        # 1% of the people get a new record of the policy's first kind.
        rule = policy.latest.rules[0]
        day = end + timedelta(days=2)
        touched = sim.population.ids[::100]
        csv = Path(tmp) / "touched.csv"
        csv.write_text(
            "source,source_record_id,subject_id,kind,occurred_on\n"
            + "".join(
                f"{rule.sources[0]},bench-{i},{nid},{rule.kind},{day.isoformat()}\n"
                for i, nid in enumerate(touched)
            )
        )
        noon = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
        for st in (agenda, full):
            ingest_file(st, csv, source=rule.sources[0], policy=policy, actor="bench", now=noon)
        lean = time.perf_counter()
        _timed("night, 1% touched", agenda, policy, day)
        lean = time.perf_counter() - lean
        wide = time.perf_counter()
        _timed("night, 1% touched --full", full, policy, day, everyone=True)
        wide = time.perf_counter() - wide
        print(f"agenda / --full on the 1% night: {lean / wide:.3f}")
        agenda.close()
        full.close()


if __name__ == "__main__":
    main()
