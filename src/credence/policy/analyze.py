"""Static analysis of a compiled policy: what no record history can reach, and where it breaks.

The linter checks what a policy says; this module checks what it can do. For every version it
asks an SMT solver (z3) about the score a day can hold given each rule's points, the category
caps, the credits and the scale:

* an **over-approximation** (any number of records of every rule of this or an earlier version,
  credits without limits, a stage clamp as a free move in the subject's favour) proves that a
  grade, stage, list or measure is unreachable: no history at all can get there;
* an **under-approximation** (records of this version's rules only, spaced so that every notice
  is served before the next record, at most one credit, no clamp) finds a small concrete
  history that does get there: the witness, which the reference evaluator replays in a test.

Every finding carries such a counterexample (a record history and a day, with the claim the
evaluator must confirm). The analysis does no I/O; it reads only the compiled policy.

| code  | finds |
|-------|-------|
| CR201 | a grade that no record history can reach |
| CR202 | a stage whose threshold no record history can reach |
| CR203 | a list whose entry criteria no record history can meet |
| CR204 | a measure that no reachable stage or list applies |
| CR205 | a rule without effect: its category is capped to one value, or it awards 0 unread |
| CR206 | a stage ladder whose thresholds can be jumped with no ``on_skip`` declared |
| CR207 | a list without an exit: no duration, no repair, and criteria that never stop holding |
| CR208 | a notice or objection review period shorter than the notice's delivery time |
| CR209 | a kind scored before and after a version that drops it (acts between never count) |

Grade bands with a gap or an overlap, and two versions starting on the same day, are refused
when the policy is loaded (the schema), so a loaded policy never has them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

import z3

from credence.dates import Duration
from credence.policy.compiled import CompiledPolicy, CompiledRule, CompiledVersion, compile_policy
from credence.policy.lint import Finding
from credence.policy.load import PolicySet
from credence.policy.model import ListDef, TestRecord

CODES: dict[str, str] = {
    "CR201": "grade no history can reach",
    "CR202": "stage no history can reach",
    "CR203": "list no history can enter",
    "CR204": "measure no reachable stage or list applies",
    "CR205": "rule without effect",
    "CR206": "stage threshold can be jumped, no on_skip declared",
    "CR207": "list without an exit",
    "CR208": "period shorter than the delivery time",
    "CR209": "record kind unscored between two versions that score it",
}

ClaimKind = Literal[
    "grade",
    "score",
    "stage",
    "jump",
    "list",
    "measure",
    "no_measure",
    "not_counted",
    "deadline",
    "listing_deadline",
]

FAR = 50
"""Years ahead at which a list without an exit is shown still to hold."""


@dataclass(frozen=True)
class Claim:
    """What the reference evaluator must show for a witness at its day.

    ``grade``/``score``: the assessment's grade or score is ``value``; ``stage``: the stage in
    effect is ``target``; ``jump``: the stage reached is ``value`` while the stage ``target``
    was never noticed; ``list``: the criteria of list ``target`` are met; ``measure``: measure
    ``target`` is in force or awaiting review (``no_measure``: it is not, and was never
    proposed); ``not_counted``: record ``target`` does not
    count; ``deadline``: the notice of ``target`` (a stage) has deadline ``value`` (ISO date);
    ``listing_deadline``: the listing notice of list ``target`` has deadline ``value``.
    """

    kind: ClaimKind
    target: str
    value: str = ""

    def __str__(self) -> str:
        t, v = self.target, self.value
        return {
            "grade": f"grade {v}",
            "score": f"score {v}",
            "stage": f"stage in effect {t}",
            "jump": f"stage reached {v} with the notice of {t} not served",
            "list": f"criteria of list {t} met",
            "measure": f"measure {t} in force or awaiting review",
            "no_measure": f"measure {t} never proposed",
            "not_counted": f"record {t} not counted",
            "deadline": f"notice of stage {t} due by {v}",
            "listing_deadline": f"listing notice of {t} due by {v}",
        }[self.kind]


@dataclass(frozen=True)
class Witness:
    """A concrete record history and a day, with what the evaluator shows there."""

    records: tuple[TestRecord, ...]
    as_of: date
    claims: tuple[Claim, ...]
    known_at: date | None = None

    def describe(self) -> str:
        """One line: the records (kind on day) and the day."""
        recs = ", ".join(
            f"{r.id} {r.kind} on {r.occurred_on}"
            + (f" (amount {r.amount})" if r.amount is not None else "")
            + (f" recorded {r.recorded_on}" if r.recorded_on else "")
            for r in self.records
        )
        claims = "; ".join(str(c) for c in self.claims)
        return f"records [{recs or 'none'}] as of {self.as_of}: {claims}"


@dataclass(frozen=True)
class AnalysisFinding:
    """One analysis result, with its counterexample (None only where none can exist)."""

    code: str
    location: str
    message: str
    witness: Witness | None
    severity: Literal["error", "warning"] = "warning"

    def as_lint(self) -> Finding:
        """The finding as a lint result (what ``policy lint`` prints)."""
        extra = f" (counterexample: {self.witness.describe()})" if self.witness else ""
        return Finding(self.code, self.severity, self.location, self.message + extra)


@dataclass(frozen=True)
class Reach:
    """Whether one grade, stage, list or measure of a version can be reached, with a witness.

    ``reachable`` is True only with a witness, False only with a proof (the over-approximation
    has no solution), and None when neither was found (no concrete history could be built
    within the version's period and the records' expiry).
    """

    version: str
    what: Literal["grade", "stage", "list", "measure"]
    id: str
    reachable: bool | None
    witness: Witness | None

    @property
    def state(self) -> str:
        """``reachable``, ``UNREACHABLE`` or ``undecided``, as the CLI and the book print it."""
        if self.reachable is None:
            return "undecided"
        return "reachable" if self.reachable else "UNREACHABLE"


@dataclass(frozen=True)
class VersionRange:
    """The scores a day of a version can hold: proven bounds (over-approximation)."""

    version: str
    low: int
    high: int


@dataclass(frozen=True)
class Analysis:
    """Everything the analysis found for one policy."""

    policy_id: str
    findings: tuple[AnalysisFinding, ...]
    reach: tuple[Reach, ...]
    ranges: tuple[VersionRange, ...]

    def lint_findings(self) -> list[Finding]:
        """The findings as lint results."""
        return [f.as_lint() for f in self.findings]

    def as_json(self) -> dict[str, Any]:
        """The analysis as plain JSON values (``credence policy analyze --format json``)."""
        return {
            "policy": self.policy_id,
            "ranges": [{"version": r.version, "low": r.low, "high": r.high} for r in self.ranges],
            "findings": [
                {
                    "code": f.code,
                    "severity": f.severity,
                    "location": f.location,
                    "message": f.message,
                    "witness": _witness_json(f.witness),
                }
                for f in self.findings
            ],
            "reach": [
                {
                    "version": r.version,
                    "what": r.what,
                    "id": r.id,
                    "reachable": r.reachable,
                    "witness": _witness_json(r.witness),
                }
                for r in self.reach
            ],
        }


def _witness_json(w: Witness | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "as_of": w.as_of.isoformat(),
        "known_at": w.known_at.isoformat() if w.known_at else None,
        "records": [r.model_dump(mode="json", exclude_none=True) for r in w.records],
        "claims": [{"kind": c.kind, "target": c.target, "value": c.value} for c in w.claims],
    }


@dataclass(frozen=True)
class _Option:
    """One way a record can add points: a rule (or band) of a version, in a category."""

    rule: CompiledRule
    points: int
    amount: Decimal | None


@dataclass
class _Model:
    """A z3 model of the score at one day of a version, over counts of records per option."""

    version: CompiledVersion
    options: list[_Option]
    clamp_free: bool
    counts: list[Any] = field(default_factory=list)
    constraints: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = [z3.Int(f"n{i}") for i in range(len(self.options))]
        self.constraints = [n >= 0 for n in self.counts]

    def score(self, include: Sequence[bool] | None = None) -> Any:
        """The score as a z3 term (``include``: which options take part; default all)."""
        v = self.version
        raw: dict[str, Any] = {c.id: z3.IntVal(0) for c in v.caps}
        for i, (opt, n) in enumerate(zip(self.options, self.counts, strict=True)):
            if include is not None and not include[i]:
                continue
            if opt.rule.category in raw:
                raw[opt.rule.category] = raw[opt.rule.category] + n * opt.points
        if v.weighted:
            total, weights = z3.RealVal(0), 0
            for c in v.caps:
                assert c.weight is not None and c.min is not None and c.max is not None
                level = _clip(c.base + raw[c.id], c.min, c.max)
                total = total + z3.ToReal(level - c.min) * c.weight / (c.max - c.min)
                weights += c.weight
            span = v.scale_max - v.scale_min
            pre = v.scale_min + z3.ToInt(total * span / weights + z3.RealVal("1/2"))
        else:
            pre = z3.IntVal(v.base)
            for c in v.caps:
                pre = pre + _clip(raw[c.id], c.min, c.max)
        if self.clamp_free and v.stages is not None:
            delta = z3.Int("clamp")
            self.constraints.append(delta >= 0 if v.higher_is_better else delta <= 0)
            pre = pre + delta
        return _clip(pre, v.scale_min, v.scale_max)

    def solve(self, goal: Any, minimise: bool = True) -> list[int] | None:
        """Counts per option meeting ``goal`` (fewest records), or None when unsatisfiable."""
        opt = z3.Optimize()
        opt.add(*self.constraints, goal)
        if minimise and self.counts:
            opt.minimize(z3.Sum(self.counts))
        if opt.check() != z3.sat:
            return None
        m = opt.model()
        return [m.eval(n, model_completion=True).as_long() for n in self.counts]

    def bound(self, term: Any, highest: bool) -> int:
        """The highest (or lowest) value ``term`` can take."""
        opt = z3.Optimize()
        opt.add(*self.constraints)
        handle = opt.maximize(term) if highest else opt.minimize(term)
        assert opt.check() == z3.sat
        value = handle.value()
        return int(value.as_long()) if z3.is_int_value(value) else int(str(value))


def _clip(term: Any, low: int | None, high: int | None) -> Any:
    if low is not None:
        term = z3.If(term < low, z3.IntVal(low), term)
    if high is not None:
        term = z3.If(term > high, z3.IntVal(high), term)
    return term


def _options_of(rule: CompiledRule) -> list[_Option]:
    if rule.fixed is not None:
        return [_Option(rule, rule.fixed, None)]
    if rule.per_unit is not None:
        # a record of k units sums like k records of one unit: one unit, and the capped record
        pu = rule.per_unit
        options = [_Option(rule, pu.each, pu.per)]
        if pu.cap is not None and pu.cap != pu.each:
            options.append(_Option(rule, pu.cap, pu.amount_for(pu.cap)))
        return options
    return [_Option(rule, points, at_least) for at_least, points in rule.bands]


def _over(policy: CompiledPolicy, index: int) -> _Model:
    """Every rule of this or an earlier version, unlimited credits, clamps as free moves."""
    version = policy.versions[index]
    seen: set[tuple[str, str, int]] = set()
    options: list[_Option] = []
    for v in policy.versions[: index + 1]:
        for rule in v.rules.values():
            for o in _options_of(rule):
                key = (o.rule.kind, o.rule.category, o.points)
                if key not in seen and o.rule.category in version.categories:
                    seen.add(key)
                    options.append(o)
    return _Model(version, options, clamp_free=True)


@dataclass
class _Under:
    """A model whose solutions are concrete histories: this version's rules only."""

    model: _Model
    credit: list[bool]

    @classmethod
    def of(cls, version: CompiledVersion, no_skips: bool) -> _Under:
        options: list[_Option] = []
        gap = _smallest_gap(version) if no_skips else None
        for rule in sorted(version.rules.values(), key=lambda r: r.kind):
            for o in _options_of(rule):
                harmful = o.points != 0 and not _favourable(version, o.points)
                if gap is not None and harmful and abs(o.points) > gap:
                    continue  # one such record could skip a stage and trigger a clamp
                options.append(o)
        model = _Model(version, options, clamp_free=False)
        credit = [o.rule.credit for o in options]
        if any(credit):
            model.constraints.append(
                z3.Sum([n for n, c in zip(model.counts, credit, strict=True) if c]) <= 1
            )
            before = model.score([not c for c in credit])
            for n, o in zip(model.counts, options, strict=True):
                rng = o.rule.score_range
                if o.rule.credit and rng is not None:
                    ok = z3.And(
                        before >= rng.min if rng.min is not None else z3.BoolVal(True),
                        before <= rng.max if rng.max is not None else z3.BoolVal(True),
                    )
                    model.constraints.append(z3.Implies(n > 0, ok))
        return cls(model, credit)


def _found(w: Witness | None) -> bool | None:
    return True if w is not None else None


def _favourable(version: CompiledVersion, points: int) -> bool:
    return points > 0 if version.higher_is_better else points < 0


def _smallest_gap(version: CompiledVersion) -> int | None:
    s = version.stages
    if s is None or len(s.ladder) < 2:
        return None
    ts = [x.threshold for x in s.ladder]
    return min(abs(b - a) for a, b in itertools.pairwise(ts))


def _days(d: Duration, start: date) -> int:
    return (d.after(start) - start).days


def _lag(version: CompiledVersion) -> Duration:
    return version.stages.service_lag if version.stages else Duration()


class _Builder:
    """Turns solver counts into a dated history inside one version's period."""

    def __init__(self, policy: CompiledPolicy, index: int) -> None:
        self.policy = policy
        self.version = policy.versions[index]
        nxt = policy.versions[index + 1] if index + 1 < len(policy.versions) else None
        self.until = nxt.effective_from if nxt else None
        self.gap = _days(_lag(self.version), self.version.effective_from) + 1

    def history(
        self, options: Sequence[_Option], counts: Sequence[int]
    ) -> tuple[list[TestRecord], date]:
        """Records for ``counts`` (harmful first, lightest first; credits last), one every
        ``gap`` days from the version's start; and the day of the last one."""
        v = self.version
        chosen: list[_Option] = []
        for o, n in zip(options, counts, strict=True):
            chosen += [o] * n

        def order(o: _Option) -> tuple[int, int, str]:
            fav = _favourable(v, o.points)
            return (2 if o.rule.credit else (1 if fav else 0), abs(o.points), o.rule.kind)

        chosen.sort(key=order)
        day = v.effective_from
        records: list[TestRecord] = []
        for i, o in enumerate(chosen):
            day = v.effective_from + timedelta(days=i * self.gap)
            records.append(
                TestRecord(id=f"w{i + 1}", kind=o.rule.kind, occurred_on=day, amount=o.amount)
            )
        return records, day

    def fits(self, records: Sequence[TestRecord], as_of: date) -> bool:
        """True when every record still counts at ``as_of`` and the version is in force."""
        if self.until is not None and as_of >= self.until:
            return False
        for r in records:
            rule = self.version.rule(r.kind)
            if rule is None:
                return False
            ends = rule.expires_on(r.occurred_on, r.occurred_on)
            if ends is not None and as_of >= ends:
                return False
        return True


@dataclass
class _VersionAnalysis:
    policy: PolicySet
    compiled: CompiledPolicy
    index: int
    findings: list[AnalysisFinding] = field(default_factory=list)
    reach: list[Reach] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.version = self.compiled.versions[self.index]
        self.label = self.version.label
        self.over = _over(self.compiled, self.index)
        self.over_score = self.over.score()
        self.builder = _Builder(self.compiled, self.index)
        self.tail = self.builder.gap * (
            len(self.version.stages.ladder) + 1 if self.version.stages else 1
        )
        self.under = _Under.of(self.version, no_skips=self.version.clamps)
        self.under_score = self.under.model.score()
        self.base_skips = self.version.clamps and self.rungs_at_base() >= 2
        # The replay walks an earlier version's days too: its stages may have served notices
        # or set clamps that a history starting in this version would inherit.
        self.inherits = any(v.stages is not None for v in self.compiled.versions[: self.index])

    def rungs_at_base(self) -> int:
        """How many rungs the score of the empty history reaches."""
        v = self.version
        levels = {c.id: c.level(0, v.weighted) for c in v.caps}
        base = v.bounded(v.combine(levels))
        assert v.stages is not None
        return sum(1 for s in v.stages.ladder if v.reaches(base, s.threshold))

    def where(self, section: str, key: str = "") -> str:
        return self.policy.locate(self.label, section, key)

    def add(self, code: str, where: str, message: str, witness: Witness | None) -> None:
        self.findings.append(
            AnalysisFinding(code, where, f"{message} [version {self.label}]", witness)
        )

    def witness_for(
        self, goal: Any, claims: tuple[Claim, ...], extra_days: int = 0
    ) -> Witness | None:
        """A concrete history whose score meets ``goal``, checked to fit the version."""
        if self.base_skips or self.inherits:
            # The empty history already skips a clamped rung (the clamp moves it), or an
            # earlier version's ladder acted before this version began.
            return None
        counts = self.under.model.solve(goal)
        if counts is None:
            return None
        records, last = self.builder.history(self.under.model.options, counts)
        as_of = (last if records else self.version.effective_from) + timedelta(
            days=self.tail + extra_days
        )
        if not self.builder.fits(records, as_of):
            return None
        return Witness(tuple(records), as_of, claims)

    def range(self) -> VersionRange:
        low = self.over.bound(self.over_score, highest=False)
        high = self.over.bound(self.over_score, highest=True)
        return VersionRange(self.label, low, high)

    def extreme(self, highest: bool) -> Witness | None:
        """A history attaining the over-approximation's bound, if a concrete one does."""
        bound = self.over.bound(self.over_score, highest)
        return self.witness_for(self.under_score == bound, (Claim("score", "score", str(bound)),))

    def run(self) -> None:
        v = self.version
        src = v.source
        rng = self.range()
        # Grades.
        for g in src.grades:
            goal = z3.And(self.over_score >= g.min, self.over_score <= g.max)
            if self.over.solve(goal, minimise=False) is None:
                above = g.min > rng.high
                w = self.extreme(highest=above)
                self.add(
                    "CR201",
                    self.where("grades", g.grade),
                    f"grade {g.grade!r} [{g.min}, {g.max}] is unreachable: every score of this "
                    f"version lies in [{rng.low}, {rng.high}]",
                    w,
                )
                self.reach.append(Reach(self.label, "grade", g.grade, False, w))
            else:
                ug = z3.And(self.under_score >= g.min, self.under_score <= g.max)
                w = self.witness_for(ug, (Claim("grade", "grade", g.grade),))
                self.reach.append(Reach(self.label, "grade", g.grade, _found(w), w))
        reached_measures: set[str] = set()
        self.stages(rng, reached_measures)
        self.lists(rng, reached_measures)
        for mid in v.measures:
            if mid not in reached_measures:
                worst = self.extreme(highest=not v.higher_is_better)
                if worst is not None:
                    worst = Witness(
                        worst.records, worst.as_of, (*worst.claims, Claim("no_measure", mid))
                    )
                self.add(
                    "CR204",
                    self.where("measures", mid),
                    f"measure {mid!r} is applied by no reachable stage or list (not even to "
                    "the worst score a history can reach)",
                    worst,
                )
                self.reach.append(Reach(self.label, "measure", mid, False, None))
        self.dead_rules()
        self.periods()

    def reaches(self, score: Any, threshold: int) -> Any:
        return score <= threshold if self.version.higher_is_better else score >= threshold

    def stages(self, rng: VersionRange, reached_measures: set[str]) -> None:
        v = self.version
        stages = v.stages
        if stages is None:
            return
        ladder = stages.ladder
        for i, stage in enumerate(ladder):
            goal = self.reaches(self.over_score, stage.threshold)
            if self.over.solve(goal, minimise=False) is None:
                self.add(
                    "CR202",
                    self.where("stages", stage.id),
                    f"stage {stage.id!r} (threshold {stage.threshold}) is unreachable: every "
                    f"score of this version lies in [{rng.low}, {rng.high}]",
                    self.extreme(highest=not v.higher_is_better),
                )
                self.reach.append(Reach(self.label, "stage", stage.id, False, None))
                continue
            ugoal = self.reaches(self.under_score, stage.threshold)
            if i + 1 < len(ladder):
                ugoal = z3.And(
                    ugoal, z3.Not(self.reaches(self.under_score, ladder[i + 1].threshold))
                )
            w = self.witness_for(ugoal, (Claim("stage", stage.id),))
            self.reach.append(Reach(self.label, "stage", stage.id, _found(w), w))
            if stage.measure is not None:
                m = v.measures[stage.measure]
                wait = _days(m.notice_period, w.as_of) if (w and m.notice_period) else 0
                mw = self.witness_for(
                    ugoal, (Claim("measure", stage.measure),), extra_days=wait + 1
                )
                reached_measures.add(stage.measure)
                self.reach.append(Reach(self.label, "measure", stage.measure, _found(mw), mw))
        if (
            len(ladder) >= 2
            and stages.require_earlier_notices
            and "on_skip" not in stages.model_fields_set
        ):
            self.jump()

    def jump(self) -> None:
        """A history that jumps from below the first stage past the second on one day."""
        v = self.version
        stages = v.stages
        assert stages is not None
        first, second = stages.ladder[0], stages.ladder[1]
        full = _Under.of(v, no_skips=False)
        score = full.model.score()
        counts = full.model.solve(self.reaches(score, second.threshold))
        if counts is None:
            return
        records, last = self.builder.history(full.model.options, counts)
        # Every record reported on one day: the score moves past both thresholds at once.
        known = [r.model_copy(update={"recorded_on": last}) for r in records]
        claims = (Claim("jump", first.id, second.id),)
        fits = self.builder.fits(known, last) and not self.inherits
        w = Witness(tuple(known), last, claims) if fits else None
        self.add(
            "CR206",
            self.where("stages"),
            f"stage {first.id!r} (threshold {first.threshold}) can be jumped straight to "
            f"{second.id!r} (threshold {second.threshold}) and the ladder declares no on_skip "
            "(the default, hold, applies silently): declare on_skip: hold or clamp",
            w,
        )

    def lists(self, rng: VersionRange, reached_measures: set[str]) -> None:
        v = self.version
        for lst in v.lists:
            over_goal = self.criteria(lst, self.over_score, self.over)
            under_goal = self.criteria(lst, self.under_score, self.under.model)
            if self.over.solve(over_goal, minimise=False) is None:
                self.add(
                    "CR203",
                    self.where("lists", lst.id),
                    f"list {lst.id!r}: no record history meets its entry criteria (every score "
                    f"of this version lies in [{rng.low}, {rng.high}])",
                    self.extreme(highest=(lst.entry.score_at_least is not None)),
                )
                self.reach.append(Reach(self.label, "list", lst.id, False, None))
                continue
            w = self.witness_for(under_goal, (Claim("list", lst.id),))
            self.reach.append(Reach(self.label, "list", lst.id, _found(w), w))
            wait = 1 + (
                _days(lst.notice_period, v.effective_from) + _days(_lag(v), v.effective_from)
                if lst.notice_period
                else 0
            )
            for mid in lst.measures:
                claims = (Claim("measure", mid),)
                mw = self.witness_for(under_goal, claims, extra_days=wait)
                reached_measures.add(mid)
                self.reach.append(Reach(self.label, "measure", mid, _found(mw), mw))
            self.exit(lst, under_goal)

    def criteria(self, lst: ListDef, score: Any, model: _Model) -> Any:
        """The list's entry criteria over ``model``: the score conditions, a record of an
        entry kind when it names kinds, and no repair record (which would end the listing)."""
        crit = lst.entry
        parts: list[Any] = []
        if crit.grades is not None:
            bands = [g for g in self.version.source.grades if g.grade in crit.grades]
            parts.append(z3.Or([z3.And(score >= g.min, score <= g.max) for g in bands]))
        if crit.score_at_most is not None:
            parts.append(score <= crit.score_at_most)
        if crit.score_at_least is not None:
            parts.append(score >= crit.score_at_least)
        pairs = list(zip(model.options, model.counts, strict=True))
        if crit.record_kinds is not None:
            entry = [n for o, n in pairs if o.rule.kind in crit.record_kinds]
            parts.append(z3.Sum(entry) >= 1 if entry else z3.BoolVal(False))
        if lst.repair is not None:
            parts += [n == 0 for o, n in pairs if o.rule.kind in lst.repair.record_kinds]
        return z3.And(parts) if parts else z3.BoolVal(True)

    def exit(self, lst: ListDef, under_goal: Any) -> None:
        """CR207: no duration, no repair, and criteria that records that never expire (or no
        record at all) can meet, so that they hold for ever."""
        if lst.duration is not None or lst.repair is not None:
            return
        v = self.version
        model = self.under.model
        lasting = [o.rule.expires_after is None for o in model.options]
        keep = z3.And([n == 0 for n, f in zip(model.counts, lasting, strict=True) if not f])
        counts = model.solve(z3.And(keep, under_goal))
        if counts is None:
            return
        records, _ = self.builder.history(model.options, counts)
        day = date(v.effective_from.year + FAR, 1, 1)
        fits = self.builder.fits(records, day) and not (self.base_skips or self.inherits)
        w = Witness(tuple(records), day, (Claim("list", lst.id),)) if fits else None
        kinds = sorted({r.kind for r in records})
        why = (
            f"records of {kinds}, which never expire, meet its criteria"
            if records
            else "the score with no record at all meets its criteria"
        )
        self.add(
            "CR207",
            self.where("lists", lst.id),
            f"list {lst.id!r} has no exit: no duration, no repair, and {why}",
            w,
        )

    def dead_rules(self) -> None:
        """CR205: a rule in a category capped to one value, or 0 points no list reads."""
        v = self.version
        read = {k for lst in v.lists for k in (lst.entry.record_kinds or [])} | {
            k for lst in v.lists for k in (lst.repair.record_kinds if lst.repair else [])
        }
        caps = {c.id: c for c in v.caps}
        for rule in v.rules.values():
            cap = caps[rule.category]
            section = "credits" if rule.credit else "rules"
            if self.index and self.compiled.versions[self.index - 1].rule(rule.kind) == rule:
                continue  # reported where it was written
            amount = rule.least_amount
            rec = TestRecord(id="w1", kind=rule.kind, occurred_on=v.effective_from, amount=amount)
            day = v.effective_from + timedelta(days=self.tail)
            fits = self.builder.fits([rec], day)
            stateful = v.stages is not None or self.inherits
            if not v.weighted and cap.min is not None and cap.min == cap.max:
                claim = Claim("score", "score", str(v.bounded(v.base + cap.min)))
                self.add(
                    "CR205",
                    self.where(section, rule.kind),
                    f"rule {rule.kind!r} has no effect: category {rule.category!r} is capped "
                    f"to the single value {cap.min}",
                    Witness((rec,), day, (claim,)) if fits and not stateful else None,
                )
            elif all(p == 0 for p in rule.point_values) and rule.kind not in read:
                self.add(
                    "CR205",
                    self.where(section, rule.kind),
                    f"rule {rule.kind!r} has no effect: it awards 0 points and no list reads it",
                    None,
                )

    def periods(self) -> None:
        """CR208: a notice or review period shorter than the delivery time (service lag)."""
        v = self.version
        lag = _lag(v)
        start = v.effective_from
        lag_days = _days(lag, start)
        if lag_days == 0:
            return
        for m in v.measures.values():
            if m.notice_period is not None and _days(m.notice_period, start) < lag_days:
                w = self.deadline_witness(m.id, m.notice_period)
                self.add(
                    "CR208",
                    self.where("measures", m.id),
                    f"measure {m.id!r}: notice period {m.notice_period} is shorter than the "
                    f"delivery time {lag} (service_lag): the subject has less time to act than "
                    "the notice takes to arrive",
                    w,
                )
        for lst in v.lists:
            if lst.notice_period is not None and _days(lst.notice_period, start) < lag_days:
                self.add(
                    "CR208",
                    self.where("lists", lst.id),
                    f"list {lst.id!r}: notice period {lst.notice_period} is shorter than the "
                    f"delivery time {lag} (service_lag)",
                    self.listing_deadline_witness(lst.id, lst.notice_period),
                )
        review = v.source.contest.review_period
        if _days(review, start) < lag_days:
            self.add(
                "CR208",
                self.where("stages"),
                f"objection review period {review} is shorter than the delivery time {lag} "
                "(service_lag): a decision on an objection cannot reach the subject in time",
                None,
            )

    def listing_deadline_witness(self, list_id: str, period: Duration) -> Witness | None:
        """The list's witness, with the dates of its listing notice: issued on the day the
        criteria are first met (the last record's day), served a lag later, due a period on."""
        v = self.version
        hit = next(r for r in self.reach if r.what == "list" and r.id == list_id)
        if hit.witness is None:
            return None
        w = hit.witness
        issued = max((r.occurred_on for r in w.records), default=v.effective_from)
        deadline = period.after(_lag(v).after(issued))
        return Witness(
            w.records,
            w.as_of,
            (Claim("list", list_id), Claim("listing_deadline", list_id, deadline.isoformat())),
        )

    def deadline_witness(self, measure_id: str, period: Duration) -> Witness | None:
        v = self.version
        if v.stages is None:
            return None
        stage = next((s for s in v.stages.ladder if s.measure == measure_id), None)
        if stage is None:
            return None
        hit = next(r for r in self.reach if r.what == "stage" and r.id == stage.id)
        if hit.witness is None:
            return None
        w = hit.witness
        # The stage is reached on the day of the last record; its notice is served a lag later.
        issued = max((r.occurred_on for r in w.records), default=v.effective_from)
        served = _lag(v).after(issued)
        deadline = period.after(served)
        return Witness(
            w.records,
            w.as_of,
            (Claim("stage", stage.id), Claim("deadline", stage.id, deadline.isoformat())),
        )


def _kind_gaps(policy: PolicySet, compiled: CompiledPolicy) -> list[AnalysisFinding]:
    """CR209: a kind scored, then not, then again: acts in between never count."""
    out: list[AnalysisFinding] = []
    vs = compiled.versions
    for kind in sorted(compiled.kinds):
        has = [v.rule(kind) is not None for v in vs]
        for j in range(1, len(vs) - 1):
            if has[j] or not any(has[:j]) or not any(has[j + 1 :]):
                continue
            if j > 1 and not has[j - 1]:
                continue  # one finding per gap
            later = next(i for i in range(j + 1, len(vs)) if has[i])
            gap, back = vs[j], vs[later]
            rule = back.rule(kind)
            assert rule is not None
            amount = rule.least_amount
            rec = TestRecord(id="w1", kind=kind, occurred_on=gap.effective_from, amount=amount)
            out.append(
                AnalysisFinding(
                    "CR209",
                    policy.locate(gap.label, "rules"),
                    f"record kind {kind!r} is scored before version {gap.label} and again "
                    f"from version {back.label}, but acts from {gap.effective_from} to "
                    f"{back.effective_from} never count (no rule was in force on their day)",
                    Witness((rec,), back.effective_from, (Claim("not_counted", "w1"),)),
                )
            )
    return out


def analyze(policy: PolicySet) -> Analysis:
    """Analyse every version of ``policy`` (see the module docstring for what is found)."""
    compiled = compile_policy(policy)
    findings: list[AnalysisFinding] = []
    reach: list[Reach] = []
    ranges: list[VersionRange] = []
    for i in range(len(compiled.versions)):
        va = _VersionAnalysis(policy, compiled, i)
        va.run()
        findings += va.findings
        reach += va.reach
        ranges.append(va.range())
    findings += _kind_gaps(policy, compiled)
    return Analysis(policy.id, tuple(findings), tuple(reach), tuple(ranges))
