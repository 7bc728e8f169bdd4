"""The policy lab through the real system at several sizes: seconds per phase.

    .venv/bin/python benchmarks/lab.py 1000 2000 4000 --years 2 [--baseline] [--url URL]

Each size runs the demo's scheme (city-merit, seed 7) with weekly due-process runs into a
fresh SQLite store under a temporary folder (or the PostgreSQL database at ``--url``) and
prints one line of JSON per size: the seconds of each phase, the due-process runs and records,
the wall time and the process's CPU time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from credence.policy import library
from credence.sim.experiment import run_experiment
from credence.sim.scenarios import Scenario


def main() -> None:
    """Run the sizes given on the command line and print their timings."""
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--step", type=int, default=7)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--url")
    args = parser.parse_args()
    policy = library.resolve("city-merit")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="credence-lab-bench-") as scratch:
            began, cpu = time.perf_counter(), time.process_time()
            result = run_experiment(
                policy,
                Scenario(population=n, years=args.years, seed=7),
                Path(scratch) / "run",
                name="bench",
                url=args.url,
                baseline=args.baseline,
                step_days=args.step,
            )
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
            result.lab.store.close()
            row = {
                "population": n,
                "years": args.years,
                "step_days": args.step,
                "runs": result.lab.steps,
                "records": result.lab.reactions["records_accepted"],
                "wall_s": round(wall, 1),
                # This process's CPU seconds (all its threads): on a loaded machine, a closer
                # guess at an idle machine's wall time than the wall time itself.
                "cpu_s": round(cpu, 1),
                **{k: round(v, 1) for k, v in result.timings.items()},
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
