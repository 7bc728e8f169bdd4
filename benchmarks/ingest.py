"""Bulk-ingest throughput: 1M CSV rows into SQLite and PostgreSQL (prints figures; not a test).

    .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--backend sqlite|postgresql|both]
                                          [--repeat 3]

Each run loads the file into a fresh store (a bulk load: the store is empty). With ``--repeat``
every backend is timed that many times and the median is printed. The machine's load average is
printed with every run, and the CPU time of this process (parse, checks, HMAC and, on SQLite,
the database itself), since the wall time on a shared machine depends on what else runs.

The file (generated once, not timed) has 200,000 subjects and three record kinds; every row is
valid, so the figure is for the full path: parse, validate against the policy, pseudonymise,
dedupe, write (executemany on SQLite, COPY on PostgreSQL), audit. PostgreSQL is taken from
``$CREDENCE_BENCH_PG_URL`` (default: the test server), in a schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from credence.audit import chain
from credence.ingest.run import ingest_file
from credence.policy.load import loads_policy
from credence.store.db import Store, make_engine, migrate
from credence.store.keys import Keys

PG_URL = os.environ.get(
    "CREDENCE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
POLICY = """
id: bench
version: "1"
effective_from: 2020-01-01
scale: {base: 100, min: 0, max: 200}
grades: [{grade: C, min: 0, max: 79}, {grade: B, min: 80, max: 119}, {grade: A, min: 120, max: 200}]
categories: [{id: main}]
rules:
  - {kind: fine, category: main, points: -10, expires_after: P2Y, legal_basis: "s.1",
     sources: [agency], data_category: administrative}
  - {kind: default, category: main, points: -5, expires_after: P3Y, legal_basis: "s.2",
     sources: [agency], data_category: financial}
  - {kind: award, category: main, points: 5, expires_after: P1Y, legal_basis: "s.3",
     sources: [agency], data_category: civic}
"""


def make_file(path: Path, rows: int) -> None:
    """Write the benchmark CSV."""
    rnd = random.Random(7)
    kinds = ("fine", "default", "award")
    with path.open("w", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(
            [
                "source",
                "source_record_id",
                "subject_id",
                "kind",
                "occurred_on",
                "effective_on",
                "recorded_at",
                "amount",
                "evidence_ref",
            ]
        )
        for i in range(rows):
            day = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"
            w.writerow(
                [
                    "agency",
                    f"R{i:09d}",
                    f"NID{rnd.randrange(200_000):08d}",
                    kinds[i % 3],
                    day,
                    day,
                    f"{day}T09:00:00Z",
                    "" if i % 2 else f"{i % 5000}.50",
                    f"doc://{i}",
                ]
            )


def run(name: str, url: str, path: Path, rows: int, folder: Path) -> float:
    """Ingest the file into a fresh store; returns records per second."""
    keys = Keys.from_master(secrets.token_bytes(32))
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine=engine, keys=keys, folder=folder)
    with store.session() as session:
        chain.initialise(session, keys)
        session.commit()
    load = os.getloadavg()[0]
    cpu = time.process_time()
    started = time.perf_counter()
    summary = ingest_file(
        store,
        path,
        source="agency",
        policy=loads_policy(POLICY),
        actor="bench",
        now=NOW,
        batch_size=50_000,
    )
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    assert summary.accepted == rows, summary
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM records")).scalar_one()
    store.close()
    rate = rows / seconds
    print(
        f"{name:<11} {rows:>9,} rows  {seconds:7.2f} s  {rate:>9,.0f} records/s  "
        f"(client CPU {cpu:.1f} s, load average {load:.2f} -> {os.getloadavg()[0]:.2f}, "
        f"stored {stored:,}, fast path {summary.fast_path})",
        flush=True,
    )
    return rate


def main() -> None:
    """Generate the file, then time each backend."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=1, help="runs per backend (median)")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "records.csv"
        t = time.perf_counter()
        make_file(path, args.rows)
        print(
            f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - t:.1f} s"
        )
        for _ in range(args.repeat):
            if args.backend in ("sqlite", "both"):
                db = folder / "bench.db"
                for leftover in folder.glob("bench.db*"):
                    leftover.unlink()
                rate = run("SQLite", f"sqlite:///{db}", path, args.rows, folder)
                rates.setdefault("SQLite", []).append(rate)
            if args.backend in ("postgresql", "both"):
                rate = run_postgresql(path, args.rows, folder)
                rates.setdefault("PostgreSQL", []).append(rate)
    if args.repeat > 1:
        for name, got in rates.items():
            print(
                f"{name:<11} median of {len(got)}: {statistics.median(got):>9,.0f} records/s "
                f"(runs: {', '.join(f'{r:,.0f}' for r in got)})"
            )


def run_postgresql(path: Path, rows: int, folder: Path) -> float:
    """Ingest into a fresh schema of the PostgreSQL server, dropped afterwards."""
    schema = "credence_bench_" + secrets.token_hex(4)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        return run("PostgreSQL", f"{PG_URL}?options=-csearch_path%3D{schema}", path, rows, folder)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
