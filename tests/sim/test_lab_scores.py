"""The lab's scores are the reference evaluator's: random policies, random histories, every day.

The lab has no scorer of its own: it scores the store's rows with the batch plan of the compiled
policy (``credence.sim.grades``). Here random policies using the whole language (kinds, fixed
and banded points, expiries from either date, stage ladders that hold or clamp, credits with
limits, lists, additive and weighted models) and random record histories (with contests,
overturns, revocations) are laid out as the store holds them, and every subject's score, grade
and list criteria must equal the reference evaluator's on every day something can change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings

from credence.engine.reference import evaluate
from credence.policy.load import PolicySet
from credence.records import Record
from credence.sim.grades import criteria_met, scores_on, source_of_rows
from tests.strategies import full_policies, full_population


def store_rows(records: list[Record]) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The rows the store holds for ``records``: each known when recorded, each status change
    logged when it happened."""
    recs, status = [], []
    seq = 0
    for r in records:
        recs.append(
            (
                r.record_id,
                r.source,
                r.source_record_id,
                r.subject_id,
                r.kind,
                r.occurred_on,
                r.effective_on,
                r.recorded_at,
                r.amount,
                r.evidence_ref,
                r.recorded_at,
            )
        )
        for change in r.history:
            seq += 1
            status.append((r.record_id, seq, change.status.value, change.at, change.ref, change.at))
    return recs, status


def change_days(policy: PolicySet, records: list[Record]) -> list[date]:
    """Every day a score can change on, and the day after: record dates, status changes,
    version starts, and the days points expire (the reference evaluator's own dates)."""
    days: set[date] = {v.effective_from for v in policy.versions}
    for r in records:
        days |= {r.occurred_on, r.effective_on, r.recorded_at.date()}
        days |= {c.at.date() for c in r.history}
    last = max(days)
    for r in records:
        a = evaluate(policy, [r], last, last, subject_id=r.subject_id)
        days |= {c.expires_on for c in a.contributions if c.expires_on is not None}
    return sorted(d + timedelta(days=k) for d in days for k in (0, 1))


def reference(policy: PolicySet, records: list[Record], day: date) -> dict[str, tuple[object, ...]]:
    by: dict[str, list[Record]] = {}
    for r in records:
        by.setdefault(r.subject_id, []).append(r)
    out = {}
    for sid, mine in sorted(by.items()):
        a = evaluate(policy, mine, day, day, subject_id=sid)
        out[sid] = (a.score, a.grade, frozenset(x.list_id for x in a.lists if x.criteria_met))
    return out


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(full_policies(), full_population(max_subjects=3, max_records=5))
def test_lab_scores_equal_the_reference_on_every_day(
    policy: PolicySet, records: list[Record]
) -> None:
    recs, status = store_rows(records)
    source = source_of_rows(recs, status)
    days = [d for d in change_days(policy, records) if policy.version_at(d) is not None]
    for day in days:
        table = scores_on(policy, source, day)
        met = criteria_met(table)
        got = {
            sid: (score, grade, frozenset(lid for lid, who in met.items() if sid in who))
            for sid, score, grade in zip(
                table.column("subject_id").to_pylist(),
                table.column("score").to_pylist(),
                table.column("grade").to_pylist(),
                strict=True,
            )
        }
        # The batch answers for the subjects with a record known that day.
        known = {r.subject_id for r in records if r.recorded_at.date() <= day}
        want = {k: v for k, v in reference(policy, records, day).items() if k in known}
        assert got == want, day


def test_a_hand_computed_day() -> None:
    # city-merit: base 1000; an unfulfilled judgment is -100 (expires five years after it took
    # effect), a tax arrears of 1,500 is -30 (band 1000+).
    from credence.policy import library

    city = library.resolve("city-merit")
    at = datetime.combine(date(2026, 3, 2), time(9), tzinfo=UTC)
    rows = [
        (
            "court:1",
            "court",
            "1",
            "s1",
            "legal.judgment_unfulfilled",
            date(2026, 3, 1),
            date(2026, 3, 1),
            at,
            None,
            None,
            at,
        ),
        (
            "tax_office:2",
            "tax_office",
            "2",
            "s1",
            "financial.tax_arrears",
            date(2026, 3, 1),
            date(2026, 3, 1),
            at,
            Decimal(1500),
            None,
            at,
        ),
    ]
    source = source_of_rows(rows, [])
    table = scores_on(city, source, date(2026, 6, 1))
    assert table.column("score").to_pylist() == [870]
    assert table.column("grade").to_pylist() == ["B"]
    # On the day it happened nothing was known yet: no subject with a known record.
    assert scores_on(city, source, date(2026, 3, 1)).num_rows == 0
