"""The timeline replay: stages, notices, measures and credits, which depend on history.

The replay walks forward through the days on which something happens or becomes known (a
record known and final, a record starting to count, an expiry, a status change, a notice
served, a deadline) up to the evaluation date D. On a day t before D it knows what was recorded
by the end of t; on D it knows what was recorded by K. On each day it:

1. decides the credits that have become present, in order of their count date: a credit is
   refused when ``at_most`` credits of its kind were already accepted in the window ending on
   its count date, or when the score just before it (as of its count date) lies outside
   ``score_range``;
2. scores the subject and finds the stage reached;
3. closes the episodes of stages the subject has left (their notices count as complied, and
   measures without a fixed duration are lifted);
4. escalates: with ``require_earlier_notices`` the lowest reached stage whose notice is not
   served is handled first. When the subject is beyond it (a skip), ``clamp`` sets the score to
   one short of the next threshold (a stage clamp, lasting until the last record then counting
   expires) and ``hold`` leaves the score and holds the stage in effect at the highest stage
   whose notices were all served. Either way that stage's notice is issued; it is served after
   the ladder's ``service_lag`` unless the caller says when it was served;
5. applies the measure of every stage in effect whose notice was served and whose
   ``notice_period`` ran out, unless a human reviewer's sign-off is required and not given.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from credence.dates import Duration
from credence.engine.assessment import (
    Contribution,
    ListingState,
    ListMeasureState,
    ListStatus,
    MeasureState,
    NoticeState,
    StageState,
    TimelineEvent,
)
from credence.engine.lists import list_statuses
from credence.engine.tally import Clamp, Tally, count_date, expiry_of, tally, value
from credence.policy.compiled import (
    CompiledPolicy,
    CompiledVersion,
    change_days,
    compile_policy,
)
from credence.policy.load import PolicySet
from credence.policy.model import ListDef, PolicyVersion, Stages
from credence.records import VOID, Record
from credence.states import (
    NOTICE_ENDS,
    ListingOutcome,
    ListingStatus,
    MeasureStatus,
    NoticeStatus,
)


@dataclass(frozen=True)
class Decisions:
    """Facts from the due-process layer: when notices were served, when measures were approved.

    Keys are notice keys (``stage@issued-date``, ``list:id@issued-date``). A key mapped to None
    in ``served`` means the notice was not served (yet); a missing key means "served after the
    ladder's service lag", unless ``assume_service`` is off (the due-process layer, which knows
    every notice it delivered).
    """

    served: Mapping[str, date | None] = field(default_factory=dict)
    approved: Mapping[str, date] = field(default_factory=dict)
    assume_service: bool = True

    def served_on(self, key: str, lag: Duration, issued: date) -> date | None:
        """When the notice ``key`` was served: as recorded, else assumed after ``lag``."""
        if key in self.served:
            return self.served[key]
        return lag.after(issued) if self.assume_service else None


@dataclass
class _Notice:
    key: str
    stage: str
    issued_on: date
    served_on: date | None
    status: NoticeStatus = NoticeStatus.ISSUED
    closed_on: date | None = None
    deadline: date | None = None


@dataclass
class _Measure:
    key: str
    measure: str
    stage: str
    due_on: date
    human_review: bool
    status: MeasureStatus = MeasureStatus.PROPOSED
    in_force_from: date | None = None
    until: date | None = None


@dataclass
class _Listing:
    key: str
    list_id: str
    type: str
    status: ListingStatus | None
    noticed_on: date | None = None
    served_on: date | None = None
    deadline: date | None = None
    listed_on: date | None = None
    until: date | None = None
    removed_on: date | None = None
    reason: str = ""
    evidence: tuple[str, ...] = ()
    outcome: ListingOutcome | None = None
    measure_status: MeasureStatus = MeasureStatus.LIFTED


@dataclass
class Replay:
    """What the replay decided: credit decisions, stage clamps, stage and listing history."""

    credit_decisions: dict[str, str | None]
    clamps: list[Clamp]
    stages: StageState | None
    listings: tuple[ListingState, ...] = ()


def reached_index(version: CompiledVersion, stages: Stages, score: int) -> int:
    """How many rungs of the ladder ``score`` has reached (0 for none)."""
    n = 0
    for i, stage in enumerate(stages.ladder, start=1):
        if version.reaches(score, stage.threshold):
            n = i
    return n


def replay(
    policy: PolicySet | CompiledPolicy,
    records: Sequence[Record],
    as_of: date,
    known_at: date,
    decisions: Decisions | None = None,
    *,
    listings: bool = True,
) -> Replay:
    """Replay the subject's history up to ``as_of`` (see the module docstring)."""
    compiled = policy if isinstance(policy, CompiledPolicy) else compile_policy(policy)
    replayer = _Replayer(compiled, records, as_of, known_at, decisions or Decisions())
    replayer.with_lists = listings
    return replayer.run()


class _Replayer:
    def __init__(
        self,
        policy: CompiledPolicy,
        records: Sequence[Record],
        as_of: date,
        known_at: date,
        decisions: Decisions,
    ) -> None:
        self.policy = policy
        self.records = sorted(records, key=lambda r: r.record_id)
        self.as_of = as_of
        self.known_at = known_at
        self.decisions = decisions
        self.credits = [r for r in self.records if policy.is_credit(r.kind, r.occurred_on)]
        self.credit_decisions: dict[str, str | None] = {}
        self.clamps: list[Clamp] = []
        self.notices: list[_Notice] = []
        self.open: dict[str, _Notice] = {}
        self.measures: list[_Measure] = []
        self.events: list[TimelineEvent] = []
        self.queue: list[date] = []
        self.last: tuple[int, int] = (0, 0)
        self.counted: set[str] = set()
        self.listings: list[_Listing] = []
        self.listed: dict[str, _Listing] = {}
        self.spent: dict[str, set[str]] = {}
        self.with_lists = True

    def push(self, day: date | None) -> None:
        if day is not None and day <= self.as_of:
            heapq.heappush(self.queue, day)

    def run(self) -> Replay:
        staged = self.policy.staged
        listed = self.with_lists and self.policy.listed
        # Without stages or listings only credits depend on history, and they can only be
        # decided on a day that concerns a credit record.
        for record in self.records if staged or listed else self.credits:
            for day in change_days(
                record.occurred_on,
                record.effective_on,
                [record.known_on, *record.status_days()],
                [expiry_of(record, r) for r in self.policy.valuing_rules(record.kind)],
            ):
                self.push(day)
        for version in self.policy.versions:
            self.push(version.effective_from)
        self.push(self.as_of)
        done: set[date] = set()
        while self.queue:
            day = heapq.heappop(self.queue)
            if day in done:
                continue
            done.add(day)
            if self.policy.version_at(day) is not None:
                self.step(day)
        return Replay(self.credit_decisions, self.clamps, self.stage_state(), self.listing_states())

    def knows(self, day: date) -> date:
        return self.known_at if day == self.as_of else day

    def score(self, day: date, known: date) -> Tally:
        return tally(self.policy, self.records, day, known, self.credit_decisions, self.clamps)

    def step(self, day: date) -> None:
        known = self.knows(day)
        compiled = self.policy.version_at(day)
        assert compiled is not None
        version = compiled.source
        self.decide_credits(day, known, compiled)
        if version.stages is not None:
            self.escalate(day, known, version, version.stages)
        if version.lists and self.with_lists:
            self.track_lists(day, known, version)

    def track_lists(self, day: date, known: date, version: PolicyVersion) -> None:
        """Notice before listing, listing for its duration, removal with its reason."""
        now = self.score(day, known)
        met = {s.list_id: s for s in list_statuses(version, now)}
        lag = version.stages.service_lag if version.stages else Duration()
        for lst in version.lists:
            status = met[lst.id]
            entry = self.listed.get(lst.id)
            if entry is not None:
                self.follow_listing(day, known, version, lst, status, entry)
            if lst.id in self.listed or not status.criteria_met:
                continue
            spent = self.spent.get(lst.id, set())
            if lst.entry.record_kinds is not None and set(status.evidence) <= spent:
                continue  # a listing that ran its term is not renewed on the same records
            entry = _Listing(f"list:{lst.id}@{day.isoformat()}", lst.id, lst.type, None)
            entry.evidence = status.evidence
            self.listings.append(entry)
            self.listed[lst.id] = entry
            if lst.notice_period is None:
                self.enter(entry, day, lst.duration)
            else:
                entry.status, entry.noticed_on = ListingStatus.PENDING_NOTICE, day
                entry.served_on = self.decisions.served_on(entry.key, lag, day)
                if entry.served_on is not None:
                    entry.deadline = lst.notice_period.after(entry.served_on)
                self.log(day, "list notice issued", f"{lst.id} ({entry.key})")
                self.push(entry.served_on)
                self.push(entry.deadline)

    def follow_listing(
        self,
        day: date,
        known: date,
        version: PolicyVersion,
        lst: ListDef,
        status: ListStatus,
        entry: _Listing,
    ) -> None:
        """Advance an open listing episode on ``day``."""
        if status.criteria_met:
            entry.evidence = status.evidence
        voided = self.stopped_counting(entry.evidence, known, self.policy.of(version))
        if entry.status == ListingStatus.PENDING_NOTICE:
            if not status.criteria_met:
                entry.status, entry.removed_on = ListingStatus.WITHDRAWN, day
                entry.outcome = ListingOutcome.RECORD_VOID if voided else ListingOutcome.RECTIFIED
                entry.reason = (
                    f"{', '.join(voided)} no longer counted"
                    if voided
                    else "criteria no longer met before listing (rectified)"
                )
                del self.listed[lst.id]
                self.log(day, "list notice withdrawn", f"{lst.id}: {entry.reason}")
            elif entry.deadline is not None and day >= entry.deadline:
                self.enter(entry, entry.deadline, lst.duration)
        elif entry.status == ListingStatus.LISTED:
            if entry.until is not None and day >= entry.until:
                self.remove(
                    entry,
                    entry.until,
                    "listing period ended",
                    MeasureStatus.LIFTED,
                    ListingOutcome.EXPIRED,
                )
                self.spent.setdefault(lst.id, set()).update(entry.evidence)
            elif not status.criteria_met:
                if status.repaired_by:
                    why, end = f"repaired by {status.repaired_by}", MeasureStatus.LIFTED
                    outcome = ListingOutcome.REPAIRED
                elif voided:
                    why, end = f"{', '.join(voided)} no longer counted", MeasureStatus.RESCINDED
                    outcome = ListingOutcome.RECORD_VOID
                else:
                    why, end = "criteria no longer met", MeasureStatus.LIFTED
                    outcome = ListingOutcome.CRITERIA_ENDED
                self.remove(entry, day, why, end, outcome)

    def enter(self, entry: _Listing, day: date, duration: Duration | None) -> None:
        entry.status, entry.listed_on = ListingStatus.LISTED, day
        entry.until = duration.after(day) if duration else None
        entry.measure_status = MeasureStatus.IN_FORCE
        self.push(entry.until)
        self.log(day, "listed", f"{entry.list_id} ({entry.key})")

    def remove(
        self,
        entry: _Listing,
        day: date,
        reason: str,
        measures: MeasureStatus,
        outcome: ListingOutcome,
    ) -> None:
        entry.status, entry.removed_on, entry.reason = ListingStatus.REMOVED, day, reason
        entry.outcome = outcome
        entry.measure_status = measures
        del self.listed[entry.list_id]
        self.log(day, "removed from list", f"{entry.list_id}: {reason}")

    def listing_states(self) -> tuple[ListingState, ...]:
        version = self.in_force()
        out = []
        for e in self.listings:
            lst = next((x for x in version.lists if x.id == e.list_id), None)
            measures: list[ListMeasureState] = []
            if lst is not None and e.listed_on is not None:
                for mid in lst.measures:
                    m = version.measure(mid)
                    start: date | None = e.listed_on
                    status = e.measure_status
                    if m.human_review:
                        approved = self.decisions.approved.get(f"{e.key}#{mid}")
                        start = max(e.listed_on, approved) if approved else None
                        if start is None or start > self.as_of:
                            status = (
                                MeasureStatus.AWAITING_REVIEW
                                if e.status == ListingStatus.LISTED
                                else MeasureStatus.WITHDRAWN
                            )
                            start = None
                    end = e.removed_on or e.until
                    if start is not None and m.duration is not None:
                        capped = m.duration.after(start)
                        end = capped if end is None else min(end, capped)
                    if status == MeasureStatus.IN_FORCE and end is not None and end <= self.as_of:
                        status = MeasureStatus.LIFTED
                    measures.append(ListMeasureState(mid, status, start, end, m.human_review))
            served = e.served_on if e.served_on and e.served_on <= self.as_of else None
            out.append(
                ListingState(
                    key=e.key,
                    list_id=e.list_id,
                    type=e.type,
                    status=e.status or ListingStatus.PENDING_NOTICE,
                    noticed_on=e.noticed_on,
                    served_on=served,
                    deadline=e.deadline,
                    listed_on=e.listed_on,
                    until=e.until,
                    removed_on=e.removed_on,
                    reason=e.reason,
                    evidence=e.evidence,
                    measures=tuple(measures),
                    outcome=e.outcome,
                )
            )
        return tuple(out)

    def decide_credits(self, day: date, known: date, version: CompiledVersion) -> None:
        pending = [c for c in self.credits if c.record_id not in self.credit_decisions]
        present = [
            c
            for c in pending
            if isinstance(value(self.policy, version, c, day, known), Contribution)
        ]
        present.sort(key=lambda r: (count_date(r, version), r.record_id))
        for credit in present:
            self.credit_decisions[credit.record_id] = self.judge_credit(credit, known, version)

    def judge_credit(self, credit: Record, known: date, version: CompiledVersion) -> str | None:
        rule = self.policy.rule_then(credit.kind, credit.occurred_on)
        assert rule is not None and rule.credit
        earned = count_date(credit, version)
        window = rule.limit_window(earned)
        if window is not None and rule.at_most is not None:
            start, end = window
            used = [
                r
                for r in self.credits
                if r.kind == credit.kind
                and self.credit_decisions.get(r.record_id, "x") is None
                and start < count_date(r, version) <= end
                and r.status_at(known) not in VOID
            ]
            if len(used) >= rule.at_most.count:
                return (
                    f"credit limit reached: at most {rule.at_most.count} per {rule.at_most.per} "
                    f"(already {', '.join(r.record_id for r in used)})"
                )
        if rule.score_range is not None:
            before = self.score(earned, known).score
            low, high = rule.score_range.min, rule.score_range.max
            if (low is not None and before < low) or (high is not None and before > high):
                bounds = " and ".join(
                    text
                    for text in (
                        f"at least {low}" if low is not None else "",
                        f"at most {high}" if high is not None else "",
                    )
                    if text
                )
                return (
                    f"credit may be earned only at a score of {bounds}; "
                    f"the score on {earned} was {before}"
                )
        return None

    def stopped_counting(
        self, ids: Collection[str], known: date, version: CompiledVersion
    ) -> list[str]:
        """Of ``ids``, the records whose status now keeps them from counting, as "id (status)"."""
        out = []
        for r in self.records:
            if r.record_id not in ids:
                continue
            status = r.status_at(known)
            if version.withholds(status):
                out.append(f"{r.record_id} ({status.value})")
        return out

    def escalate(self, day: date, known: date, version: PolicyVersion, stages: Stages) -> None:
        ladder = stages.ladder
        current = self.score(day, known)
        reached = reached_index(self.policy.of(version), stages, current.score)
        voided = self.stopped_counting(self.counted, known, self.policy.of(version))
        self.counted = {c.record_id for c in current.contributions}
        for i, stage in enumerate(ladder, start=1):
            notice = self.open.get(stage.id)
            if i > reached and notice is not None:
                self.close(day, notice, voided)
        for m in self.measures:
            if self.rung(m.stage) <= reached or m.status != MeasureStatus.IN_FORCE:
                continue
            if voided:
                m.status, m.until = MeasureStatus.RESCINDED, day
                self.log(
                    day,
                    "measure rescinded",
                    f"{m.measure}: stage {m.stage} no longer holds after {', '.join(voided)} "
                    "no longer counted",
                )
            elif m.until is None:
                m.status, m.until = MeasureStatus.LIFTED, day
                self.log(day, "measure lifted", f"{m.measure}: stage {m.stage} left")
        guard = 0
        while stages.require_earlier_notices and guard <= len(ladder):
            guard += 1
            first = next(
                (
                    i
                    for i, s in enumerate(ladder[:reached], start=1)
                    if s.notice and not self.served(s.id, day)
                ),
                None,
            )
            if first is None:
                break
            if first < reached and stages.on_skip == "clamp":
                nxt = ladder[first].threshold
                target = nxt + 1 if version.higher_is_better else nxt - 1
                delta = target - current.score
                if delta != 0 and version.is_favourable(delta):
                    expiries = [c.expires_on for c in current.contributions]
                    lasts = (
                        None
                        if any(e is None for e in expiries) or not expiries
                        else max(e for e in expiries if e is not None)
                    )
                    self.clamps.append(Clamp(day, delta, ladder[first - 1].id, lasts))
                    self.push(lasts)
                    self.log(
                        day,
                        "stage clamp",
                        f"stage {ladder[first - 1].id} skipped without notice: score set to "
                        f"{target} ({delta:+d})",
                    )
                    current = self.score(day, known)
                    reached = reached_index(self.policy.of(version), stages, current.score)
            stage = ladder[first - 1]
            if stage.id not in self.open:
                self.issue(day, stage.id, version)
            if not self.served(stage.id, day):
                break
        if not stages.require_earlier_notices and reached:
            stage = ladder[reached - 1]
            if stage.notice and stage.id not in self.open:
                self.issue(day, stage.id, version)
        effective = self.effective(stages, reached, day)
        for i, stage in enumerate(ladder, start=1):
            if i <= effective and stage.measure:
                self.apply_measure(day, stage.id, stage.measure, version)
        self.last = (reached, effective)

    def rung(self, stage_id: str) -> int:
        version = self.in_force()
        assert version.stages is not None
        ids = [s.id for s in version.stages.ladder]
        return ids.index(stage_id) + 1 if stage_id in ids else 0

    def served(self, stage_id: str, day: date) -> bool:
        notice = self.open.get(stage_id)
        return notice is not None and notice.served_on is not None and notice.served_on <= day

    def effective(self, stages: Stages, reached: int, day: date) -> int:
        if not stages.require_earlier_notices:
            stage = stages.ladder[reached - 1] if reached else None
            if stage is None or (stage.notice and not self.served(stage.id, day)):
                return 0
            return reached
        eff = 0
        for i, stage in enumerate(stages.ladder[:reached], start=1):
            if stage.notice and not self.served(stage.id, day):
                break
            eff = i
        return eff

    def issue(self, day: date, stage_id: str, version: PolicyVersion) -> None:
        assert version.stages is not None
        key = f"{stage_id}@{day.isoformat()}"
        served = self.decisions.served_on(key, version.stages.service_lag, day)
        notice = _Notice(key, stage_id, day, served)
        stage = next(s for s in version.stages.ladder if s.id == stage_id)
        if stage.measure and served is not None:
            period = version.measure(stage.measure).notice_period
            notice.deadline = period.after(served) if period else served
        self.notices.append(notice)
        self.open[stage_id] = notice
        self.log(day, "notice issued", f"stage {stage_id} ({key})")
        if served is not None:
            self.push(served)
            self.push(notice.deadline)

    def close(self, day: date, notice: _Notice, voided: list[str]) -> None:
        if voided:
            notice.status = NoticeStatus.WITHDRAWN
            self.log(
                day,
                "notice withdrawn",
                f"stage {notice.stage}: {', '.join(voided)} no longer counted",
            )
        elif notice.status != NoticeStatus.EXPIRED:
            notice.status = NoticeStatus.COMPLIED
            self.log(day, "notice complied", f"stage {notice.stage}: score left the stage")
        notice.closed_on = day
        del self.open[notice.stage]
        for m in self.measures:
            if m.key == notice.key and m.status in (
                MeasureStatus.PROPOSED,
                MeasureStatus.AWAITING_REVIEW,
            ):
                m.status = MeasureStatus.WITHDRAWN
                self.log(day, "measure withdrawn", f"{m.measure}: stage {m.stage} left")

    def apply_measure(
        self, day: date, stage_id: str, measure_id: str, version: PolicyVersion
    ) -> None:
        notice = self.open.get(stage_id)
        if notice is None or notice.served_on is None or notice.served_on > day:
            return
        state = next((m for m in self.measures if m.key == notice.key), None)
        if state is not None and state.status in (MeasureStatus.IN_FORCE, MeasureStatus.LIFTED):
            return
        due = notice.deadline or notice.served_on
        if due > day:
            self.push(due)
            return
        measure = version.measure(measure_id)
        if state is None:
            state = _Measure(notice.key, measure_id, stage_id, due, measure.human_review)
            self.measures.append(state)
        start = due
        if measure.human_review:
            approved = self.decisions.approved.get(notice.key)
            if approved is None or approved > day:
                if state.status != MeasureStatus.AWAITING_REVIEW:
                    state.status = MeasureStatus.AWAITING_REVIEW
                    self.log(day, "measure awaiting review", f"{measure_id} ({notice.key})")
                self.push(approved)
                return
            start = max(due, approved)
        state.status = MeasureStatus.IN_FORCE
        state.in_force_from = start
        if measure.duration is not None:
            state.until = measure.duration.after(start)
        notice.status = NoticeStatus.EXPIRED
        self.log(day, "measure in force", f"{measure_id} from {start} ({notice.key})")

    def in_force(self) -> PolicyVersion:
        """The version in force at the evaluation date (the latest if none yet)."""
        found = self.policy.version_at(self.as_of) or self.policy.versions[-1]
        return found.source

    def log(self, day: date, event: str, detail: str) -> None:
        self.events.append(TimelineEvent(day, event, detail))

    def stage_state(self) -> StageState | None:
        found = self.policy.version_at(self.as_of)
        version = found.source if found is not None else None
        if version is None or version.stages is None:
            return None
        ladder = version.stages.ladder
        reached, effective = self.last
        notices = tuple(
            NoticeState(
                key=n.key,
                stage=n.stage,
                issued_on=n.issued_on,
                served_on=n.served_on if n.served_on and n.served_on <= self.as_of else None,
                status=n.status
                if n.status in NOTICE_ENDS
                else (
                    NoticeStatus.SERVED
                    if n.served_on and n.served_on <= self.as_of
                    else NoticeStatus.ISSUED
                ),
                deadline=n.deadline,
                closed_on=n.closed_on,
            )
            for n in self.notices
        )
        measures = []
        for m in self.measures:
            status = m.status
            if status == MeasureStatus.IN_FORCE and m.until is not None and m.until <= self.as_of:
                status = MeasureStatus.LIFTED
            measures.append(
                MeasureState(
                    key=m.key,
                    measure=m.measure,
                    stage=m.stage,
                    due_on=m.due_on,
                    status=status,
                    in_force_from=m.in_force_from,
                    until=m.until,
                    human_review=m.human_review,
                )
            )
        return StageState(
            reached=ladder[reached - 1].id if reached else None,
            effective=ladder[effective - 1].id if effective else None,
            notices=notices,
            measures=tuple(measures),
            events=tuple(self.events),
        )
