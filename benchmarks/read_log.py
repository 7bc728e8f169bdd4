"""A due-process chunk's read log: one chain entry per subject against one per chunk (prints).

    .venv/bin/python benchmarks/read_log.py [--chunks 20] [--chunk 500] [--repeat 5]
        [--backend sqlite,postgresql]

For each backend a fresh store; then, alternating, ``--chunks`` chunks of ``--chunk`` subjects
logged the old way (an access event and a chain entry per subject: ``log_reads``) and the new
way (an access event per subject and one chain entry per chunk: ``log_group``), each chunk in
its own transaction and commit, as a run writes them. Prints the median seconds of each way over
``--repeat`` rounds, the chain entries each way adds, and the seconds of ``credence audit
verify`` over the chain at the end (wall times on a shared machine depend on what else runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from credence.audit import chain
from credence.audit.access import Access, GroupRead, Read, log_group, log_reads
from credence.store.db import Store
from process import PG_URL, _store

ACCESS = Access("process", "operator", "due process run for 2027-12-31")


def _per_subject(store: Store, ids: list[str], at: datetime) -> None:
    with store.engine.begin() as c:
        detail: dict[str, object] = {"known_at": None, "count": 3}
        log_reads(c, store.keys, [Read(ACCESS, s, "records", at, detail) for s in ids])


def _per_chunk(store: Store, ids: list[str], at: datetime) -> None:
    with store.engine.begin() as c:
        why = {s: ("records",) for s in ids}
        log_group(c, store.keys, GroupRead(ACCESS, "records", at, why, {"known_at": None}))


def main() -> None:
    """Time both ways of logging a run's reads on each backend."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", default="sqlite")
    ap.add_argument("--pg-url", default=PG_URL)
    args = ap.parse_args()
    subjects = [f"{i:064x}" for i in range(args.chunks * args.chunk)]
    chunks = [subjects[i : i + args.chunk] for i in range(0, len(subjects), args.chunk)]
    for backend in args.backend.split(","):
        with tempfile.TemporaryDirectory() as tmp, _store(backend, Path(tmp), args.pg_url) as st:
            times: dict[str, list[float]] = {"per subject": [], "per chunk": []}
            entries = dict.fromkeys(times, 0)
            for _ in range(args.repeat):
                for name, way in (("per subject", _per_subject), ("per chunk", _per_chunk)):
                    with st.session() as s:
                        before = chain.head_of(s)[0]
                    clock = time.perf_counter()
                    for part in chunks:
                        way(st, part, datetime.now(UTC))
                    times[name].append(time.perf_counter() - clock)
                    with st.session() as s:
                        entries[name] = chain.head_of(s)[0] - before
            clock = time.perf_counter()
            with st.session() as s:
                verdict = chain.verify(s, st.keys)
            verified = time.perf_counter() - clock
            print(f"{backend}: {len(subjects):,} subjects read in {len(chunks)} chunks")
            for name, seconds in times.items():
                print(
                    f"  {name:12} median {statistics.median(seconds):.3f} s "
                    f"(of {', '.join(f'{x:.3f}' for x in seconds)}), "
                    f"{entries[name]:,} chain entries"
                )
            ok = verdict.ok
            print(f"  audit verify of {verdict.entries:,} entries: {verified:.2f} s, ok={ok}")


if __name__ == "__main__":
    main()
