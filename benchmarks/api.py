"""HTTP API load: status and explain at 50 concurrent clients on loopback (prints figures).

    .venv/bin/python benchmarks/api.py [--records 1000000] [--requests 20000] [--clients 50]
                                       [--workers 1] [--postgres] [--cache /tmp/credence-api-bench]

The store (1M records of 200,000 subjects, ingested with ``ingest_file``; 5 % of the subjects
on a public blacklist) and the principals are made once and cached in ``--cache``: a SQLite
file, or with ``--postgres`` a schema of the database at ``$CREDENCE_BENCH_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
The server is ``credence serve``'s application under uvicorn in a subprocess on 127.0.0.1. The
load generator is a minimal keep-alive HTTP/1.1 client on asyncio (one connection per client,
closed loop: each client sends its next request when the previous answer arrived), because a
general-purpose client would spend more CPU than the server on these two shared cores.

Every request is a logged read: each one writes an access event and an audit-chain entry.
Besides requests per second and latencies, it prints the CPU time the server processes and
the client used per request (from /proc), which is steadier than throughput on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert, text

from credence.audit import chain
from credence.store.db import Store, make_engine, migrate
from credence.store.keys import create_key_file, load_keys
from credence.store.schema import ListEntry

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
POLICY = """\
id: api-bench
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
lists:
  - {id: defaulters, title: "Defaulters", type: blacklist, entry: {grades: [C]},
     notice_period: P30D, duration: P1Y, public: true, legal_basis: "s.9",
     appeal_route: "Court within a month"}
"""


def nid(i: int) -> str:
    """The national id of benchmark subject ``i``."""
    return f"NID{i:08d}"


PG_URL = os.environ.get(
    "CREDENCE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pg_url(records: int) -> str:
    """The URL of the benchmark's PostgreSQL schema (made if missing)."""
    from sqlalchemy import create_engine

    schema = f"credence_api_bench_r{records}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    admin.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def build_store(cache: Path, records: int, subjects: int, url: str | None = None) -> None:
    """Make the cached store: schema, 1M ingested records, listings, principals."""
    from credence.access.auth import add_principal
    from credence.ingest.run import ingest_file
    from credence.policy.load import load_policy

    data = cache / "data"
    data.mkdir(parents=True, exist_ok=True)
    create_key_file(data)
    keys = load_keys(data)
    engine = make_engine(url or f"sqlite:///{data / 'credence.db'}")
    migrate(engine)
    store = Store(engine=engine, keys=keys, folder=data)
    with store.session() as s:
        chain.initialise(s, keys)
        s.commit()
    policy = load_policy(cache / "policy.yaml")
    rnd = random.Random(11)
    kinds = ("fine", "default", "award")
    path = cache / "records.csv"
    with path.open("w", newline="") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(["source", "source_record_id", "subject_id", "kind", "occurred_on"])
        for i in range(records):
            day = date(2025, 1 + rnd.randrange(12), 1 + rnd.randrange(28)).isoformat()
            w.writerow(["agency", f"R{i:09d}", nid(i % subjects), kinds[rnd.randrange(3)], day])
    started = time.perf_counter()
    summary = ingest_file(store, path, source="agency", policy=policy, actor="bench", now=NOW)
    print(f"ingested {summary.accepted:,} records in {time.perf_counter() - started:.0f} s")
    path.unlink()
    # Listings come from due-process runs; a bulk insert stands in for them here, since the
    # status query only reads the current entries.
    listed = [
        {
            "ref": f"defaulters@{i}",
            "subject_id": keys.subject_id(nid(i)),
            "policy_id": "api-bench",
            "list_id": "defaulters",
            "status": "listed",
            "entered_on": date(2026, 1, 1),
            "body": "{}",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
        for i in range(0, subjects, 20)
    ]
    with engine.begin() as conn:
        conn.execute(insert(ListEntry), listed)
    issued: dict[str, str] = {}
    with store.session() as s:
        _, issued["bank"] = add_principal(s, keys, "bank", "relying_party", actor="bench")
        for c in range(50):
            name = f"subject-{c}"
            scope = keys.subject_id(nid(c * 997 % subjects))
            _, issued[name] = add_principal(s, keys, name, "subject", scope, actor="bench")
        s.commit()
    (cache / "keys.json").write_text(json.dumps(issued))
    store.close()


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    return status, body


def _raw(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def drive(
    port: int, requests: list[list[bytes]], expect: int = 200
) -> tuple[float, list[float], int]:
    """Send each client's requests over its own connection; (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0

    async def client(mine: list[bytes]) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for raw in mine:
            t = time.perf_counter()
            status, _ = await _request(reader, writer, raw)
            latencies.append(time.perf_counter() - t)
            if status != expect:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(r) for r in requests))
    return time.perf_counter() - started, latencies, errors


def report(name: str, seconds: float, latencies: list[float], errors: int) -> None:
    """Print one line of figures."""
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:8s} {len(ms):7,d} requests  {len(ms) / seconds:8,.0f} req/s  "
        f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {ms[-1]:6.1f} ms  errors {errors}"
    )


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants so far; 0 without /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, ValueError, IndexError):
        pass
    return total


def main() -> None:
    """Build (or reuse) the store, start the server, drive status and explain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20_000, help="per endpoint")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/credence-api-bench"))
    args = parser.parse_args()
    subjects = max(1, args.records // 5)
    cache: Path = args.cache / (f"r{args.records}" + ("-pg" if args.postgres else ""))
    url = pg_url(args.records) if args.postgres else None
    if not (cache / "keys.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "policy.yaml").write_text(POLICY)
        for leftover in ("data",):
            target = cache / leftover
            if target.exists():
                raise SystemExit(f"{target} is a partial build: remove {cache} and run again")
        build_store(cache, args.records, subjects, url)
    issued: dict[str, str] = json.loads((cache / "keys.json").read_text())
    if url is not None:
        # Fresh statistics: straight after a bulk load the planner guesses thousands of rows per
        # subject and plans parallel scans (13 ms a query instead of 0.1), until autovacuum
        # gets round to the tables.
        analysed = make_engine(url)
        with analysed.begin() as conn:
            conn.execute(text("ANALYZE"))
        analysed.dispose()
    port = free_port()
    env = dict(os.environ)
    env.pop("CREDENCE_DATABASE_URL", None)
    env.pop("CREDENCE_SECRET_KEY", None)
    env.update(
        CREDENCE_DATA=str(cache / "data"),
        CREDENCE_API_POLICY=str(cache / "policy.yaml"),
    )
    if url is not None:
        env["CREDENCE_DATABASE_URL"] = url
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "credence.server:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        print(
            f"{'PostgreSQL' if url else 'SQLite'}, {args.workers} worker(s), "
            f"load average before: {os.getloadavg()[0]:.2f}"
        )
        asyncio.run(
            bench(
                port,
                issued,
                args.requests,
                args.clients,
                args.records,
                subjects,
                server.pid,
                args.workers,
            )
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


async def bench(
    port: int,
    issued: dict[str, str],
    n: int,
    clients: int,
    records: int,
    subjects: int,
    server: int,
    workers: int = 1,
) -> None:
    """Warm up (every key verified once), then time status and explain."""
    rnd = random.Random(3)
    per = max(1, n // clients)
    subject_keys = [k for k in issued if k.startswith("subject-")]

    def status_body() -> bytes:
        body = {"national_id": nid(rnd.randrange(subjects)), "purpose": "tenancy check"}
        return json.dumps(body).encode()

    status = [
        [_raw("POST", "/status", issued["bank"], status_body()) for _ in range(per)]
        for _ in range(clients)
    ]
    explain = [
        [_raw("GET", "/me/assessment", issued[subject_keys[c % len(subject_keys)]])] * per
        for c in range(clients)
    ]
    # Warm-up: Argon2 verifications of the keys, imports, the page cache, explanations.
    warm = [[_raw("GET", "/me/assessment", issued[s])] for s in subject_keys]
    warm.append([_raw("POST", "/status", issued["bank"], status_body())])
    # Each round opens new connections, which land on a worker by chance: with N workers,
    # 8N rounds leave a key unseen by a given worker with a chance of about (1 - 1/N)^(8N).
    for _ in range(1 if workers == 1 else 8 * workers):
        await drive(port, warm)
    # A tenth of each run, so that every worker process has seen the keys and the subjects.
    await drive(port, [r[: max(1, per // 10)] for r in status])
    await drive(port, [r[: max(1, per // 10)] for r in explain])
    print(f"{records:,} records, {clients} clients, closed loop, 127.0.0.1")
    for name, requests in (("status", status), ("explain", explain)):
        server_cpu, client_cpu = cpu_seconds(server), time.process_time()
        seconds, latencies, errors = await drive(port, requests)
        server_cpu, client_cpu = cpu_seconds(server) - server_cpu, time.process_time() - client_cpu
        report(name, seconds, latencies, errors)
        count = max(1, len(latencies))
        print(
            f"{'':8s} CPU per request: server {server_cpu / count * 1000:.2f} ms, "
            f"client {client_cpu / count * 1000:.2f} ms"
        )


if __name__ == "__main__":
    main()
