"""The score at one date from one set of records: semantic points 1 to 4 of the design.

This is a pure function of the records, the policy, the two evaluation dates, and the
history-dependent inputs the timeline replay decides (which credits were accepted, which stage
clamps apply). Without stages and credits those inputs are empty and the score depends on the
record set alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from credence.engine.assessment import Adjustment, CategoryTotal, Contribution, NotCounted
from credence.errors import EvaluationError
from credence.policy.compiled import (
    CompiledPolicy,
    CompiledRule,
    CompiledVersion,
    same_act_order,
)
from credence.policy.model import PolicyVersion
from credence.records import VOID, Record


@dataclass(frozen=True)
class Clamp:
    """A stage clamp: points set aside on ``on`` because a stage was skipped."""

    on: date
    points: int
    stage: str
    expires_on: date | None

    def active_at(self, day: date) -> bool:
        """True while the clamp applies."""
        return self.on <= day and (self.expires_on is None or day < self.expires_on)


@dataclass(frozen=True)
class Tally:
    """The score at one date with its explanation."""

    version: PolicyVersion
    as_of: date
    score: int
    grade: str
    categories: tuple[CategoryTotal, ...]
    contributions: tuple[Contribution, ...]
    adjustments: tuple[Adjustment, ...]
    not_counted: tuple[NotCounted, ...]


def count_date(record: Record, version: CompiledVersion) -> date:
    """The day from which a record counts under the version's ``count_from``."""
    return version.counts_from(record.occurred_on, record.effective_on)


def expiry_of(record: Record, rule: CompiledRule) -> date | None:
    """The first day on which a record no longer counts under ``rule`` (None: never)."""
    return rule.expires_on(record.occurred_on, record.effective_on)


def presence(record: Record, version: CompiledVersion, as_of: date, known_at: date) -> str | None:
    """Why a record is not present at (as_of, known_at) regardless of its rule, or None."""
    if not record.known_by(known_at):
        if record.recorded_at.date() > known_at:
            return f"not yet known on {known_at} (recorded {record.recorded_at.date()})"
        return f"not final by {known_at} (final on {record.effective_on})"
    start = count_date(record, version)
    if start > as_of:
        return f"counts from {start} ({version.count_from.value} date)"
    status = record.status_at(known_at)
    if not version.withholds(status):
        return None
    return f"status {status.value}" if status in VOID else "suspended while contested"


def value(
    policy: CompiledPolicy, version: CompiledVersion, record: Record, as_of: date, known_at: date
) -> Contribution | NotCounted:
    """Semantic points 1 and 2: whether a record counts at ``as_of`` and for how much."""
    absent = presence(record, version, as_of, known_at)
    if absent:
        return NotCounted(record.record_id, record.kind, absent)
    then = policy.version_at(record.occurred_on)
    rule_then = then.rule(record.kind) if then else None
    if then is None or rule_then is None:
        return NotCounted(
            record.record_id,
            record.kind,
            f"no rule for {record.kind!r} was in force on {record.occurred_on} (no retroactivity)",
        )
    chosen, chosen_version, lenient = rule_then, then, False
    if version.label != then.label:
        rule_now = version.rule(record.kind)
        val_then = _worth(record, rule_then, as_of)
        val_now = None if rule_now is None else _worth(record, rule_now, as_of)
        choice = policy.lenient_choice(version, rule_then, val_then, val_now)
        if choice == "gone":
            return NotCounted(
                record.record_id,
                record.kind,
                f"version {version.label} in force on {as_of} no longer scores "
                f"{record.kind!r} (more lenient law applies)",
            )
        if choice == "now" and rule_now is not None:
            chosen, chosen_version, lenient = rule_now, version, True
    points, expires = chosen.points_for(record.amount), expiry_of(record, chosen)
    if points is None:
        why = (
            "the record has no amount"
            if record.amount is None
            else f"amount {record.amount} is below the lowest band"
        )
        shape = "per-unit rule" if chosen.per_unit is not None else "banded rule"
        return NotCounted(record.record_id, record.kind, f"{shape}: {why}")
    if expires is not None and as_of >= expires:
        return NotCounted(record.record_id, record.kind, f"expired on {expires}")
    return Contribution(
        record_id=record.record_id,
        kind=record.kind,
        source=record.source,
        category=chosen.category,
        points=points,
        rule_version=chosen_version.label,
        legal_basis=chosen.legal_basis,
        occurred_on=record.occurred_on,
        effective_on=record.effective_on,
        expires_on=expires,
        lex_mitior=lenient,
        note="more lenient later version applied" if lenient else "",
    )


def _worth(record: Record, rule: CompiledRule, as_of: date) -> int:
    """The record's value under ``rule`` at ``as_of`` (0 if unplaced or expired)."""
    points, expires = rule.points_for(record.amount), expiry_of(record, rule)
    if points is None or (expires is not None and as_of >= expires):
        return 0
    return points


def tally(
    policy: CompiledPolicy,
    records: Sequence[Record],
    as_of: date,
    known_at: date,
    credit_decisions: Mapping[str, str | None] | None = None,
    clamps: Iterable[Clamp] = (),
) -> Tally:
    """Score ``records`` at ``as_of`` as known at ``known_at`` (semantic points 1-4).

    ``credit_decisions`` maps a credit record's id to None (accepted) or a refusal reason;
    a credit record missing from it does not count yet.
    """
    version = policy.version_at(as_of)
    if version is None:
        raise EvaluationError(f"policy {policy.id} is not in force on {as_of}")
    decisions = credit_decisions or {}
    counted: list[Contribution] = []
    skipped: list[NotCounted] = []
    for record in sorted(records, key=lambda r: (r.occurred_on, r.record_id)):
        if record.recorded_at.date() > known_at:
            continue  # unknown at K: a reproduction of the past must not mention it
        result = value(policy, version, record, as_of, known_at)
        if isinstance(result, Contribution) and policy.is_credit(record.kind, record.occurred_on):
            if record.record_id not in decisions:
                result = NotCounted(record.record_id, record.kind, "credit not yet decided")
            elif (refusal := decisions[record.record_id]) is not None:
                result = NotCounted(record.record_id, record.kind, refusal)
        if isinstance(result, Contribution):
            counted.append(result)
        else:
            skipped.append(result)
    counted, dropped = _same_act(policy, counted)
    skipped += dropped
    return _total(version, as_of, counted, skipped, [c for c in clamps if c.active_at(as_of)])


def _same_act(
    policy: CompiledPolicy, counted: list[Contribution]
) -> tuple[list[Contribution], list[NotCounted]]:
    """Of records reporting one act (same group, same day), only the heaviest counts."""
    groups = [_group_of(policy, c) for c in counted]
    heaviest: dict[tuple[str, date], Contribution] = {}
    for c, group in zip(counted, groups, strict=True):
        if group is None:
            continue
        key = (group, c.occurred_on)
        best = heaviest.get(key)
        if best is None or same_act_order(c.points, c.record_id) < same_act_order(
            best.points, best.record_id
        ):
            heaviest[key] = c
    kept: list[Contribution] = []
    dropped: list[NotCounted] = []
    for c, group in zip(counted, groups, strict=True):
        winner = heaviest.get((group, c.occurred_on)) if group else None
        if winner is None or winner.record_id == c.record_id:
            kept.append(c)
        else:
            dropped.append(
                NotCounted(
                    c.record_id,
                    c.kind,
                    f"same act as {winner.record_id} (group {group!r}): only the heaviest counts",
                )
            )
    return kept, dropped


def _group_of(policy: CompiledPolicy, c: Contribution) -> str | None:
    """The same-act group of the rule in force on the act's day."""
    rule = policy.rule_then(c.kind, c.occurred_on)
    return rule.same_act_group if rule else None


def _total(
    compiled: CompiledVersion,
    as_of: date,
    counted: list[Contribution],
    skipped: list[NotCounted],
    clamps: list[Clamp],
) -> Tally:
    version = compiled.source
    raw = {c.id: 0 for c in compiled.caps}
    for contribution in counted:
        if contribution.category not in raw:
            raise EvaluationError(
                f"category {contribution.category!r} of record {contribution.record_id} "
                f"does not exist in version {compiled.label}"
            )
        raw[contribution.category] += contribution.points
    adjustments: list[Adjustment] = []
    totals: list[CategoryTotal] = []
    levels: dict[str, int] = {}
    weighted = compiled.weighted
    for cat in compiled.caps:
        unbounded = cat.base + raw[cat.id] if weighted else raw[cat.id]
        level = levels[cat.id] = cat.level(raw[cat.id], weighted)
        if level != unbounded:
            what = "dimension" if weighted else "category"
            how = "bounded" if weighted else "capped"
            adjustments.append(
                Adjustment(
                    "category_cap",
                    level - unbounded,
                    f"{what} {cat.id} {how} to [{cat.min}, {cat.max}]",
                    category=cat.id,
                )
            )
        if weighted:
            assert cat.min is not None and cat.max is not None
            norm = Fraction(level - cat.min, cat.max - cat.min)
            totals.append(CategoryTotal(cat.id, raw[cat.id], level, f"{float(norm):.4f}"))
        else:
            totals.append(CategoryTotal(cat.id, raw[cat.id], level))
    pre = compiled.combine(levels)
    for clamp in clamps:
        adjustments.append(
            Adjustment(
                "stage_clamp",
                clamp.points,
                f"stage {clamp.stage} was reached without its notice served: score set on "
                f"{clamp.on} to one short of the next threshold",
                expires_on=clamp.expires_on,
            )
        )
        pre += clamp.points
    score = compiled.bounded(pre)
    if score != pre:
        adjustments.append(
            Adjustment(
                "scale_clamp",
                score - pre,
                f"score held within the scale [{compiled.scale_min}, {compiled.scale_max}]",
            )
        )
    return Tally(
        version=version,
        as_of=as_of,
        score=score,
        grade=compiled.grade_for(score),
        categories=tuple(totals),
        contributions=tuple(counted),
        adjustments=tuple(adjustments),
        not_counted=tuple(skipped),
    )
