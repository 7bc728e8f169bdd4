"""A legitimate user's latency while 32 threads guess API keys (prints figures).

    .venv/bin/python benchmarks/auth_guessing.py [--records 20000] [--requests 400]
                                                 [--threads 32] [--cache /tmp/credence-api-bench]

The store and principals are benchmarks/api.py's (made once in ``--cache``), served by
``credence serve``'s application under uvicorn on 127.0.0.1 only. One legitimate subject asks for
``GET /me/records`` ``--requests`` times in a row, first on an idle server, then while
``--threads`` threads send wrong keys as fast as the answers come: wrong secrets for that very
subject, for the other principals, and keys of principals that do not exist. Every loop is
bounded: the guessers stop when the user's requests are done (or after ``--requests`` x 50
guesses each). The guessers share the user's address (loopback), which is the hard case: their
address is throttled and locked out, the user's key, verified lately, is not refused.
The user is timed from the third second of guessing on (the guessers' first burst, at most the
address's allowance of checks, is over by then). Prints p50/p99 of the user idle, under guessing
and idle again, and what the guessers got (401, 429).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import api as bench  # benchmarks/api.py: the store and the server's settings


def _get(conn: http.client.HTTPConnection, path: str, key: str) -> int:
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    response.read()
    return response.status


def user_latencies(port: int, key: str, n: int) -> list[float]:
    """Milliseconds of ``n`` requests of the legitimate user, one after another."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        status = _get(conn, "/me/records", key)
        out.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"the legitimate user got {status}")
    conn.close()
    return out


def guesser(port: int, keys: list[str], stop: threading.Event, limit: int, got: Counter) -> None:
    """Send wrong keys until told to stop (or ``limit`` of them)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    mine: Counter[int] = Counter()
    for i in range(limit):
        if stop.is_set():
            break
        try:
            mine[_get(conn, "/me/records", keys[i % len(keys)])] += 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.close()
    got.update(mine)


def summary(name: str, ms: list[float]) -> tuple[float, float]:
    """Print and return p50 and p99."""
    ms = sorted(ms)
    p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{name:20s} {len(ms):5d} requests  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    return p50, p99


def main() -> None:
    """Start the server, time the user idle and under guessing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/credence-api-bench"))
    args = parser.parse_args()
    subjects = max(1, args.records // 5)
    cache: Path = args.cache / f"r{args.records}"
    if not (cache / "keys.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "policy.yaml").write_text(bench.POLICY)
        bench.build_store(cache, args.records, subjects)
    issued: dict[str, str] = json.loads((cache / "keys.json").read_text())
    user = issued["subject-0"]
    wrong = [key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB") for key in issued.values()]
    wrong += [f"crd_{900000 + i}_no-such-principal" for i in range(len(wrong))]
    port = bench.free_port()
    env = dict(os.environ)
    env.pop("CREDENCE_DATABASE_URL", None)
    env.update(CREDENCE_DATA=str(cache / "data"), CREDENCE_API_POLICY=str(cache / "policy.yaml"))
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "credence.server:app_from_env", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
            *("--log-level", "warning"),
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
        user_latencies(port, user, 20)  # warm-up: the user's key verified once
        print(f"{args.threads} guessing threads, 127.0.0.1, load average {os.getloadavg()[0]:.2f}")
        _, idle = summary("user, idle", user_latencies(port, user, args.requests))
        stop, got = threading.Event(), Counter[int]()
        threads = [
            threading.Thread(
                target=guesser, args=(port, wrong[i:] + wrong[:i], stop, args.requests * 50, got)
            )
            for i in range(args.threads)
        ]
        for t in threads:
            t.start()
        time.sleep(3.0)  # the guessing under way: its first burst of checks is over
        try:
            _, busy = summary("user, 32 guessing", user_latencies(port, user, args.requests))
        finally:
            stop.set()
            for t in threads:
                t.join()
        print(f"guesses answered: {dict(sorted(got.items()))}")
        # The idle figure again: on a shared machine the spread of two idle runs says how much
        # of a difference is noise.
        _, after = summary("user, idle again", user_latencies(port, user, args.requests))
        print(
            f"p99 under guessing / idle: {busy / idle:.2f}x, / idle again: {busy / after:.2f}x "
            "(target: at most 2x)"
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
