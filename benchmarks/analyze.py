"""Static analysis and the policy book: seconds per bundled policy, and growth with rule count.

    .venv/bin/python benchmarks/analyze.py [--repeat 3] [--sizes 10 40 160]

Prints one line of JSON per bundled policy (median wall and CPU seconds of ``analyze`` and of
the book's content over ``--repeat`` runs) and one per size of a generated policy with that
many rules (in eight capped categories, a three-rung ladder with a measure, two lists).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import date

from credence.book.content import book_of
from credence.policy import library
from credence.policy.analyze import analyze
from credence.policy.load import PolicySet
from credence.policy.model import PolicyVersion


def generated(rules: int) -> PolicySet:
    """A demerit policy with ``rules`` rules, so that the analysis can be timed as it grows."""
    cats = [{"id": f"c{i}", "max": 40 + 5 * i} for i in range(8)]
    doc = {
        "id": f"gen-{rules}",
        "version": "1",
        "effective_from": date(2026, 1, 1),
        "direction": "higher_is_worse",
        "scale": {"base": 0, "min": 0, "max": 200},
        "grades": [
            {"grade": "clear", "min": 0, "max": 0},
            {"grade": "low", "min": 1, "max": 20},
            {"grade": "high", "min": 21, "max": 200},
        ],
        "categories": cats,
        "rules": [
            {
                "kind": f"k{i}",
                "title": f"Kind {i}",
                "category": f"c{i % 8}",
                "points": 1 + i % 7,
                "expires_after": "P720D",
                "legal_basis": f"Act s. {i}",
                "data_category": "conduct",
            }
            for i in range(rules)
        ],
        "measures": [
            {
                "id": "ban",
                "title": "Ban",
                "domain": "c0",
                "legal_basis": "Act s. 99",
                "notice_period": "P14D",
                "appeal_route": "Court",
                "cross_domain_basis": "Act s. 98",
            }
        ],
        "stages": {
            "on_skip": "hold",
            "service_lag": "P3D",
            "ladder": [
                {"id": "s1", "threshold": 10, "title": "Reminder"},
                {"id": "s2", "threshold": 20, "title": "Warning"},
                {"id": "s3", "threshold": 40, "measure": "ban", "title": "Ban"},
            ],
        },
        "lists": [
            {
                "id": "watch",
                "type": "redlist",
                "title": "Watch",
                "entry": {"score_at_least": 30},
                "duration": "P180D",
                "legal_basis": "Act s. 97",
            },
            {
                "id": "k0-list",
                "type": "redlist",
                "title": "K0",
                "entry": {"record_kinds": ["k0"], "score_at_least": 5},
                "duration": "P180D",
                "legal_basis": "Act s. 96",
            },
        ],
    }
    return PolicySet.of(PolicyVersion.model_validate(doc))


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn`` over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    """Time every bundled policy, then the generated sizes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 40, 160])
    args = parser.parse_args()
    for name in library.names():
        # A fresh load per run: the compiled policy is cached per loaded policy.
        aw, ac = timed(lambda n=name: analyze(library.resolve(n)), args.repeat)
        bw, bc = timed(lambda n=name: book_of(library.resolve(n)), args.repeat)
        print(
            json.dumps(
                {
                    "policy": name,
                    "analyze_s": round(aw, 3),
                    "analyze_cpu_s": round(ac, 3),
                    "book_s": round(bw, 3),
                    "book_cpu_s": round(bc, 3),
                }
            )
        )
    for size in args.sizes:
        aw, ac = timed(lambda n=size: analyze(generated(n)), args.repeat)
        print(json.dumps({"rules": size, "analyze_s": round(aw, 3), "analyze_cpu_s": round(ac, 3)}))


if __name__ == "__main__":
    main()
