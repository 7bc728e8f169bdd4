"""What the principal reasons and the way back cost per explanation (city-merit, one subject).

Prints, for subjects with 5, 20 and 50 records, the median time of an evaluation as the due
process runs it (principal reasons included) and of one with the way back (as `explain` and the
API's assessment run it).

    .venv/bin/python benchmarks/way_back.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from credence.engine.reference import evaluate
from credence.policy import library
from credence.records import Record

KINDS = (
    "financial.tax_arrears",
    "financial.loan_default",
    "financial.utility_arrears",
    "civic.traffic_violation",
    "civic.volunteering",
    "legal.judgment_unfulfilled",
)
AS_OF = date(2026, 11, 1)


def subject(n: int, rng: random.Random) -> list[Record]:
    """``n`` records of one subject over the ten months before the evaluation."""
    out = []
    for i in range(n):
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(300))
        kind = rng.choice(KINDS)
        out.append(
            Record(
                record_id=f"r{i}",
                source="bench",
                source_record_id=f"r{i}",
                subject_id="s",
                kind=kind,
                occurred_on=day,
                effective_on=day,
                recorded_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
                amount=None if kind != "financial.tax_arrears" else rng.choice((500, 1500, 5000)),
            )
        )
    return out


def median_ms(run: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    policy = library.resolve("city-merit")
    rng = random.Random(20)
    print("records  evaluate_ms  with_way_back_ms  ratio")
    for n in (5, 20, 50):
        recs = subject(n, rng)
        plain = median_ms(lambda r=recs: evaluate(policy, r, AS_OF, AS_OF), args.repeat)
        back = median_ms(
            lambda r=recs: evaluate(policy, r, AS_OF, AS_OF, way_back=True), args.repeat
        )
        print(f"{n:7d}  {plain:11.1f}  {back:16.1f}  {back / plain:5.1f}")


if __name__ == "__main__":
    main()
