"""The compiled policy: one typed description of what a loaded policy means, built once.

A :class:`~credence.policy.load.PolicySet` is what the author wrote; a :class:`CompiledPolicy`
is what it means: for every rule, the date a record counts from, the date its expiry runs from
and the expiry date, the points it gives an amount, and the stretches of days over which one
rule is in force for a kind; the lex mitior choice between two values; categories with caps,
credits with their limits, stages with their skip behaviour, lists and measures. The linter
runs once, when the policy is compiled.

Every consumer derives from this one description: the reference evaluator interprets it, the
Ibis plan and the incremental calendar are generated from it, and the lab's stepwise scorer
reads its rules. The date and comparison helpers are written so that they apply unchanged to
Python values and to Ibis column expressions (``a if from_occurred else b``, ``a > b``), which
is how one definition serves both the interpreter and the generated plan.
"""

from __future__ import annotations

import math
import weakref
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cached_property, reduce
from math import floor
from typing import Any, Protocol, TypeVar

from credence.dates import Duration, Period
from credence.errors import EvaluationError
from credence.policy.lint import unlawful
from credence.policy.load import PolicySet
from credence.policy.model import (
    BandedPoints,
    CountFrom,
    Credit,
    CreditLimit,
    ListDef,
    ListEntryCriteria,
    Measure,
    PerUnitPoints,
    PolicyVersion,
    Rule,
    ScoreRange,
    Stages,
)
from credence.records import VOID, Status

T = TypeVar("T")


def round_half_up(x: Fraction) -> int:
    """Round to the nearest integer, halves away from minus infinity.

    >>> round_half_up(Fraction(5, 2)), round_half_up(Fraction(-5, 2)), round_half_up(Fraction(7, 3))
    (3, -2, 2)
    """
    return floor(x + Fraction(1, 2))


class Ops(Protocol):
    """The few operations a rule needs beyond ``+ - * < <= ==``, for one kind of value.

    The meaning below is written once against this interface; :data:`PYTHON` applies it to
    Python values (the reference evaluator), and the Ibis plan supplies column expressions
    (``credence.compute.batch_compile.IBIS_OPS``), so the plan is generated from the same
    statement instead of a re-typed formula.
    """

    def lit(self, value: int) -> Any:
        """An integer constant."""
        ...

    def greatest(self, value: Any, low: int) -> Any:
        """``value`` raised to at least ``low``."""
        ...

    def least(self, value: Any, high: int) -> Any:
        """``value`` lowered to at most ``high``."""
        ...

    def floor_div(self, num: Any, den: int) -> Any:
        """``num`` divided by the positive ``den``, rounded down (``num`` is never negative)."""
        ...

    def abs(self, value: Any) -> Any:
        """The magnitude of ``value``."""
        ...

    def desc(self, value: Any) -> Any:
        """A sort key that orders ``value`` from largest to smallest."""
        ...

    def isin(self, value: Any, options: Sequence[str]) -> Any:
        """``value`` is one of ``options``."""
        ...

    def all_of(self, conditions: Sequence[Any]) -> Any:
        """Every one of ``conditions`` holds (at least one is given)."""
        ...

    def first(self, cases: Sequence[tuple[Any, Any]], otherwise: Any) -> Any:
        """The value of the first case whose condition holds, else ``otherwise``."""
        ...


class _Python:
    def lit(self, value: int) -> Any:
        return value

    def greatest(self, value: Any, low: int) -> Any:
        return max(value, low)

    def least(self, value: Any, high: int) -> Any:
        return min(value, high)

    def floor_div(self, num: Any, den: int) -> Any:
        return num // den

    def abs(self, value: Any) -> Any:
        return abs(value)

    def desc(self, value: Any) -> Any:
        return -value

    def isin(self, value: Any, options: Sequence[str]) -> Any:
        return value in options

    def all_of(self, conditions: Sequence[Any]) -> Any:
        return all(conditions)

    def first(self, cases: Sequence[tuple[Any, Any]], otherwise: Any) -> Any:
        return next((then for cond, then in cases if cond), otherwise)


PYTHON: Ops = _Python()


def clip(value: Any, low: int | None, high: int | None, ops: Ops = PYTHON) -> Any:
    """``value`` held within the optional bounds ``low`` and ``high``."""
    if low is not None:
        value = ops.greatest(value, low)
    if high is not None:
        value = ops.least(value, high)
    return value


def same_act_order(points: Any, record_id: Any, ops: Ops = PYTHON) -> tuple[Any, Any]:
    """The order in which counted records of one act compete; the first one counts.

    The heaviest (largest absolute points) first, ties to the lowest record id.
    """
    return ops.desc(ops.abs(points)), record_id


def entry_met(
    entry: ListEntryCriteria, grade: Any, score: Any, has_evidence: Any, ops: Ops = PYTHON
) -> Any:
    """Whether a list's entry criteria are met by a grade, a score and (for record kinds)
    whether a counted record of one of its kinds is present; every criterion given must hold."""
    met: list[Any] = []
    if entry.grades is not None:
        met.append(ops.isin(grade, entry.grades))
    if entry.score_at_most is not None:
        met.append(score <= entry.score_at_most)
    if entry.score_at_least is not None:
        met.append(score >= entry.score_at_least)
    if entry.record_kinds is not None:
        met.append(has_evidence)
    return ops.all_of(met)


def expiry_threshold(duration: Duration, as_of: date) -> date:
    """The earliest anchor date whose expiry (anchor + duration) falls after ``as_of``.

    ``anchor + duration`` is non-decreasing in the anchor, so "not expired at as_of" is exactly
    ``anchor >= expiry_threshold(duration, as_of)``.

    Anchors of 29 to 31 January all expire on 28 February with ``P1M`` (the month's last
    day), so on 28 February only anchors from 1 February on still count:

    >>> from credence.dates import parse_duration
    >>> expiry_threshold(parse_duration("P1M"), date(2026, 2, 28))
    datetime.date(2026, 2, 1)
    >>> expiry_threshold(parse_duration("P1Y"), date(2025, 2, 28))
    datetime.date(2024, 3, 1)
    """
    span = (
        duration.span_days + 1
        if isinstance(duration, Period)
        else duration.years * 366 + duration.months * 31 + duration.days + 2
    )
    low, high = (as_of - timedelta(days=span)).toordinal(), as_of.toordinal() + 1
    # Invariant: duration.after(low) <= as_of < duration.after(high).
    while high - low > 1:
        mid = (low + high) // 2
        if duration.after(date.fromordinal(mid)) > as_of:
            high = mid
        else:
            low = mid
    return date.fromordinal(high)


@dataclass(frozen=True)
class CompiledRule:
    """One rule (or credit) of one version, with its dates and points decided."""

    kind: str
    category: str
    fixed: int | None
    bands: tuple[tuple[Decimal, int], ...]
    expires_after: Period | None
    expiry_from: CountFrom
    same_act_group: str | None
    legal_basis: str | None
    credit: bool
    at_most: CreditLimit | None
    score_range: ScoreRange | None
    source: Rule
    reason_code: str = ""
    reason_text: str = ""
    per_unit: PerUnitPoints | None = None

    def points_for(self, amount: Decimal | None) -> int | None:
        """The points for a record of ``amount``; None when a banded or per-unit rule cannot
        place it (no amount, or one below every band)."""
        if self.fixed is not None:
            return self.fixed
        if amount is None:
            return None
        if self.per_unit is not None:
            return self.per_unit.for_amount(amount)
        chosen: int | None = None
        for at_least, points in self.bands:
            if amount >= at_least:
                chosen = points
        return chosen

    def expiry_anchor(self, occurred: T, effective: T) -> T:
        """The date the expiry period runs from (``expiry_from``); values or columns."""
        return occurred if self.expiry_from is CountFrom.OCCURRED else effective

    def expires_on(self, occurred: date, effective: date) -> date | None:
        """The first day on which a record no longer counts (None: never)."""
        if self.expires_after is None:
            return None
        return self.expires_after.after(self.expiry_anchor(occurred, effective))

    def alive_from(self, as_of: date) -> date | None:
        """The earliest expiry anchor still counting at ``as_of`` (None: never expires)."""
        if self.expires_after is None:
            return None
        return expiry_threshold(self.expires_after, as_of)

    def limit_window(self, earned: date) -> tuple[date, date] | None:
        """The days (start, end] in which accepted credits count towards ``at_most`` for a
        credit earned on ``earned`` (None: no limit)."""
        if self.at_most is None:
            return None
        return self.at_most.per.before(earned), earned

    @property
    def point_values(self) -> tuple[int, ...]:
        """Every value this rule can award; for points per unit, the first unit's value and the
        cap, which bound the rest (see :attr:`unbounded`)."""
        if self.fixed is not None:
            return (self.fixed,)
        if self.per_unit is not None:
            return self.per_unit.bounds
        return tuple(p for _, p in self.bands)

    @property
    def unbounded(self) -> bool:
        """True when one record can award any multiple of its points (per unit, no cap)."""
        return self.per_unit is not None and self.per_unit.cap is None

    @property
    def least_amount(self) -> Decimal | None:
        """The smallest amount that earns this rule's first non-zero value (None: fixed)."""
        if self.per_unit is not None:
            return self.per_unit.per
        return self.bands[0][0] if self.bands else None


@dataclass(frozen=True)
class CompiledCategory:
    """A category: its cap (additive) or the bounds, weight and base of its dimension."""

    id: str
    min: int | None
    max: int | None
    weight: int | None
    base: int

    def level(self, raw: int, weighted: bool) -> int:
        """The total after the cap (additive), or the dimension's bounded level (weighted)."""
        return int(self.level_of(raw, weighted, PYTHON))

    def level_of(self, raw: Any, weighted: bool, ops: Ops) -> Any:
        """:meth:`level` for values of ``ops`` (the one statement of a category's cap)."""
        return clip(ops.lit(self.base) + raw if weighted else raw, self.min, self.max, ops)


@dataclass(frozen=True)
class CompiledVersion:
    """One version: its rules by kind and what decides presence, direction and lex mitior."""

    label: str
    effective_from: date
    count_from: CountFrom
    higher_is_better: bool
    suspends_contested: bool
    rules: Mapping[str, CompiledRule]
    credits: tuple[CompiledRule, ...]
    categories: tuple[str, ...]
    lists: tuple[ListDef, ...]
    measures: Mapping[str, Measure]
    stages: Stages | None
    weighted: bool
    base: int
    scale_min: int
    scale_max: int
    caps: tuple[CompiledCategory, ...]
    grade_bands: tuple[tuple[int, str], ...]
    source: PolicyVersion

    def combine(self, levels: Mapping[str, int]) -> int:
        """The score from the category levels, before stage clamps and the scale's bounds."""
        return int(self.combine_of(levels, PYTHON))

    def combine_of(self, levels: Mapping[str, Any], ops: Ops) -> Any:
        """:meth:`combine` for values of ``ops`` (the one statement of the score's formula).

        Additive: base + the capped sums. Weighted: each level normalised to [0, 1], weighted,
        mapped onto the scale and rounded half up, exactly: in integers over the common
        denominator Q·W (Q the lcm of the ranges, W the sum of the weights), so that a backend
        computes it without fractions.
        """
        if not self.weighted:
            return reduce(lambda a, b: a + b, (levels[c.id] for c in self.caps), ops.lit(self.base))
        q, w, factors = self.weighting
        acc = ops.lit(0)
        for c, factor in zip(self.caps, factors, strict=True):
            assert c.min is not None
            acc = acc + (levels[c.id] - c.min) * factor
        span = self.scale_max - self.scale_min
        # round_half_up(span * acc / (Q·W)) = floor((2·span·acc + Q·W) / (2·Q·W))
        return self.scale_min + ops.floor_div(acc * (2 * span) + q * w, 2 * q * w)

    @cached_property
    def weighting(self) -> tuple[int, int, tuple[int, ...]]:
        """(Q, W, each category's weight·Q/range) of the weighted model's exact arithmetic."""
        ranges = []
        for c in self.caps:
            assert c.weight is not None and c.min is not None and c.max is not None
            ranges.append(c.max - c.min)
        q = reduce(math.lcm, ranges, 1)
        w = sum(c.weight or 0 for c in self.caps)
        return (
            q,
            w,
            tuple((c.weight or 0) * (q // r) for c, r in zip(self.caps, ranges, strict=True)),
        )

    def bounded(self, score: int) -> int:
        """``score`` held within the scale."""
        return int(clip(score, self.scale_min, self.scale_max))

    def bounded_of(self, score: Any, ops: Ops) -> Any:
        """:meth:`bounded` for values of ``ops``."""
        return clip(score, self.scale_min, self.scale_max, ops)

    def grade_for(self, score: int) -> str:
        """The grade whose band holds the (bounded) ``score``."""
        return str(self.grade_of(score, PYTHON))

    def grade_of(self, score: Any, ops: Ops) -> Any:
        """:meth:`grade_for` for values of ``ops``: bands from the lowest, each up to its
        maximum, the last one for everything above."""
        bands = self.grade_bands
        return ops.first([(score <= top, grade) for top, grade in bands[:-1]], bands[-1][1])

    def rule(self, kind: str) -> CompiledRule | None:
        """The rule or credit for ``kind`` in this version."""
        return self.rules.get(kind)

    def counts_from(self, occurred: T, effective: T) -> T:
        """The date from which a record counts (``count_from``); values or columns."""
        return occurred if self.count_from is CountFrom.OCCURRED else effective

    def withholds(self, status: Status) -> bool:
        """True when a record of this latest status does not count (void, or contested while
        contesting suspends)."""
        return status in VOID or (status is Status.CONTESTED and self.suspends_contested)

    @property
    def excluded_statuses(self) -> list[str]:
        """The statuses :meth:`withholds`, as stored text (void ones sorted, then contested)."""
        return sorted(s.value for s in VOID) + (
            [Status.CONTESTED.value] if self.suspends_contested else []
        )

    def strictly_better(self, a: Any, b: Any) -> Any:
        """``a`` helps the subject more than ``b`` (lex mitior); values or columns."""
        return a > b if self.higher_is_better else a < b

    def reaches(self, score: Any, threshold: int) -> Any:
        """``score`` has reached a stage ``threshold`` (at or below it on a merit scale, at or
        above it on a demerit scale); values or columns."""
        return score <= threshold if self.higher_is_better else score >= threshold

    def unfavourable(self, value: Any) -> Any:
        """``value`` harms the subject (it gives way to an abolished rule's zero)."""
        return self.strictly_better(0, value)

    @property
    def clamps(self) -> bool:
        """True when the ladder can clamp: on_skip clamp, earlier notices required, 2+ rungs."""
        s = self.stages
        return (
            s is not None
            and s.on_skip == "clamp"
            and s.require_earlier_notices
            and len(s.ladder) >= 2
        )


@dataclass(frozen=True)
class Stretch:
    """Days of acts [begin, until) over which one rule values a kind (consecutive versions
    with an equal rule share one stretch: lex mitior compares rules, not version labels)."""

    kind: str
    begin: date
    until: date | None
    version: CompiledVersion
    rule: CompiledRule


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy's meaning, compiled once: versions, rule stretches, credit and group kinds."""

    id: str
    versions: tuple[CompiledVersion, ...]
    stretches: tuple[Stretch, ...]
    kinds: frozenset[str]
    credit_kinds: frozenset[str]
    grouped_kinds: tuple[str, ...]
    groups: tuple[str, ...]
    needs_replay: bool
    staged: bool
    listed: bool
    starts: tuple[date, ...]

    def version_at(self, day: date) -> CompiledVersion | None:
        """The version in force on ``day`` (the latest that started on or before it)."""
        i = bisect_right(self.starts, day)
        return self.versions[i - 1] if i else None

    def of(self, version: PolicyVersion) -> CompiledVersion:
        """The compiled form of one of this policy's versions."""
        for v in self.versions:
            if v.source is version:
                return v
        return next(v for v in self.versions if v.label == version.version)

    def rule_then(self, kind: str, occurred: date) -> CompiledRule | None:
        """The rule in force on the act's day (no retroactivity)."""
        then = self.version_at(occurred)
        return then.rule(kind) if then is not None else None

    def valuing_rules(
        self, kind: str, stretch: CompiledRule | None = None, now: CompiledVersion | None = None
    ) -> tuple[CompiledRule, ...]:
        """The rules under which a record of ``kind`` can be valued, whose expiry days can
        change a result: every version's rule over a whole history, and for a credit kind
        (the replay decides credits on any version's terms); with the record's ``stretch``
        rule and the version in force ``now``, only those two, as lex mitior weighs no other
        until another version comes into force (which rescores everyone)."""
        if stretch is None or now is None or kind in self.credit_kinds:
            return tuple(r for v in self.versions if (r := v.rule(kind)) is not None)
        rule_now = now.rule(kind)
        return (stretch,) if rule_now is None else (stretch, rule_now)

    def is_credit(self, kind: str, occurred: date) -> bool:
        """True when the version in force on the act's day treats ``kind`` as a credit."""
        rule = self.rule_then(kind, occurred)
        return rule is not None and rule.credit

    def lenient_choice(
        self, now: CompiledVersion, then_rule: CompiledRule, val_then: int, val_now: int | None
    ) -> str:
        """Lex mitior between the act's rule and the rule in force now (None: abolished).

        ``then``: the act's rule stands; ``now``: the later, more lenient rule applies;
        ``gone``: the kind is abolished and its unfavourable value gives way to zero.
        """
        if val_now is None:
            return "gone" if val_then != 0 and now.unfavourable(val_then) else "then"
        return "now" if now.strictly_better(val_now, val_then) else "then"


def change_days(occurred: T, effective: T, known: Sequence[T], expiries: Sequence[T]) -> list[T]:
    """The days on which a record can change a result without any new data: the act's day,
    the day it becomes final, the days it becomes known or changes status (``known``), and
    the days it expires under the rules that can value it (``expiries``, from
    :meth:`CompiledPolicy.valuing_rules`); values or columns."""
    return [occurred, effective, *known, *expiries]


def _rule(rule: Rule) -> CompiledRule:
    fixed = rule.points if isinstance(rule.points, int) else None
    bands = (
        tuple((b.at_least, b.points) for b in rule.points.bands)
        if isinstance(rule.points, BandedPoints)
        else ()
    )
    credit = isinstance(rule, Credit)
    return CompiledRule(
        kind=rule.kind,
        category=rule.category,
        fixed=fixed,
        bands=bands,
        expires_after=rule.expires_after,
        expiry_from=rule.expiry_from,
        same_act_group=rule.same_act_group,
        legal_basis=rule.legal_basis,
        credit=credit,
        at_most=rule.at_most if isinstance(rule, Credit) else None,
        score_range=rule.score_range if isinstance(rule, Credit) else None,
        source=rule,
        reason_code=rule.reason_code or rule.kind,
        reason_text=rule.reason.strip() or rule.title.strip() or conduct_of(rule.kind),
        per_unit=rule.points if isinstance(rule.points, PerUnitPoints) else None,
    )


def conduct_of(kind: str) -> str:
    """The conduct a record kind names, as words (the reason text a rule gives by default).

    >>> conduct_of("court.judgment_unfulfilled")
    'Court: judgment unfulfilled'
    """
    head, _, tail = kind.partition(".")
    words = (tail or head).replace("_", " ").replace("-", " ")
    return f"{head.capitalize()}: {words}" if tail else words.capitalize()


def _version(v: PolicyVersion) -> CompiledVersion:
    rules = {r.kind: _rule(r) for r in (*v.rules, *v.credits)}
    return CompiledVersion(
        label=v.version,
        effective_from=v.effective_from,
        count_from=v.count_from,
        higher_is_better=v.higher_is_better,
        suspends_contested=v.contest.suspends,
        rules=rules,
        credits=tuple(rules[c.kind] for c in v.credits),
        categories=tuple(c.id for c in v.categories),
        lists=tuple(v.lists),
        measures={m.id: m for m in v.measures},
        stages=v.stages,
        weighted=v.model == "weighted",
        base=v.scale.base or 0,
        scale_min=v.scale.min,
        scale_max=v.scale.max,
        caps=tuple(CompiledCategory(c.id, c.min, c.max, c.weight, c.base) for c in v.categories),
        grade_bands=tuple((g.max, g.grade) for g in sorted(v.grades, key=lambda g: g.min)),
        source=v,
    )


def _stretches(versions: tuple[CompiledVersion, ...], kinds: frozenset[str]) -> tuple[Stretch, ...]:
    out: list[Stretch] = []
    for kind in sorted(kinds):
        i = 0
        while i < len(versions):
            rule = versions[i].rule(kind)
            j = i + 1
            while j < len(versions) and _same(versions[j].rule(kind), rule):
                j += 1
            if rule is not None:
                until = versions[j].effective_from if j < len(versions) else None
                out.append(Stretch(kind, versions[i].effective_from, until, versions[i], rule))
            i = j
    return tuple(out)


def _same(a: CompiledRule | None, b: CompiledRule | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.source == b.source


# Loaded policy (by identity, held weakly: the compiled form does not keep it alive) ->
# its compiled form. A PolicySet is not cheaply hashable, and equal policies loaded twice
# are simply compiled twice.
_CACHE: dict[int, tuple[weakref.ref[PolicySet], CompiledPolicy]] = {}


def compile_policy(policy: PolicySet) -> CompiledPolicy:
    """The compiled meaning of ``policy``, built (and linted) once per loaded policy.

    A policy with lint errors under the default profile is refused here, once, instead of on
    every evaluation.
    """
    key = id(policy)
    found = _CACHE.get(key)
    if found is not None and found[0]() is policy:
        return found[1]
    problems = unlawful(policy)
    if problems:
        raise EvaluationError(f"policy {policy.id} is refused by the linter: {'; '.join(problems)}")
    versions = tuple(_version(v) for v in policy.versions)
    kinds = frozenset(k for v in versions for k in v.rules)
    stretches = _stretches(versions, kinds)
    groups = tuple(
        sorted({r.same_act_group for v in versions for r in v.rules.values() if r.same_act_group})
    )
    compiled = CompiledPolicy(
        id=policy.id,
        versions=versions,
        stretches=stretches,
        kinds=kinds,
        credit_kinds=frozenset(c.kind for v in versions for c in v.credits),
        grouped_kinds=tuple(sorted({s.kind for s in stretches if s.rule.same_act_group})),
        groups=groups,
        needs_replay=any(v.stages is not None or v.credits for v in versions),
        staged=any(v.stages is not None for v in versions),
        listed=any(v.lists for v in versions),
        starts=tuple(v.effective_from for v in versions),
    )
    _CACHE[key] = (weakref.ref(policy), compiled)
    weakref.finalize(policy, _CACHE.pop, key, None)
    return compiled
