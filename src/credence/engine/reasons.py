"""Principal reasons: for each adverse outcome, the records that moved the subject across it.

An adverse outcome is a grade below the top, each stage reached (every rung up to the highest),
a list the subject is on (or is noticed for) and a measure that a stage or a listing carries.
Each has a *gate*: the score at which it would end (the next better grade's bound, one past the
stage's threshold, one past a list's score bound). A counted record's *weight* is how far the
score would move towards the gate if that record alone did not count, everything else as
decided (the other records, the caps, the accepted credits, the stage clamps, the scale's
bounds). Reasons are the records of positive weight, ranked by weight, then by the size of their
own points, then by record id; at most four are given. A reason is *decisive* when without it
alone the outcome would end.

A list entered by records of given kinds has no gate: its reasons are those records, ranked by
weight towards the better end of the scale in the same way, and one is decisive when it is the
only one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from credence.engine.assessment import (
    AdverseOutcome,
    Contribution,
    ListingState,
    ListStatus,
    Reason,
    StageState,
)
from credence.engine.tally import Clamp, Tally, tally
from credence.policy.compiled import CompiledPolicy, CompiledRule, CompiledVersion
from credence.policy.model import Grade, ListDef, PolicyVersion
from credence.records import Record
from credence.states import ListingStatus, MeasureStatus

PRINCIPAL = 4
"""At most this many reasons per outcome (Regulation B practice: four principal reasons)."""

OPEN_LISTING = (ListingStatus.PENDING_NOTICE, ListingStatus.LISTED)
ADVERSE_MEASURE = (MeasureStatus.PROPOSED, MeasureStatus.AWAITING_REVIEW, MeasureStatus.IN_FORCE)


@dataclass(frozen=True)
class Gate:
    """The outcome ends once the score reaches ``threshold`` (from below when ``rising``)."""

    threshold: int
    rising: bool

    def toward(self, before: int, after: int) -> int:
        """How far moving the score from ``before`` to ``after`` goes towards the gate."""
        return after - before if self.rising else before - after

    def needed(self, score: int) -> int:
        """Points the score must move for the outcome to end."""
        return max(self.threshold - score, 0) if self.rising else max(score - self.threshold, 0)

    def crossed(self, score: int) -> bool:
        """True when ``score`` ends the outcome."""
        return score >= self.threshold if self.rising else score <= self.threshold


@dataclass(frozen=True)
class Situation:
    """What the reasons are computed from: the tally at the evaluation date and its inputs."""

    policy: CompiledPolicy
    records: Sequence[Record]
    now: Tally
    known_at: date
    credit_decisions: Mapping[str, str | None]
    clamps: Sequence[Clamp]

    @property
    def version(self) -> CompiledVersion:
        """The compiled version in force at the evaluation date."""
        return self.policy.of(self.now.version)

    def score_without(self, c: Contribution) -> int:
        """The score at the evaluation date if this one record did not count."""
        rule = self.policy.rule_then(c.kind, c.occurred_on)
        if rule is not None and rule.same_act_group is not None:
            # Another record of the same act may count in its place: score it again.
            rest = [r for r in self.records if r.record_id != c.record_id]
            day = self.now.as_of
            return tally(
                self.policy, rest, day, self.known_at, self.credit_decisions, self.clamps
            ).score
        version = self.version
        raw = {t.category: t.raw for t in self.now.categories}
        raw[c.category] -= c.points
        levels = {cap.id: cap.level(raw[cap.id], version.weighted) for cap in version.caps}
        clamped = sum(a.points for a in self.now.adjustments if a.type == "stage_clamp")
        return version.bounded(version.combine(levels) + clamped)

    def rule_of(self, c: Contribution) -> CompiledRule | None:
        """The rule that valued the contribution (the later one under lex mitior)."""
        if c.lex_mitior:
            return self.version.rule(c.kind)
        return self.policy.rule_then(c.kind, c.occurred_on)


def principal_reasons(
    situation: Situation,
    lists: Sequence[ListStatus],
    stages: StageState | None,
    listings: Sequence[ListingState],
) -> tuple[AdverseOutcome, ...]:
    """Every adverse outcome at the evaluation date with its principal reasons."""
    now, version = situation.now, situation.now.version
    weights = {c.record_id: situation.score_without(c) for c in now.contributions}
    out: list[AdverseOutcome] = []
    gate = grade_gate(version, now.grade)
    if gate is not None:
        out.append(_outcome(situation, weights, "grade", now.grade, gate, None))
    by_stage: dict[str, AdverseOutcome] = {}
    if stages is not None and stages.reached is not None and version.stages is not None:
        # Every rung up to the one reached is an outcome of its own, with its own threshold:
        # the notice of each stage gives the reasons for that stage.
        ladder = version.stages.ladder
        reached = [s.id for s in ladder].index(stages.reached)
        rising = version.higher_is_better
        for stage in reversed(ladder[: reached + 1]):
            sgate = Gate(stage.threshold + 1 if rising else stage.threshold - 1, rising)
            by_stage[stage.id] = _outcome(situation, weights, "stage", stage.id, sgate, None)
            out.append(by_stage[stage.id])
    by_list: dict[str, AdverseOutcome] = {}
    for lst in version.lists:
        status = next((s for s in lists if s.list_id == lst.id), None)
        episode = next(
            (e for e in listings if e.list_id == lst.id and e.status in OPEN_LISTING), None
        )
        if not on_list(lst.id, lists, listings):
            continue
        evidence = episode.evidence if episode is not None else status.evidence if status else ()
        lgate = list_gate(version, lst, now.grade)
        found = _outcome(situation, weights, "list", lst.id, lgate, evidence)
        by_list[lst.id] = found
        out.append(found)
    if stages is not None:
        for m in stages.measures:
            if m.status in ADVERSE_MEASURE and m.stage in by_stage:
                out.append(_as_measure(by_stage[m.stage], m.measure))
    for e in listings:
        if e.list_id in by_list:
            for lm in e.measures:
                if lm.status in ADVERSE_MEASURE:
                    out.append(_as_measure(by_list[e.list_id], lm.measure))
    return tuple(_unique(out))


def on_list(list_id: str, lists: Sequence[ListStatus], listings: Sequence[ListingState]) -> bool:
    """True while the subject is on a list or noticed for it. Where listings were replayed
    their episodes decide (a listing that ran its term is over though its records still
    count); where they were not, the entry criteria do."""
    episodes = [e for e in listings if e.list_id == list_id]
    if episodes:
        return any(e.status in OPEN_LISTING for e in episodes)
    return any(s.list_id == list_id and s.criteria_met for s in lists)


def _unique(outcomes: list[AdverseOutcome]) -> list[AdverseOutcome]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for o in outcomes:
        if (o.outcome, o.id) not in seen:
            seen.add((o.outcome, o.id))
            kept.append(o)
    return kept


def _as_measure(trigger: AdverseOutcome, measure: str) -> AdverseOutcome:
    return AdverseOutcome("measure", measure, trigger.threshold, trigger.needed, trigger.reasons)


def _bands(version: PolicyVersion) -> list[Grade]:
    """The grade bands from the worst to the best."""
    bands = sorted(version.grades, key=lambda g: g.min)
    return bands if version.higher_is_better else bands[::-1]


def grade_gate(version: PolicyVersion, grade: str) -> Gate | None:
    """Where a grade below the top ends: at the next better grade's bound (None at the top)."""
    bands = _bands(version)
    i = next(i for i, b in enumerate(bands) if b.grade == grade)
    if i == len(bands) - 1:
        return None
    better = bands[i + 1]
    if version.higher_is_better:
        return Gate(better.min, True)
    return Gate(better.max, False)


def list_gate(version: PolicyVersion, lst: ListDef, grade: str) -> Gate | None:
    """Where a list's score or grade condition stops holding (None: entered by records)."""
    crit = lst.entry
    if crit.score_at_most is not None:
        return Gate(crit.score_at_most + 1, True)
    if crit.score_at_least is not None:
        return Gate(crit.score_at_least - 1, False)
    if crit.grades is not None:
        bands = _bands(version)
        i = next(i for i, b in enumerate(bands) if b.grade == grade)
        while i < len(bands) and bands[i].grade in crit.grades:
            i += 1
        if i < len(bands):
            out = bands[i]
            return Gate(out.min, True) if version.higher_is_better else Gate(out.max, False)
    return None


def _outcome(
    situation: Situation,
    without: Mapping[str, int],
    kind: str,
    ident: str,
    gate: Gate | None,
    evidence: Sequence[str] | None,
) -> AdverseOutcome:
    now = situation.now
    # Records of a list entered by kind are weighed towards the better end of the scale.
    towards = gate if gate is not None else Gate(0, now.version.higher_is_better)
    ranked: list[tuple[int, Contribution]] = []
    for c in now.contributions:
        if evidence is not None and gate is None and c.record_id not in evidence:
            continue
        weight = towards.toward(now.score, without[c.record_id])
        if weight > 0 or (gate is None and evidence is not None):
            ranked.append((weight, c))
    ranked.sort(key=lambda wc: (-wc[0], -abs(wc[1].points), wc[1].record_id))
    reasons = []
    for rank, (weight, c) in enumerate(ranked[:PRINCIPAL], start=1):
        decisive = gate.crossed(without[c.record_id]) if gate is not None else len(ranked) == 1
        reasons.append(_reason(situation, rank, c, weight, decisive))
    return AdverseOutcome(
        outcome=kind,
        id=ident,
        threshold=gate.threshold if gate is not None else None,
        needed=gate.needed(now.score) if gate is not None else None,
        reasons=tuple(reasons),
    )


def _reason(
    situation: Situation, rank: int, c: Contribution, weight: int, decisive: bool
) -> Reason:
    rule = situation.rule_of(c)
    code = rule.reason_code if rule is not None else c.kind
    conduct = rule.reason_text if rule is not None else c.kind
    until = f"it stops counting on {c.expires_on}" if c.expires_on else "it does not expire"
    text = (
        f"{conduct}: record {c.record_id} of {c.occurred_on}, reported by {c.source}, "
        f"{c.points:+d} point{'' if abs(c.points) == 1 else 's'}; {until}."
    )
    return Reason(
        rank=rank,
        code=code,
        text=text,
        record_ids=(c.record_id,),
        kind=c.kind,
        points=c.points,
        weight=weight,
        decisive=decisive,
        legal_basis=c.legal_basis,
        source=c.source,
        occurred_on=c.occurred_on,
        expires_on=c.expires_on,
    )
