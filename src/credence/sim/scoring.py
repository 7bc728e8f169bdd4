"""Scoring a whole population over time, fast, with the reference evaluator's meaning.

The simulator judges every day as it was known that day (``known_at == as_of``). Under that
reading each record's contribution is a step function of the day: it can only change when the
record becomes known, starts counting, changes status, expires, or a policy version starts. So
each record is valued once per such breakpoint, a subject's score is recomputed only where one
of its records steps, and the result is a :class:`Timeline` that answers "score, grade and list
criteria on day D" by bisection. Stages, clamps and credits with a score range depend on
history: for those the reference timeline replay decides clamps, credit decisions, notices and
measures, and the step functions do the rest. ``tests/sim/test_scoring.py`` checks all of it
against :func:`credence.engine.reference.evaluate` day by day.

``score_population`` is the one-date entry point that the batch engine can replace.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from credence.dates import Duration
from credence.engine.assessment import StageState
from credence.engine.reference import evaluate
from credence.engine.tally import Clamp
from credence.engine.timeline import Decisions, replay
from credence.errors import EvaluationError
from credence.policy.compiled import CompiledRule, CompiledVersion, compile_policy
from credence.policy.load import PolicySet
from credence.policy.model import ListDef
from credence.records import VOID, Record, Status


@dataclass(frozen=True)
class State:
    """A subject's standing on a day: score, grade and the lists whose criteria are met."""

    score: int
    grade: str
    lists: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Counted:
    """One record's contribution on a day."""

    record_id: str
    kind: str
    category: str
    points: int
    occurred_on: date


@dataclass
class Timeline:
    """A subject's states from each change day on; before the first, the population base."""

    days: list[date]
    states: list[State]
    stages: StageState | None = None
    clamps: tuple[Clamp, ...] = ()

    def at(self, day: date) -> State | None:
        """The state on ``day``; None when nothing of the subject counted yet (base state)."""
        i = bisect_right(self.days, day) - 1
        return self.states[i] if i >= 0 else None


@lru_cache(maxsize=65536)
def _after(start: date, duration: Duration) -> date:
    return duration.after(start)


class _Rec:
    """A record prepared for valuation under every version of the policy."""

    __slots__ = (
        "count_days",
        "credit",
        "effective",
        "exp",
        "group",
        "kind",
        "known_on",
        "occurred",
        "pts",
        "record",
        "rid",
        "rules",
        "status_days",
        "statuses",
        "steps",
        "then",
    )

    def __init__(self, record: Record, scorer: Scorer) -> None:
        self.record = record
        self.rid = record.record_id
        self.kind = record.kind
        self.occurred = record.occurred_on
        self.effective = record.effective_on
        self.known_on = max(record.recorded_at.date(), record.effective_on)
        self.status_days = [c.at.date() for c in record.history]
        self.statuses = [c.status for c in record.history]
        self.rules, self.pts = scorer.rules_and_points(record.kind, record.amount)
        self.exp: list[date | None] = []
        for rule in self.rules:
            if rule is None or rule.expires_after is None:
                self.exp.append(None)
            else:
                anchor = rule.expiry_anchor(self.occurred, self.effective)
                self.exp.append(_after(anchor, rule.expires_after))
        self.then = scorer.index_at(self.occurred)
        rule_then = self.rules[self.then] if self.then >= 0 else None
        self.credit = rule_then is not None and rule_then.credit
        self.group = rule_then.same_act_group if rule_then is not None else None
        self.count_days = (self.occurred, self.effective)
        self.steps: tuple[list[date], list[tuple[int, str] | None]] | None = None

    def status_at(self, day: date) -> Status:
        status = Status.ACTIVE
        for d, s in zip(self.status_days, self.statuses, strict=True):
            if d <= day:
                status = s
        return status

    def breakpoints(self, scorer: Scorer) -> set[date]:
        days = {self.known_on, self.occurred, self.effective, *self.status_days, *scorer.starts}
        days.update(e for e in self.exp if e is not None)
        return days


def _worth(points: int | None, expires: date | None, day: date) -> int:
    if points is None or (expires is not None and day >= expires):
        return 0
    return points


class Scorer:
    """A policy compiled for stepwise valuation; build timelines of subjects with it."""

    def __init__(self, policy: PolicySet) -> None:
        self.policy = policy
        self.compiled = compile_policy(policy)
        self.versions = policy.versions
        self.cversions: tuple[CompiledVersion, ...] = self.compiled.versions
        self.starts = [v.effective_from for v in policy.versions]
        self.has_stages = any(v.stages is not None for v in policy.versions)
        self.credit_range = any(
            c.score_range is not None for v in policy.versions for c in v.credits
        )
        self.needs_replay = self.has_stages or self.credit_range
        self._grades = [sorted(v.grades, key=lambda g: g.min) for v in policy.versions]
        self._grade_mins = [[g.min for g in gs] for gs in self._grades]
        self._cats = [{c.id: c for c in v.categories} for v in policy.versions]
        self.repair_lists = any(lst.repair is not None for v in policy.versions for lst in v.lists)
        self._rules: dict[str, list[CompiledRule | None]] = {}
        self._memo: dict[tuple[object, ...], State] = {}
        self._all_cats = list(dict.fromkeys(c.id for v in policy.versions for c in v.categories))
        self._list_kinds = sorted(
            {k for v in policy.versions for lst in v.lists for k in lst.entry.record_kinds or ()}
        )
        self._points: dict[tuple[str, Decimal | None], list[int | None]] = {}

    def rules_and_points(
        self, kind: str, amount: Decimal | None
    ) -> tuple[list[CompiledRule | None], list[int | None]]:
        """The compiled rule of ``kind`` in each version and its points for ``amount`` (cached)."""
        rules = self._rules.get(kind)
        if rules is None:
            rules = self._rules[kind] = [v.rule(kind) for v in self.cversions]
        key = (kind, amount)
        points = self._points.get(key)
        if points is None:
            points = [None if rule is None else rule.points_for(amount) for rule in rules]
            self._points[key] = points
        return rules, points

    def _rec(self, record: Record) -> _Rec:
        return _Rec(record, self)

    def index_at(self, day: date) -> int:
        """Index of the version in force on ``day`` (-1 before the first)."""
        return bisect_right(self.starts, day) - 1

    def base_state(self, day: date) -> State:
        """The state of a subject with no records on ``day``."""
        vi = self.index_at(day)
        if vi < 0:
            raise EvaluationError(f"policy {self.policy.id} is not in force on {day}")
        return self._state(vi, day, [], ())

    # -- one record --------------------------------------------------------------------------

    def value(self, r: _Rec, day: date) -> tuple[int, str] | None:
        """(points, category) of a record on ``day`` known that day; None when it does not count."""
        if day < r.known_on:
            return None
        vi = self.index_at(day)
        if vi < 0 or r.then < 0:
            return None
        v = self.cversions[vi]
        if day < v.counts_from(r.occurred, r.effective):
            return None
        status = r.status_at(day) if r.status_days else Status.ACTIVE
        if v.withholds(status):
            return None
        ti = r.then
        rule_then = r.rules[ti]
        if rule_then is None:
            return None
        chosen = ti
        if vi != ti:
            val_then = _worth(r.pts[ti], r.exp[ti], day)
            val_now = None if r.rules[vi] is None else _worth(r.pts[vi], r.exp[vi], day)
            choice = self.compiled.lenient_choice(v, rule_then, val_then, val_now)
            if choice == "gone":
                return None
            if choice == "now":
                chosen = vi
        points = r.pts[chosen]
        expires = r.exp[chosen]
        if points is None or (expires is not None and day >= expires):
            return None
        rule = r.rules[chosen]
        assert rule is not None
        return points, rule.category

    def steps(self, r: _Rec) -> tuple[list[date], list[tuple[int, str] | None]]:
        """The record's value as a step function: change days and the value from each on."""
        if r.steps is not None:
            return r.steps
        days: list[date] = []
        values: list[tuple[int, str] | None] = []
        last: tuple[int, str] | None = None
        for day in sorted(r.breakpoints(self)):
            val = self.value(r, day)
            if val != last or not days:
                days.append(day)
                values.append(val)
                last = val
        r.steps = (days, values)
        return r.steps

    # -- one subject -------------------------------------------------------------------------

    def timeline(self, records: Sequence[Record], end: date) -> Timeline:
        """The subject's states up to ``end`` (the replay, where needed, runs up to ``end``).

        A sweep over the days on which some record's value steps: category sums are kept up
        to date incrementally, and records of one act (same-act group and day) form a cluster
        whose heaviest counted member is the one that counts.
        """
        recs = sorted((self._rec(r) for r in records), key=lambda x: (x.occurred, x.rid))
        clamps: tuple[Clamp, ...] = ()
        stages: StageState | None = None
        if self.needs_replay and recs:
            result = replay(self.policy, records, end, end, Decisions())
            decisions = result.credit_decisions
            clamps = tuple(result.clamps)
            stages = result.stages
        else:
            decisions = self.credit_decisions(recs)
        changes: dict[date, list[tuple[int, tuple[int, str] | None]]] = {}
        for k, r in enumerate(recs):
            if r.credit and decisions.get(r.rid, "undecided") is not None:
                continue  # a refused or undecided credit never counts
            for day, val in zip(*self.steps(r), strict=True):
                changes.setdefault(day, []).append((k, val))
        if not changes:
            return Timeline([], [], stages, clamps)
        first = min(changes)
        days = set(changes)
        days.update(d for d in self.starts if d > first)
        for c in clamps:
            days.add(c.on)
            if c.expires_on is not None:
                days.add(c.expires_on)
        days.update(self._probation_days(recs))
        cluster: list[int] = []
        members: list[list[int]] = []
        keys: dict[tuple[str, date], int] = {}
        for k, r in enumerate(recs):
            if r.group is None:
                cluster.append(len(members))
                members.append([k])
            else:
                key = (r.group, r.occurred)
                if key not in keys:
                    keys[key] = len(members)
                    members.append([])
                cluster.append(keys[key])
                members[keys[key]].append(k)
        current: list[tuple[int, str] | None] = [None] * len(recs)
        applied: list[tuple[int, int, str] | None] = [None] * len(members)  # winner, pts, cat
        raw = dict.fromkeys(self._all_cats, 0)  # a fixed key order: sums key the memo below
        kinds: dict[str, int] = {}
        slow_lists = self.repair_lists
        out_days: list[date] = []
        out_states: list[State] = []
        for day in sorted(days):
            if day < first or day > end:
                continue
            for k, val in changes.get(day, ()):
                current[k] = val
                ci = cluster[k]
                best: tuple[int, int, str] | None = None
                for m in members[ci]:
                    v = current[m]
                    # Heaviest counts; members are in record-id order, so on equal weight the
                    # lowest id wins, as in the reference evaluator.
                    if v is not None and (best is None or abs(v[0]) > abs(best[1])):
                        best = (m, v[0], v[1])
                was = applied[ci]
                if was == best:
                    continue
                if was is not None:
                    raw[was[2]] -= was[1]
                    kinds[recs[was[0]].kind] -= 1
                if best is not None:
                    raw[best[2]] = raw.get(best[2], 0) + best[1]
                    kinds[recs[best[0]].kind] = kinds.get(recs[best[0]].kind, 0) + 1
                applied[ci] = best
            vi = self.index_at(day)
            if vi < 0:
                continue
            counted: Sequence[Counted] = ()
            if slow_lists:
                counted = [
                    Counted(recs[a[0]].rid, recs[a[0]].kind, a[2], a[1], recs[a[0]].occurred)
                    for a in sorted(x for x in applied if x is not None)
                ]
            if slow_lists:
                state = self._state_raw(vi, day, raw, kinds, counted, clamps)
            else:
                # Many subjects share the same sums: the state is a pure function of them.
                clamp = sum(c.points for c in clamps if c.active_at(day))
                memo = (vi, clamp, *raw.values(), *(kinds.get(k, 0) > 0 for k in self._list_kinds))
                state = self._memo.get(memo)  # type: ignore[assignment]
                if state is None:
                    state = self._state_raw(vi, day, raw, kinds, (), clamps)
                    if len(self._memo) < 100_000:
                        self._memo[memo] = state
            if not out_states or state != out_states[-1]:
                out_days.append(day)
                out_states.append(state)
        return Timeline(out_days, out_states, stages, clamps)

    def counted(self, records: Sequence[Record], day: date) -> list[Counted]:
        """What counts for a subject on ``day`` (known that day), after credits and same-act."""
        recs = sorted((self._rec(r) for r in records), key=lambda x: (x.occurred, x.rid))
        if self.needs_replay and recs:
            decisions = replay(self.policy, records, day, day, Decisions()).credit_decisions
        else:
            decisions = self.credit_decisions(recs)
        step_days, step_vals = [], []
        for r in recs:
            d, v = self.steps(r)
            step_days.append(d)
            step_vals.append(v)
        return self._counted(recs, step_days, step_vals, decisions, day)

    def credit_decisions(self, recs: Sequence[_Rec]) -> dict[str, str | None]:
        """Credit decisions as the replay makes them, for credits limited by ``at_most`` only."""
        credits = [r for r in recs if r.credit]
        if not credits:
            return {}
        firsts: list[tuple[date, date, str, _Rec]] = []
        for r in credits:
            days, values = self.steps(r)
            present = next((d for d, v in zip(days, values, strict=True) if v is not None), None)
            if present is None:
                continue
            earned = self.cversions[self.index_at(present)].counts_from(r.occurred, r.effective)
            firsts.append((present, earned, r.rid, r))
        firsts.sort(key=lambda x: (x[0], x[1], x[2]))
        decisions: dict[str, str | None] = {}
        accepted: list[tuple[date, _Rec]] = []
        for present, earned, _rid, r in firsts:
            rule = r.rules[r.then]
            assert rule is not None and rule.credit
            refusal: str | None = None
            if rule.at_most is not None:
                begin = rule.at_most.per.before(earned)
                v = self.cversions[self.index_at(present)]
                used = [
                    o
                    for when, o in accepted
                    if o.kind == r.kind
                    and begin < v.counts_from(o.occurred, o.effective) <= earned
                    and o.status_at(present) not in VOID
                ]
                if len(used) >= rule.at_most.count:
                    refusal = "credit limit reached"
            decisions[r.rid] = refusal
            if refusal is None:
                accepted.append((present, r))
        return decisions

    def _probation_days(self, recs: Sequence[_Rec]) -> set[date]:
        out: set[date] = set()
        for v in self.versions:
            for lst in v.lists:
                if lst.repair is not None and lst.repair.probation is not None:
                    kinds = set(lst.repair.record_kinds)
                    out.update(
                        _after(r.occurred, lst.repair.probation) for r in recs if r.kind in kinds
                    )
        return out

    def _counted(
        self,
        recs: Sequence[_Rec],
        step_days: list[list[date]],
        step_vals: list[list[tuple[int, str] | None]],
        decisions: Mapping[str, str | None],
        day: date,
    ) -> list[Counted]:
        counted: list[tuple[_Rec, int, str]] = []
        for r, days, vals in zip(recs, step_days, step_vals, strict=True):
            i = bisect_right(days, day) - 1
            val = vals[i] if i >= 0 else None
            if val is None:
                continue
            if r.credit and decisions.get(r.rid, "undecided") is not None:
                continue
            counted.append((r, val[0], val[1]))
        # Same act reported by several records: only the heaviest counts (ties: lowest id).
        heaviest: dict[tuple[str, date], tuple[int, str]] = {}
        for r, pts, _cat in counted:
            if r.group is None:
                continue
            key = (r.group, r.occurred)
            best = heaviest.get(key)
            if best is None or (abs(pts), best[1]) > (best[0], r.rid):
                heaviest[key] = (abs(pts), r.rid)
        return [
            Counted(r.rid, r.kind, cat, pts, r.occurred)
            for r, pts, cat in counted
            if r.group is None or heaviest[(r.group, r.occurred)][1] == r.rid
        ]

    def _state(
        self, vi: int, day: date, counted: Sequence[Counted], clamps: Iterable[Clamp]
    ) -> State:
        raw: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for c in counted:
            raw[c.category] = raw.get(c.category, 0) + c.points
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
        return self._state_raw(vi, day, raw, kinds, counted, clamps)

    def _state_raw(
        self,
        vi: int,
        day: date,
        raw: Mapping[str, int],
        kinds: Mapping[str, int],
        counted: Sequence[Counted],
        clamps: Iterable[Clamp],
    ) -> State:
        """Semantic points 3 to 5 from category sums (``counted`` only for repairable lists)."""
        v = self.versions[vi]
        cv = self.cversions[vi]
        cats = self._cats[vi]
        for cid, total in raw.items():
            if total and cid not in cats:
                raise EvaluationError(f"category {cid!r} does not exist in version {v.version}")
        pre = cv.combine({c.id: c.level(raw.get(c.id, 0), cv.weighted) for c in cv.caps})
        for clamp in clamps:
            if clamp.active_at(day):
                pre += clamp.points
        score = cv.bounded(pre)
        gi = bisect_right(self._grade_mins[vi], score) - 1
        grade = self._grades[vi][gi].grade
        if not v.lists:
            return State(score, grade)
        met = frozenset(lst.id for lst in v.lists if _meets(lst, score, grade, kinds, counted, day))
        return State(score, grade, met)


def _meets(
    lst: ListDef,
    score: int,
    grade: str,
    kinds: Mapping[str, int],
    counted: Sequence[Counted],
    day: date,
) -> bool:
    """List entry criteria as ``engine.reference.list_statuses`` decides them."""
    crit = lst.entry
    if crit.grades is not None and grade not in crit.grades:
        return False
    if crit.score_at_most is not None and score > crit.score_at_most:
        return False
    if crit.score_at_least is not None and score < crit.score_at_least:
        return False
    if crit.record_kinds is not None and not any(kinds.get(k) for k in crit.record_kinds):
        return False
    if lst.repair is None:
        return True
    wanted = set(crit.record_kinds or ())
    evidence = {c.record_id for c in counted if c.kind in wanted}
    latest = max((c.occurred_on for c in counted if c.record_id in evidence), default=date.min)
    probation = lst.repair.probation
    for c in counted:
        done = _after(c.occurred_on, probation) if probation else c.occurred_on
        if c.kind in lst.repair.record_kinds and c.occurred_on >= latest and done <= day:
            return False
    return True


def score_population(
    policy: PolicySet,
    records_by_subject: Mapping[str, Sequence[Record]],
    as_of: date,
    known_at: date | None = None,
) -> dict[str, State]:
    """Every subject's state on ``as_of`` as known at ``known_at`` (default: ``as_of``).

    Subjects without records are left out: they all have ``Scorer(policy).base_state(as_of)``.
    This is the seam for the batch engine: same inputs, same answer.
    """
    known = known_at or as_of
    out: dict[str, State] = {}
    if known == as_of:
        scorer = Scorer(policy)
        base = scorer.base_state(as_of)
        for sid, records in records_by_subject.items():
            if records:
                out[sid] = scorer.timeline(records, as_of).at(as_of) or base
        return out
    for sid, records in records_by_subject.items():
        if records:
            a = evaluate(policy, records, as_of, known, subject_id=sid, listings=False, horizon=0)
            out[sid] = State(
                a.score, a.grade, frozenset(s.list_id for s in a.lists if s.criteria_met)
            )
    return out
