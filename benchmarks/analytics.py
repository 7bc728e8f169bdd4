"""The analytics: how long the computation takes, step by step, and the page's render time.

    .venv/bin/python benchmarks/analytics.py --data credence-data/demo [--policy city-merit]
        [--as-of 2030-12-31] [--months 12] [--renders 20] [--skip-compute] [--repeat 3] [--before]

Computes the figures over the store in ``--data`` as ``credence analytics refresh`` does (they
are kept in its ``analytics_results``), printing the time of each step: the copy of the records
into DuckDB, today's batch run (the headline figures, which the page shows first), and each
month of the series. Then it signs an auditor in to the web pages (an in-process app on the same
store, its clock at ``--as-of``) and times ``--renders`` views of ``/analytics`` rendered from
the kept figures. ``--as-of`` defaults to the store's ``data_as_of`` (or today). ``--repeat``
computes that many times and prints the median; ``--before`` also times the computation as it was
before the replayed subjects' records were read once (each month's run reads them again),
alternating the two, in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path


def main() -> None:
    """Compute, then render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--policy", default="city-merit")
    parser.add_argument("--as-of")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--skip-compute", action="store_true", help="render the kept figures")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--before", action="store_true", help="also time the old way")
    args = parser.parse_args()
    from argon2 import PasswordHasher
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from sqlalchemy import delete

    from credence.access.auth import add_principal
    from credence.audit.access import Access
    from credence.compute import analytics as an
    from credence.policy import library
    from credence.store.db import migrate, open_store
    from credence.store.meta import data_as_of
    from credence.store.schema import PrincipalRow
    from credence.web import create_web_router

    store = open_store(args.data)
    migrate(store.engine)
    policy = library.resolve(args.policy)
    day = date.fromisoformat(args.as_of) if args.as_of else data_as_of(store.engine) or date.today()
    print(f"store {args.data}, policy {policy.id}, as of {day}; load {os.getloadavg()[0]:.2f}")
    if not args.skip_compute:
        kept = an.remembered
        totals: dict[str, list[float]] = {"now": [], "before": []}
        for _ in range(args.repeat):
            for way in ("before", "now") if args.before else ("now",):
                # The old way: every month's batch run reads the replayed subjects' records.
                an.remembered = kept if way == "now" else (lambda source: source)
                print(f"{way}: load {os.getloadavg()[0]:.2f}")
                started = time.perf_counter()
                last = [started]

                def tell(
                    step: str, share: float, started: float = started, last: list[float] = last
                ) -> None:
                    now = time.perf_counter()
                    print(
                        f"  {now - started:7.1f} s (+{now - last[0]:5.1f} s)  {share:4.0%}  {step}"
                    )
                    last[0] = now

                f = an.compute(
                    store, policy, day, Access("bench", "operator", an.PURPOSE),
                    months=args.months, progress=tell,
                )  # fmt: skip
                totals[way].append(f.seconds)
                print(
                    f"computed {f.subjects:,} subjects, {f.months_done} months in {f.seconds:.1f} s"
                )
        an.remembered = kept
        for way, seconds in totals.items():
            if seconds:
                print(
                    f"{way}: median {statistics.median(seconds):.1f} s of {len(seconds)} "
                    f"({', '.join(f'{x:.1f}' for x in seconds)}); load {os.getloadavg()[0]:.2f}"
                )
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with store.session() as s:
        s.execute(delete(PrincipalRow).where(PrincipalRow.name == "bench-auditor"))
        _, key = add_principal(
            s, store.keys, "bench-auditor", "auditor", actor="bench", hasher=cheap
        )
        s.commit()
    noon = datetime.combine(day, clock_time(12), UTC)
    app = FastAPI()
    app.include_router(create_web_router(store, policy, clock=lambda: noon))
    with TestClient(app) as client:
        form = client.get("/sign-in").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        fields = {"api_key": key, **({"csrf": token.group(1)} if token else {})}
        assert client.post("/sign-in", data=fields, follow_redirects=False).status_code == 303
        times = []
        for _ in range(args.renders):
            t = time.perf_counter()
            r = client.get("/analytics")
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text[:300]
        fresh = 'id="analytics-progress"' not in r.text
    print(
        f"/analytics from the kept figures ({'current' if fresh else 'NOT current'}): "
        f"{args.renders} renders, median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms"
    )
    store.close()


if __name__ == "__main__":
    main()
