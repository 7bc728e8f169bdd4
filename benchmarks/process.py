"""Due-process runs on simulated stores: the first run, quiet and 1% nights, ``--full`` (prints).

    .venv/bin/python benchmarks/process.py [--people 100000,300000] [--years 2]
        [--policy city-merit,licence-demerit] [--backend sqlite,postgresql] [--workers 2]
        [--sample 10000]

For each size and policy the simulator's agencies' reports are written once, then for each
backend a store is built from them (PostgreSQL: a fresh schema in ``--pg-url``, dropped at the
end) and, one after the other on that store, timed: the first run for the policy; a night with
nothing new; a night with 1% of the people touched by a new record (with the ms per due
subject); on PostgreSQL a second 1% night with ``--workers`` workers; and ``--full`` on a
sample of ``--sample`` subjects with records (a named run, which visits each as ``--full``
would), whose cost per subject times the subjects with records is what ``--full`` would take:
the agenda nights are printed as a ratio of it. Each run's per-phase seconds are printed as
``credence process run -v`` shows them, with the process's peak memory and the machine's load
average (wall times on a shared machine depend on what else runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import secrets
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from credence.ingest.run import ingest_file
from credence.policy import library
from credence.policy.load import PolicySet
from credence.records import Record
from credence.runs.outbox import FileSender
from credence.runs.run import RunSummary, run
from credence.sim.agencies import end_of_run, report
from credence.sim.population import PopulationSpec, generate_population
from credence.sim.scenarios import Scenario
from credence.store.db import Store, initialise
from credence.store.schema import StoredRecord

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The columns agencies send (no record ids of ours; the status history in one column).
HEADER = (
    "source",
    "source_record_id",
    "subject_id",
    "kind",
    "occurred_on",
    "effective_on",
    "recorded_at",
    "amount",
    "evidence_ref",
    "status_history",
)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(label: str, store: Store, policy: PolicySet, day: date, **kw: Any) -> float:
    started = time.perf_counter()
    sender = FileSender(store.folder / "outbox")
    s: RunSummary = run(store, policy, day, actor="bench", sender=sender, **kw)
    wall = time.perf_counter() - started
    per = wall / s.subjects * 1000 if s.subjects else 0.0
    phases = ", ".join(f"{k} {v:.2f}" for k, v in s.timings.items())
    print(
        f"  {label:<30} {wall:9.2f} s {s.subjects:>9,} due {per:7.2f} ms/due  "
        f"{s.transitions:>7,} transitions  peak {_peak_mb():,.0f} MB  load "
        f"{os.getloadavg()[0]:.1f}  due: {s.reasons}  ({phases})",
        flush=True,
    )
    return wall


@contextmanager
def _store(backend: str, folder: Path, pg_url: str) -> Iterator[Store]:
    if backend == "sqlite":
        store, _ = initialise(folder, actor="bench")
        try:
            yield store
        finally:
            store.close()
        return
    schema = "credence_bench_" + secrets.token_hex(4)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        store, _ = initialise(folder, f"{pg_url}?options=-csearch_path%3D{schema}", actor="bench")
        try:
            yield store
        finally:
            store.close()
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _reports(folder: Path, records: dict[int, list[Record]], clock: datetime) -> list[Path]:
    """One CSV per reporting agency, as agencies send them (what was recorded by ``clock``)."""
    folder.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[Record]] = defaultdict(list)
    for recs in records.values():
        for r in recs:
            if r.recorded_at <= clock:
                by_source[r.source].append(r)
    paths = []
    for source, recs in sorted(by_source.items()):
        path = folder / f"{source}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle, lineterminator="\n")
            out.writerow(HEADER)
            for r in sorted(recs, key=lambda x: (x.recorded_at, x.source_record_id)):
                changes = [h for h in r.history if h.at <= clock]
                history = json.dumps(
                    [
                        {"status": h.status.value, "at": h.at.isoformat(), "ref": h.ref}
                        for h in changes
                    ]
                )
                out.writerow(
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
                        history if changes else "",
                    ]
                )
        paths.append(path)
    return paths


def _touch(tmp: Path, policy: PolicySet, ids: list[str], day: date, tag: str) -> tuple[Path, str]:
    """A file of one new record of the policy's first kind for each of ``ids``."""
    rule = policy.latest.rules[0]
    path = tmp / f"touched-{tag}.csv"
    path.write_text(
        "source,source_record_id,subject_id,kind,occurred_on\n"
        + "".join(
            f"{rule.sources[0]},bench-{tag}-{i},{nid},{rule.kind},{day.isoformat()}\n"
            for i, nid in enumerate(ids)
        )
    )
    return path, rule.sources[0]


def _bench(
    people: int, policy_id: str, backends: list[str], args: argparse.Namespace, tmp: Path
) -> None:
    policy = library.resolve(policy_id)
    clock0 = time.perf_counter()
    # The lab's simulator: a population and what its agencies report about it.
    scenario = Scenario(population=people, years=args.years, seed=7)
    population = generate_population(
        PopulationSpec(people, organisation_share=scenario.organisation_share), scenario.seed
    )
    reported = report(policy, population, scenario)
    end = end_of_run(scenario.start_for(policy), scenario.years)
    noon = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
    files = _reports(tmp / f"incoming-{people}-{policy_id}", {0: reported.records}, noon)
    print(
        f"{people:,} people, {policy_id}, {args.years} years to {end} "
        f"(simulated in {time.perf_counter() - clock0:.0f} s)",
        flush=True,
    )
    for backend in backends:
        folder = tmp / f"{backend}-{people}-{policy_id}"
        with _store(backend, folder, args.pg_url) as store:
            clock = time.perf_counter()
            for path in files:
                ingest_file(store, path, source=path.stem, policy=policy, actor="bench", now=noon)
            with store.session() as s:
                with_records = len(set(s.scalars(select(StoredRecord.subject_id).distinct())))
            print(
                f" {backend}: {with_records:,} subjects with records "
                f"(ingested in {time.perf_counter() - clock:.0f} s)",
                flush=True,
            )
            _timed("first run", store, policy, end)
            quiet = _timed("night, nothing new", store, policy, end + timedelta(days=1))
            day = end + timedelta(days=2)
            news, source = _touch(tmp, policy, population.ids[::100], day, f"{backend}a")
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
            ingest_file(store, news, source=source, policy=policy, actor="bench", now=at)
            touched = _timed("night, 1% touched", store, policy, day)
            if backend == "postgresql" and args.workers > 1:
                day = end + timedelta(days=3)
                news, source = _touch(tmp, policy, population.ids[1::100], day, f"{backend}b")
                at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
                ingest_file(store, news, source=source, policy=policy, actor="bench", now=at)
                spread = _timed(
                    f"night, 1% touched, {args.workers} workers",
                    store,
                    policy,
                    day,
                    workers=args.workers,
                )
                print(
                    f"  {args.workers} workers / 1 worker on the 1% night: {spread / touched:.2f}"
                )
            with store.session() as s:
                ids = sorted(set(s.scalars(select(StoredRecord.subject_id).distinct())))
            sample = sorted(random.Random(7).sample(ids, min(args.sample, len(ids))))
            wide = _timed(
                f"--full on {len(sample):,} subjects", store, policy, day, subjects=sample
            )
            full = wide / len(sample) * len(ids)
            print(
                f"  --full over all {len(ids):,} would take {full:.0f} s: agenda / --full = "
                f"{touched / full:.4f} (1% night), {quiet / full:.4f} (quiet night)",
                flush=True,
            )


def main() -> None:
    """Build the stores, run the nights, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", default="2000", help="comma-separated sizes")
    ap.add_argument("--years", type=int, default=2)
    ap.add_argument("--policy", default="city-merit", help="comma-separated policy ids")
    ap.add_argument("--backend", default="sqlite", help="sqlite, postgresql or both (comma)")
    ap.add_argument("--workers", type=int, default=2, help="workers of the second PG night")
    ap.add_argument("--sample", type=int, default=10_000)
    ap.add_argument("--pg-url", default=os.environ.get("CREDENCE_BENCH_PG_URL", PG_URL))
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    backends = args.backend.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for people in (int(p) for p in args.people.split(",")):
            for policy_id in args.policy.split(","):
                _bench(people, policy_id, backends, args, Path(tmp))


if __name__ == "__main__":
    main()
