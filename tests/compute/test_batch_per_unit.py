"""Points per unit in the batch plan: whole units counted exactly (not by a double's quotient),
the cap held, and the same totals as the reference evaluator."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from credence.compute.batch import connect, score_batch, source_from_records
from credence.records import Record
from tests.builders import base_policy, policy, rule
from tests.compute.test_batch_support import comparable, reference_rows

DAY = date(2025, 3, 1)


def _rec(subject: str, kind: str, amount: str | None) -> Record:
    return Record(
        record_id=f"r-{subject}",
        source="agency",
        source_record_id=f"r-{subject}",
        subject_id=subject,
        kind=kind,
        occurred_on=DAY,
        effective_on=DAY,
        recorded_at=datetime.combine(DAY, time(), tzinfo=UTC),
        amount=None if amount is None else Decimal(amount),
    )


def test_per_unit_scores_equal_the_hand_computed_ones_on_duckdb() -> None:
    p = policy(
        base_policy(
            rules=[
                rule("arrears", {"each": -5, "per": 1, "cap": -40}, "P2Y"),
                rule("tenth", {"each": -1, "per": "0.1"}, "P2Y"),
            ]
        )
    )
    recs = [
        _rec("half", "arrears", "0.5"),
        _rec("three", "arrears", "3.99"),
        _rec("eight", "arrears", "8"),
        _rec("many", "arrears", "20"),
        _rec("none", "arrears", None),
        # 0.3 / 0.1 is 2.9999999999999996 as doubles: still three whole tenths
        _rec("tenths", "tenth", "0.3"),
    ]
    as_of = date(2025, 6, 1)
    con = connect("duckdb")
    result = score_batch(p, source_from_records(con, recs), as_of, as_of)
    assert result.table is not None
    scores = {r["subject_id"]: r["score"] for r in result.table.to_pylist()}
    assert scores == {
        "half": 100,
        "three": 85,
        "eight": 60,
        "many": 60,
        "none": 100,
        "tenths": 97,
    }
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = reference_rows(p, recs, as_of, as_of, con)
    assert got == {k: comparable(v) for k, v in want.items()}
