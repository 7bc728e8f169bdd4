"""The exact way back: when each adverse outcome ends with no new records, and what ends it sooner.

Everything is read off the compiled policy and checked by the reference evaluator itself:

* the day each negative contribution stops counting is its expiry date;
* with no new records, the score, grade, stage and listings change only on the days the records
  and the policy name (a record starting to count, becoming final or changing status, an expiry
  under any version's rule, a version coming into force, a stage clamp ending, a listing's
  deadline or end, a repair's probation ending). The evaluator is run on those days in order,
  and the first one on which a goal holds is its date: a better grade, off a list, below a stage;
* the actions the policy offers, each taken on the evaluation day: a successful objection to a
  record that is a principal reason (the record becomes void), a credit the policy defines, and
  the record that fulfils a listing's obligation (its repair). Each action's effect is its
  points on that day and the days by which it alone brings each goal forward. For each goal the
  actions are taken in order of that effect (sooner first, then more points), and the shortest
  such prefix that reaches the goal as soon as all the actions together do is the set offered.

Records recorded after the knowledge date K and status changes after K are left out: the way back
is what follows from what is known now.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from credence.dates import end_of_day
from credence.engine.assessment import Action, Assessment, Expiry, Goal, WayBack
from credence.engine.reasons import _bands, on_list
from credence.engine.tally import expiry_of, tally
from credence.engine.timeline import Replay, replay
from credence.policy.compiled import CompiledPolicy, CompiledRule, change_days
from credence.records import Record, Status, StatusChange

Again = Callable[[list[Record], date], Assessment]

OBJECTION, CREDIT, REPAIR = "objection", "credit", "repair"
MAX_COPIES = 12
"""At most this many credits of one kind are offered at once."""


@dataclass(frozen=True)
class _Target:
    goal: str
    id: str


def apply_actions(
    records: Sequence[Record], actions: Sequence[Action], subject_id: str
) -> list[Record]:
    """The records as they are once ``actions`` are taken (the way back's own definition).

    An objection that succeeds makes its record overturned on the action day; a credit or a
    repair is a new record of its kind that occurred, became final and was recorded that day.
    """
    out = list(records)
    for a in actions:
        moment = datetime.combine(a.on, time(0), tzinfo=UTC)
        if a.action == OBJECTION:
            out = [
                replace(r, history=(*r.history, StatusChange(Status.OVERTURNED, moment)))
                if r.record_id == a.record_id
                else r
                for r in out
            ]
        else:
            ident = a.record_id or f"way-back.{a.action}.{a.kind}"
            out.append(
                Record(
                    record_id=ident,
                    source="way-back",
                    source_record_id=ident,
                    subject_id=subject_id,
                    kind=a.kind,
                    occurred_on=a.on,
                    effective_on=a.on,
                    recorded_at=moment,
                    amount=a.amount,
                )
            )
    return out


def find_way_back(
    policy: CompiledPolicy, records: Sequence[Record], now: Assessment, again: Again
) -> WayBack:
    """The way back from the adverse outcomes of ``now`` (``again`` re-evaluates on a day)."""
    known = now.known_at
    cut = end_of_day(known)
    held = [
        replace(r, history=tuple(h for h in r.history if h.at < cut))
        for r in records
        if r.recorded_at < cut
    ]
    compiled = next(v for v in policy.versions if v.label == now.policy_version)
    favourable = 1 if compiled.higher_is_better else -1
    expiries = tuple(
        Expiry(c.record_id, c.kind, c.points, c.expires_on)
        for c in sorted(now.contributions, key=lambda c: (c.expires_on or date.max, c.record_id))
        if c.expires_on is not None and c.points * favourable < 0
    )
    targets = _targets(now, [b.grade for b in _bands(compiled.source)])
    if not targets:
        return WayBack(expiries, (), ())
    scanner = _Scanner(policy, held, now, again)
    # Grade goals need only the score (light when nothing more can be decided); lists and
    # stages need the whole evaluation.
    grades = tuple(t for t in targets if t.goal == "grade")
    base = {
        **scanner.scan((), grades, None),
        **scanner.scan((), tuple(t for t in targets if t.goal != "grade"), None),
    }
    offered = _offer(policy, held, now, scanner, favourable)
    # Most points first: with additive points the fewest actions reach a score soonest.
    order = sorted(range(len(offered)), key=lambda i: (-offered[i].points, i))
    goals = []
    for t in targets:
        reached = base.get(t)
        goal = Goal(t.goal, t.id, *(reached or (None, None, None)))
        until = reached[0] if reached else None
        best = scanner.scan(tuple(order), (t,), until).get(t)
        if best is not None:
            k, got = _shortest(scanner, order, t, until, best)
            steps = tuple(
                replace(offered[i], days=_days_sooner(reached, scanner.scan((i,), (t,), until)))
                for i in order[:k]
            )
            goal = replace(
                goal, sooner_on=got[0], sooner_score=got[1], sooner_grade=got[2], actions=steps
            )
        goals.append(goal)
    return WayBack(expiries, tuple(goals), tuple(offered))


def _shortest(
    scanner: _Scanner,
    order: list[int],
    t: _Target,
    until: date | None,
    best: tuple[date, int, str],
) -> tuple[int, tuple[date, int, str]]:
    """The shortest prefix of ``order`` that reaches ``t`` on the day all of it does, found by
    bisection (taking more of the actions never brings a goal later)."""
    low, high, got = 0, len(order), best
    while high - low > 1:
        mid = (low + high) // 2
        found = scanner.scan(tuple(order[:mid]), (t,), until).get(t)
        if found is not None and found[0] == best[0]:
            high, got = mid, found
        else:
            low = mid
    if high == len(order):
        got = best
    return high, got


def _days_sooner(
    base: tuple[date, int, str] | None, alone: dict[_Target, tuple[date, int, str]]
) -> int | None:
    """Days by which one action alone brings a goal forward (None: alone it does not reach the
    goal before it comes anyway)."""
    if base is None or not alone:
        return None
    return (base[0] - next(iter(alone.values()))[0]).days


def _targets(now: Assessment, grades: list[str]) -> list[_Target]:
    """The goals: each better grade, leaving each list and the stage reached."""
    out: list[_Target] = []
    for o in now.reasons:
        if o.outcome == "grade":
            out += [_Target("grade", g) for g in grades[grades.index(o.id) + 1 :]]
        elif o.outcome in ("list", "stage"):
            out.append(_Target(o.outcome, o.id))
    return out


@dataclass(frozen=True)
class Standing:
    """The score and grade on a day, all a grade goal is judged by."""

    as_of: date
    score: int
    grade: str


def goal_holds(
    policy: CompiledPolicy, label: str, goal: str, ident: str, a: Assessment | Standing
) -> bool:
    """True when a goal set under version ``label`` holds in the assessment ``a``.

    Grades and stages are compared in the order of the version in force on ``a``'s day; a grade
    that version no longer has is reached once the score is within its band's bound in the
    version the goal was set under, and a stage it no longer has is left.
    """
    day = policy.version_at(a.as_of)
    assert day is not None
    if goal == "grade":
        order = [b.grade for b in _bands(day.source)]
        if ident in order:
            return order.index(a.grade) >= order.index(ident)
        then = next(v for v in policy.versions if v.label == label).source
        band = next(b for b in then.grades if b.grade == ident)
        return a.score >= band.min if then.higher_is_better else a.score <= band.max
    assert isinstance(a, Assessment)
    if goal == "stage":
        reached = a.stages.reached if a.stages is not None else None
        ladder = [s.id for s in day.stages.ladder] if day.stages is not None else []
        if reached is None or ident not in ladder:
            return True
        return ladder.index(reached) < ladder.index(ident)
    return not on_list(ident, a.lists, a.listings)


class _Scanner:
    """Runs the evaluator over the days on which something can change, for a set of actions."""

    def __init__(
        self,
        policy: CompiledPolicy,
        records: list[Record],
        now: Assessment,
        again: Again,
    ) -> None:
        self.policy = policy
        self.records = records
        self.now = now
        self.again = again
        self.offered: list[Action] = []
        self.memo: dict[
            tuple[tuple[int, ...], tuple[_Target, ...], date | None],
            dict[_Target, tuple[date, int, str]],
        ] = {}
        self.evaluated: dict[tuple[tuple[int, ...], date], Assessment] = {}
        self.standings: dict[tuple[tuple[int, ...], date], Standing] = {}
        self.replays: dict[tuple[int, ...], Replay] = {}

    def holds(self, t: _Target, a: Assessment | Standing) -> bool:
        """True when the goal ``t`` holds in ``a``."""
        return goal_holds(self.policy, self.now.policy_version, t.goal, t.id, a)

    def scan(
        self, chosen: tuple[int, ...], targets: tuple[_Target, ...], until: date | None
    ) -> dict[_Target, tuple[date, int, str]]:
        """For each goal, the first day before ``until`` (None: ever) on which it holds with the
        ``chosen`` actions taken, and the score and grade on that day."""
        chosen = tuple(sorted(chosen))
        key = (chosen, targets, until)
        if key in self.memo:
            return self.memo[key]
        records = apply_actions(
            self.records, [self.offered[i] for i in chosen], self.now.subject_id
        )
        start = self.now.as_of
        queue: list[date] = []
        horizon = self._days(records, start, queue)
        light = all(t.goal == "grade" for t in targets) and self.settled(records)
        if targets and all(t.goal == "list" for t in targets) and self.now.known_at == start:
            quick = self._off_lists(chosen, records, targets, until, horizon)
            if quick is not None:
                self.memo[key] = quick
                return quick
        found: dict[_Target, tuple[date, int, str]] = {}
        done: set[date] = set()
        if not chosen:
            # The evaluation day itself is the assessment at hand, where no goal holds yet.
            done.add(start)
            self._later(self.now, start, queue, horizon)
        while queue and len(found) < len(targets):
            day = heapq.heappop(queue)
            if day in done:
                continue
            if until is not None and day >= until:
                break
            done.add(day)
            a = self.at(chosen, records, day, light)
            for t in targets:
                if t not in found and self.holds(t, a):
                    found[t] = (day, a.score, a.grade)
            if isinstance(a, Assessment):
                self._later(a, day, queue, horizon)
        self.memo[key] = found
        return found

    def _off_lists(
        self,
        chosen: tuple[int, ...],
        records: list[Record],
        targets: tuple[_Target, ...],
        until: date | None,
        horizon: date,
    ) -> dict[_Target, tuple[date, int, str]] | None:
        """The first day off each list, read off the listing episodes of one replay to the
        horizon (a replay to a later day takes the same steps up to each earlier one when
        nothing is known later than the evaluation day), each checked by the evaluator on that
        day; None where a check disagrees (then every day is evaluated)."""
        start = self.now.as_of
        episodes = self.at(chosen, records, horizon, False)
        assert isinstance(episodes, Assessment)
        found: dict[_Target, tuple[date, int, str]] = {}
        for t in targets:
            mine = [e for e in episodes.listings if e.list_id == t.id]
            days = sorted({start, *(e.removed_on for e in mine if e.removed_on is not None)})
            for day in days:
                if (day == start and not chosen) or day < start:
                    continue
                if until is not None and day >= until:
                    break
                covered = any(
                    (e.noticed_on or e.listed_on or date.max) <= day
                    and (e.removed_on is None or day < e.removed_on)
                    for e in mine
                )
                if covered:
                    continue
                check = self.at(chosen, records, day, False)
                if not self.holds(t, check):
                    return None
                found[t] = (day, check.score, check.grade)
                break
        return found

    def at(
        self, chosen: tuple[int, ...], records: list[Record], day: date, light: bool
    ) -> Assessment | Standing:
        """The evaluation on ``day`` with the ``chosen`` actions taken (``light``: the score and
        grade only, from the tally with the history decided on the evaluation day)."""
        full = self.evaluated.get((chosen, day))
        if full is not None:
            return full
        if not light:
            full = self.evaluated[(chosen, day)] = self.again(records, day)
            return full
        found = self.standings.get((chosen, day))
        if found is None:
            start, known = self.now.as_of, self.now.known_at
            decided = self.replays.get(chosen)
            if decided is None:
                decided = self.replays[chosen] = replay(self.policy, records, start, known)
            t = tally(
                self.policy,
                records,
                day,
                max(known, day),
                decided.credit_decisions,
                decided.clamps,
            )
            found = self.standings[(chosen, day)] = Standing(day, t.score, t.grade)
        return found

    def settled(self, records: list[Record]) -> bool:
        """True when nothing can be decided anew after the evaluation day: no stages, no version
        still to come, and every record counting, known and with its last status by then.

        Then the credits are all decided on the evaluation day, and the score on a later day is
        the tally with those decisions: exactly what the evaluator gives, without replaying the
        history again for every day.
        """
        start = self.now.as_of
        if self.policy.staged or any(v.effective_from > start for v in self.policy.versions):
            return False
        return all(
            max(r.occurred_on, r.effective_on, r.known_on, *r.status_days()) <= start
            for r in records
        )

    def _days(self, records: list[Record], start: date, queue: list[date]) -> date:
        """Push the days on which the records and the policy can change something; return the
        horizon after which nothing more can."""
        days: set[date] = {start}
        for r in records:
            days.update(
                d
                for d in change_days(
                    r.occurred_on,
                    r.effective_on,
                    [r.known_on, *r.status_days()],
                    [expiry_of(r, rule) for rule in self.policy.valuing_rules(r.kind)],
                )
                if d is not None
            )
            for v in self.policy.versions:
                for lst in v.lists:
                    if lst.repair and lst.repair.probation and r.kind in lst.repair.record_kinds:
                        days.add(lst.repair.probation.after(r.occurred_on))
        days.update(v.effective_from for v in self.policy.versions)
        for day in days:
            if day >= start:
                heapq.heappush(queue, day)
        return self._horizon(max(days))

    def _horizon(self, last: date) -> date:
        """The last day worth evaluating: once the records have nothing more to change, two
        rounds of every list's notice, service and duration have run, and what holds then
        holds for ever (a listing on a score that no longer changes is renewed without end)."""
        end = last
        for _ in range(2):
            for v in self.policy.versions:
                stages = v.stages
                for lst in v.lists:
                    if stages is not None:
                        end = stages.service_lag.after(end)
                    for period in (lst.notice_period, lst.duration):
                        if period is not None:
                            end = period.after(end)
        return end + timedelta(days=1)

    def _later(self, a: Assessment, day: date, queue: list[date], horizon: date) -> None:
        """Days the evaluation on ``day`` itself names: clamp ends, listing deadlines and ends."""
        later = [adj.expires_on for adj in a.adjustments if adj.type == "stage_clamp"]
        for e in a.listings:
            later += [e.deadline, e.until]
        for d in later:
            if d is not None and day < d <= horizon:
                heapq.heappush(queue, d)


def _offer(
    policy: CompiledPolicy,
    records: list[Record],
    now: Assessment,
    scanner: _Scanner,
    favourable: int,
) -> list[Action]:
    """The actions the policy offers on the evaluation day that raise the score or end a
    listing, each with its effect in points on that day."""
    version = next(v for v in policy.versions if v.label == now.policy_version)
    day = now.as_of
    held = {r.record_id: r for r in records}
    candidates: list[Action] = []
    seen: set[str] = set()
    for o in now.reasons:
        for reason in o.reasons:
            for rid in reason.record_ids:
                r = held.get(rid)
                if rid in seen or r is None or r.status_at(now.known_at) is not Status.ACTIVE:
                    continue
                seen.add(rid)
                candidates.append(
                    Action(
                        OBJECTION,
                        r.kind,
                        rid,
                        None,
                        day,
                        0,
                        None,
                        f"Object to record {rid} ({reason.code}); if the objection succeeds "
                        "the record no longer counts.",
                    )
                )
    kinds: set[str] = set()
    needed = max((o.needed or 0 for o in now.reasons), default=0)
    for credit in version.credits:
        kinds.add(credit.kind)
        worth = max(abs(p) for p in credit.point_values)
        # As many as the policy's limit allows, or as many as the widest gap needs.
        copies = credit.at_most.count if credit.at_most else -(-needed // worth)
        if credit.unbounded:
            copies = 1  # one record of enough units brings what is needed
        for n in range(1, min(max(copies, 1), MAX_COPIES) + 1):
            candidates.append(
                Action(
                    CREDIT,
                    credit.kind,
                    f"way-back.credit.{credit.kind}.{n}",
                    _best_amount(credit, favourable, needed),
                    day,
                    0,
                    None,
                    f"Earn the credit the policy offers: {credit.reason_text}.",
                )
            )
    for lst in version.lists:
        on_it = any(o.outcome == "list" and o.id == lst.id for o in now.reasons)
        if lst.repair is None or not on_it:
            continue
        for kind in lst.repair.record_kinds:
            rule = version.rule(kind)
            if kind in kinds or rule is None:
                continue
            kinds.add(kind)
            probation = (
                f", then a probation of {lst.repair.probation}" if lst.repair.probation else ""
            )
            candidates.append(
                Action(
                    REPAIR,
                    kind,
                    f"way-back.repair.{kind}",
                    _best_amount(rule, favourable, needed),
                    day,
                    0,
                    None,
                    f"Fulfil the obligation that ends list {lst.id}: {rule.reason_text}"
                    f"{probation}.",
                )
            )
    offered: list[Action] = []
    for action in candidates:
        after = scanner.again(apply_actions(records, [action], now.subject_id), day)
        points = (after.score - now.score) * favourable
        if action.action == REPAIR or points > 0:
            offered.append(replace(action, points=points))
    scanner.offered = offered
    return offered


def _best_amount(rule: CompiledRule, favourable: int, needed: int) -> Decimal | None:
    """The smallest amount that favours the subject most under ``rule`` (None: fixed points);
    for points per unit without a cap, the amount that brings ``needed`` points (one unit at
    least)."""
    pu = rule.per_unit
    if pu is not None:
        if pu.each * favourable <= 0:
            return pu.per
        return pu.amount_for(pu.cap if pu.cap is not None else max(needed, 1))
    bands = rule.bands
    if not bands:
        return None
    best = max(points * favourable for _, points in bands)
    return min(at for at, points in bands if points * favourable == best)
