"""Running a policy's embedded tests: examples that double as its specification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from credence.engine.reference import evaluate
from credence.errors import CredenceError
from credence.policy.load import PolicySet
from credence.policy.model import TestCase, TestRecord
from credence.records import Record, Status, StatusChange
from credence.states import ListingStatus, MeasureStatus

TEST_SUBJECT = "test-subject"


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one embedded test: the mismatches, empty when it passed."""

    name: str
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.failures


def to_record(policy: PolicySet, index: int, spec: TestRecord) -> Record:
    """Turn a test's short record into a full record (ids, source and dates filled in)."""
    record_id = spec.id or f"r{index + 1}"
    source = spec.source
    if source is None:
        version = policy.version_at(spec.occurred_on) or policy.latest
        rule = version.rule_for(spec.kind)
        source = rule.sources[0] if rule and rule.sources else "test"
    effective = spec.effective_on or spec.occurred_on
    recorded = spec.recorded_on or effective
    history: tuple[StatusChange, ...] = ()
    if spec.status != Status.ACTIVE:
        on = spec.status_on or recorded
        history = (StatusChange(Status(spec.status), datetime.combine(on, time(), tzinfo=UTC)),)
    return Record(
        record_id=record_id,
        source=source,
        source_record_id=record_id,
        subject_id=TEST_SUBJECT,
        kind=spec.kind,
        occurred_on=spec.occurred_on,
        effective_on=effective,
        recorded_at=datetime.combine(recorded, time(), tzinfo=UTC),
        amount=spec.amount,
        history=history,
    )


def run_case(policy: PolicySet, case: TestCase) -> CaseResult:
    """Evaluate one embedded test and compare every expectation it states."""
    records = [to_record(policy, i, r) for i, r in enumerate(case.records)]
    try:
        got = evaluate(policy, records, case.as_of, case.known_at or case.as_of)
    except CredenceError as exc:
        return CaseResult(case.name, (f"evaluation failed: {exc}",))
    exp = case.expect
    fails: list[str] = []

    def check(what: str, expected: object, actual: object) -> None:
        if expected is not None and expected != actual:
            fails.append(f"{what}: expected {expected!r}, got {actual!r}")

    check("score", exp.score, got.score)
    check("grade", exp.grade, got.grade)
    if exp.categories is not None:
        totals = got.category_totals()
        check("categories", exp.categories, {k: totals.get(k) for k in exp.categories})
    if exp.counted is not None:
        check("counted", sorted(exp.counted), sorted(got.counted_ids()))
    if exp.lists is not None:
        check("lists", sorted(exp.lists), sorted(s.list_id for s in got.lists if s.criteria_met))
    if exp.listed is not None:
        listed = sorted(e.list_id for e in got.listings if e.status == ListingStatus.LISTED)
        check("listed", sorted(exp.listed), listed)
    stages = got.stages
    if exp.stage is not None:
        check("stage", exp.stage, stages.effective if stages else None)
    if exp.notices_served is not None:
        served = [n.stage for n in stages.notices if n.served_on] if stages else []
        check("notices_served", exp.notices_served, served)
    if exp.measures_in_force is not None:
        live = (
            [m.measure for m in stages.measures if m.status == MeasureStatus.IN_FORCE]
            if stages
            else []
        )
        check("measures_in_force", exp.measures_in_force, live)
    return CaseResult(case.name, tuple(fails))


def run_all(policy: PolicySet) -> list[CaseResult]:
    """Run every embedded test of ``policy``."""
    return [run_case(policy, case) for case in policy.tests]
