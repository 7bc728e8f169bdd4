"""Replaying an analysis witness through the reference evaluator: does it show what it claims?"""

from __future__ import annotations

from dataclasses import dataclass

from credence.engine.assessment import Assessment
from credence.engine.reference import evaluate
from credence.engine.spec import to_record
from credence.policy.analyze import Claim, Witness
from credence.policy.load import PolicySet
from credence.states import MeasureStatus

_LIVE = (MeasureStatus.IN_FORCE, MeasureStatus.AWAITING_REVIEW)


@dataclass(frozen=True)
class Replayed:
    """The evaluator's answer for one witness: the claims that did not hold (empty: confirmed)."""

    assessment: Assessment
    failures: tuple[str, ...]

    @property
    def confirmed(self) -> bool:
        """True when every claim held."""
        return not self.failures


def replay_witness(policy: PolicySet, witness: Witness) -> Replayed:
    """Evaluate ``witness``'s records at its day and check each of its claims."""
    records = [to_record(policy, i, r) for i, r in enumerate(witness.records)]
    got = evaluate(policy, records, witness.as_of, witness.known_at or witness.as_of)
    failures = tuple(
        f"{claim}: {why}" for claim in witness.claims if (why := _check(got, claim)) is not None
    )
    return Replayed(got, failures)


def _check(got: Assessment, claim: Claim) -> str | None:
    """None when ``claim`` holds in ``got``, else what the evaluator showed instead."""
    stages = got.stages
    if claim.kind == "grade":
        return None if got.grade == claim.value else f"grade is {got.grade}"
    if claim.kind == "score":
        return None if str(got.score) == claim.value else f"score is {got.score}"
    if claim.kind == "stage":
        effective = stages.effective if stages else None
        return None if effective == claim.target else f"stage in effect is {effective}"
    if claim.kind == "jump":
        if stages is None:
            return "no stages"
        served = {n.stage for n in stages.notices if n.served_on is not None}
        if stages.reached != claim.value:
            return f"stage reached is {stages.reached}"
        return None if claim.target not in served else f"notice {claim.target} was served"
    if claim.kind == "list":
        met = sorted(s.list_id for s in got.lists if s.criteria_met)
        return None if claim.target in met else f"lists met are {met}"
    if claim.kind == "measure":
        live = [m.measure for m in stages.measures if m.status in _LIVE] if stages else []
        live += [m.measure for e in got.listings for m in e.measures if m.status in _LIVE]
        return None if claim.target in live else f"measures live are {sorted(live)}"
    if claim.kind == "no_measure":
        ever = [m.measure for m in stages.measures] if stages else []
        ever += [m.measure for e in got.listings for m in e.measures]
        return None if claim.target not in ever else f"{claim.target} was proposed"
    if claim.kind == "not_counted":
        ids = [n.record_id for n in got.not_counted]
        return None if claim.target in ids else f"{claim.target} counts"
    if claim.kind == "deadline":
        found = [
            n.deadline.isoformat()
            for n in (stages.notices if stages else ())
            if n.stage == claim.target and n.deadline is not None
        ]
        return None if claim.value in found else f"deadlines are {found}"
    if claim.kind == "listing_deadline":
        found = [
            e.deadline.isoformat()
            for e in got.listings
            if e.list_id == claim.target and e.deadline is not None
        ]
        return None if claim.value in found else f"listing deadlines are {found}"
    return f"unknown claim {claim.kind}"
