"""Portal load while the analytics are recomputed: 20 signed-in citizens, errors and latencies.

    .venv/bin/python benchmarks/portal_load.py --data credence-data/demo [--policy city-merit]
        [--users 20] [--think 1.0] [--seconds 60] [--workers 1]
    .venv/bin/python benchmarks/portal_load.py --postgres [--records 200000] [--workers 2]

SQLite: a copy of the store in ``--data`` (e.g. what ``make demo`` leaves) is served by
``credence serve`` in a subprocess, with its kept analytics figures removed (a cold store). For
PostgreSQL the store is the one ``benchmarks/api.py --postgres`` builds and caches (its own
policy; ``--records`` picks the cached size). Principals for ``--users`` subjects with records
and an auditor are added to the copy. Every user signs in through the web form, then the auditor
opens ``/analytics``, which starts the recomputation in the background, and polls its progress
as the page does. Each user loads ``/portal`` again and again, waiting ``--think`` seconds
between two page views (0: closed loop): first for ``--baseline`` seconds with no computation,
then from the auditor's visit until the computation is done or ``--seconds`` have passed. Prints
for each phase the pages served, the errors (any answer but 200, or no answer), the portal's
latency percentiles, and how long the computation took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import delete, select

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_principals(
    data: Path, url: str | None, users: int, policy_id: str, as_of: str | None
) -> dict[str, str]:
    """Subject principals for ``users`` subjects with records, an auditor; their keys."""
    from datetime import date

    from argon2 import PasswordHasher

    from credence.access.auth import add_principal
    from credence.store.db import migrate, open_store
    from credence.store.meta import record_data_as_of
    from credence.store.schema import AnalyticsResult, PrincipalRow, StoredRecord

    store = open_store(data, url)
    migrate(store.engine)
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    issued: dict[str, str] = {}
    with store.session() as s:
        s.execute(delete(AnalyticsResult).where(AnalyticsResult.policy_id == policy_id))
        if as_of:
            record_data_as_of(s, date.fromisoformat(as_of))
        s.execute(delete(PrincipalRow).where(PrincipalRow.name.like("load-%")))
        ids = s.scalars(
            select(StoredRecord.subject_id).distinct().order_by(StoredRecord.subject_id)
        ).all()
        step = max(1, len(ids) // users)
        for i in range(users):
            name = f"load-citizen-{i}"
            sid = ids[(i * step) % len(ids)]
            _, issued[name] = add_principal(
                s, store.keys, name, "subject", sid, actor="bench", hasher=cheap
            )
        _, issued["load-auditor"] = add_principal(
            s, store.keys, "load-auditor", "auditor", actor="bench", hasher=cheap
        )
        s.commit()
    store.close()
    return issued


async def sign_in(base: str, key: str) -> httpx.AsyncClient:
    """A client signed in through the web form (cookie session)."""
    client = httpx.AsyncClient(base_url=base, timeout=60)
    form = (await client.get("/sign-in")).text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    fields = {"api_key": key, **({"csrf": token.group(1)} if token else {})}
    r = await client.post("/sign-in", data=fields)
    if r.status_code != 303:
        raise SystemExit(f"sign-in failed: {r.status_code} {r.text[:200]}")
    return client


async def load(
    base: str, issued: dict[str, str], think: float, seconds: float, baseline: float
) -> None:
    """Sign everyone in; drive the portal alone, then while the analytics are recomputed."""
    citizens = [await sign_in(base, k) for n, k in issued.items() if n.startswith("load-cit")]
    auditor = await sign_in(base, issued["load-auditor"])
    for c in citizens:  # warm: each citizen's first page (imports, caches)
        r = await c.get("/portal")
        if r.status_code != 200:
            raise SystemExit(f"/portal answered {r.status_code} before the load: {r.text[:300]}")
    if baseline:
        await phase(citizens, None, think, baseline)
    await phase(citizens, auditor, think, seconds)
    for c in (*citizens, auditor):
        await c.aclose()


async def phase(
    citizens: list[httpx.AsyncClient],
    auditor: httpx.AsyncClient | None,
    think: float,
    seconds: float,
) -> None:
    """Drive the portal for ``seconds`` (with the auditor: until the computation is done)."""
    latencies: list[float] = []
    errors: list[str] = []
    done = asyncio.Event()
    started = time.perf_counter()
    took: float | None = None
    if auditor is not None:
        page = await auditor.get("/analytics")
        computing = 'id="analytics-progress"' in page.text
        print(f"/analytics: {page.status_code}, computation started: {computing}")
    else:
        print("the portal alone (no computation):")

    async def watch() -> None:
        nonlocal took
        while auditor is not None and not done.is_set():
            await asyncio.sleep(1.0)
            r = await auditor.get("/analytics/progress")
            if r.headers.get("HX-Refresh") == "true":
                took = time.perf_counter() - started
                done.set()
            elif "could not be computed" in r.text:
                errors.append(f"analytics: {r.text[:300]}")
                done.set()

    async def user(client: httpx.AsyncClient) -> None:
        while not done.is_set():
            t = time.perf_counter()
            try:
                r = await client.get("/portal")
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - t)
            if think:
                await asyncio.sleep(think)

    async def stop_after() -> None:
        await asyncio.sleep(seconds)
        done.set()

    tasks = [asyncio.create_task(user(c)) for c in citizens]
    tasks += [asyncio.create_task(watch()), asyncio.create_task(stop_after())]
    await done.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - started
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    print(
        f"{len(citizens)} citizens, think {think:.1f} s, {wall:.1f} s: {len(lat)} portal pages, "
        f"{len(errors)} errors"
    )
    if lat:
        print(
            f"portal latency ms: median {statistics.median(lat) * 1000:.0f}, p95 {pct(0.95):.0f}, "
            f"p99 {pct(0.99):.0f}, max {lat[-1] * 1000:.0f}"
        )
    if auditor is not None:
        print(
            "analytics computation: "
            + (f"done in {took:.1f} s" if took is not None else f"not done after {wall:.0f} s")
        )
    for e in errors[:5]:
        print("  error:", e)


def main() -> None:
    """Copy (or reuse) the store, add principals, serve it, and drive the portal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a store to copy (SQLite)")
    parser.add_argument("--policy", default="city-merit")
    parser.add_argument("--postgres", action="store_true", help="benchmarks/api.py's PG store")
    parser.add_argument("--records", type=int, default=200_000, help="with --postgres")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between page views")
    parser.add_argument("--seconds", type=float, default=60.0, help="longest with the analytics")
    parser.add_argument("--baseline", type=float, default=30.0, help="seconds without (0: none)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--data-as-of", help="record this day as the store's data_as_of (a demo made before 0008)"
    )
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("CREDENCE_DATABASE_URL", None)
    url: str | None = None
    scratch = Path(tempfile.mkdtemp(prefix="credence-portal-load-"))
    if args.postgres:
        sys.path.insert(0, str(HERE))
        import api as api_bench  # benchmarks/api.py: its cached PostgreSQL store

        cache = Path("/tmp/credence-api-bench") / f"r{args.records}-pg"
        url = api_bench.pg_url(args.records)
        if not (cache / "keys.json").exists():
            cache.mkdir(parents=True, exist_ok=True)
            (cache / "policy.yaml").write_text(api_bench.POLICY)
            api_bench.build_store(cache, args.records, max(1, args.records // 5), url)
        data, policy = cache / "data", str(cache / "policy.yaml")
        env["CREDENCE_DATABASE_URL"] = url
    else:
        if args.data is None:
            raise SystemExit("give --data (a SQLite store, e.g. credence-data/demo) or --postgres")
        data = scratch / "data"
        shutil.copytree(args.data, data, ignore=shutil.ignore_patterns("outbox", "incoming"))
        policy = args.policy
    from credence.policy import library

    policy_id = library.resolve(policy).id
    issued = add_principals(data, url, args.users, policy_id, args.data_as_of)
    port = free_port()
    cli = str(Path(sys.executable).with_name("credence"))
    command = [cli, "serve", "--policy", policy, "--port", str(port), "--data", str(data)]
    command += ["--workers", str(args.workers)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/sign-in", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        print(
            f"{'PostgreSQL' if url else 'SQLite'} ({data}), {args.workers} worker(s), "
            f"load average before: {os.getloadavg()[0]:.2f}"
        )
        asyncio.run(load(base, issued, args.think, args.seconds, args.baseline))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps({"server_exit": server.returncode}))


if __name__ == "__main__":
    main()
