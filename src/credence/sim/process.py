"""Running a scheme over a synthetic population month by month, with simulated due process.

Until the persisted process layer exists the simulator carries its own due process, with the
design's meaning: a blacklist needs a served notice and an elapsed rectification period
before anyone is listed; a listing lasts its duration unless a record behind it is overturned
or the obligation is fulfilled; measures of a list apply while the subject is listed (after a
reviewer's sign-off where the measure asks for one). Stages, their notices and measures come
from the reference timeline replay.

People react to what the system does to them, and that is the point of simulating it: a
served notice makes the subject look at the records behind it, object to wrong ones (which are
overturned on review) and, if they are the kind who does, fulfil the obligation within the
rectification period (the agency then revokes the arrears record) and offend less afterwards.
Every reaction is a new fact on a record dated the day it happens, so the past stays as it was
known (the scorer judges each day as known that day).
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from credence.policy.lint import Finding, lint
from credence.policy.load import PolicySet
from credence.policy.model import ListDef
from credence.records import VOID, Record, Status, StatusChange
from credence.sim.agencies import Reported, at, end_of_run, report
from credence.sim.population import Population, PopulationSpec, generate_population
from credence.sim.scenarios import Scenario
from credence.sim.scoring import Scorer, State, Timeline
from credence.states import MeasureStatus as MS
from credence.states import NoticeStatus

Progress = Callable[[str, int, int], None]
"""Called as ``progress(task, done, total)`` while a run advances."""


@dataclass
class Listing:
    """One blacklist episode: notice, rectification period, then listed or prevented."""

    subject: int
    list_id: str
    issued: date
    served: date
    deadline: date
    outcome: str = "pending"  # pending | listed | prevented
    cause: str = ""  # why prevented: rectified | objection | lapsed
    start: date | None = None
    end: date | None = None
    exit: str = ""  # expired | corrected | repaired | running
    error_caused: bool = False  # the true records alone would not have listed the subject


@dataclass
class MeasureEpisode:
    """A sanction in force on a subject from ``start`` until ``end`` (exclusive)."""

    subject: int
    measure: str
    via: str  # "list:<id>" or "stage:<id>"
    start: date
    end: date | None
    exit: str = ""


@dataclass
class StageNotice:
    """A served notice of a stage that carries a measure, and what became of it."""

    subject: int
    stage: str
    served: date
    outcome: str  # enforced | prevented | pending
    cause: str = ""


@dataclass
class Objection:
    """An objection against a record and its outcome."""

    subject: int
    record_id: str
    fault: str
    filed: date
    decided: date | None
    outcome: str  # overturned | upheld | open
    visible_days: int  # from the day the record was known to the day it was overturned
    warned: bool  # filed in response to a notice or listing


@dataclass
class Simulation:
    """A finished run: the population, the records as they stand, and what the process did."""

    policy: PolicySet
    scenario: Scenario
    population: Population
    reported: Reported
    start: date
    end: date
    months: list[date]
    grades: list[dict[str, int]]  # per month end: grade → subjects
    redlisted: list[dict[str, int]]  # per month end: redlist → subjects meeting its criteria
    listings: list[Listing]
    measures: list[MeasureEpisode]
    stage_notices: list[StageNotice]
    objections: list[Objection]
    rectified: set[int]
    records: dict[int, list[Record]]
    findings: list[Finding]
    timelines: dict[int, Timeline] = field(repr=False, default_factory=dict)

    def clean(self, subject: int) -> bool:
        """True when the subject really committed no adverse act in the run (ground truth)."""
        return self.reported.adverse_acts[subject] == 0


def month_ends(start: date, end: date) -> list[date]:
    """The last day of every month from ``start``'s month to ``end``'s."""
    out = []
    y, m = start.year, start.month
    while True:
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        out.append(min(last, end))
        if last >= end:
            return out
        y, m = nxt.year, nxt.month


class _Run:
    def __init__(self, policy: PolicySet, scenario: Scenario, progress: Progress | None) -> None:
        self.policy = policy
        self.scenario = scenario
        self.progress = progress or (lambda _t, _d, _n: None)
        self.behaviour = scenario.behaviour
        self.rng = random.Random(f"process:{scenario.seed}")
        self.start = scenario.start_for(policy)
        self.end = end_of_run(self.start, scenario.years)
        self.scorer = Scorer(policy)
        self.events: list[tuple[date, int, str, tuple[object, ...]]] = []
        self.seq = 0
        self.listings: list[Listing] = []
        self.open: dict[tuple[int, str], Listing] = {}
        self.measures: list[MeasureEpisode] = []
        self.warned_records: set[str] = set()
        self.rectified: set[int] = set()
        self.rectified_on: dict[int, date] = {}
        self.stage_seen: set[tuple[int, str]] = set()
        self.stage_reacted: set[tuple[int, str]] = set()
        self.objection_warned: set[str] = set()
        lists = [lst for v in policy.versions for lst in v.lists]
        self.lists: dict[str, ListDef] = {lst.id: lst for lst in lists}
        self.credit_kind = next((c.kind for c in policy.latest.credits), None)
        stages = policy.latest.stages
        self.service_lag = (
            stages.service_lag.days if stages is not None else self.behaviour.service_lag_days
        )

    # -- set-up ------------------------------------------------------------------------------

    def run(self) -> Simulation:
        spec = PopulationSpec(
            self.scenario.population, organisation_share=self.scenario.organisation_share
        )
        self.progress("population", 0, 1)
        self.population = generate_population(spec, self.scenario.seed)
        self.reported = report(self.policy, self.population, self.scenario)
        self.progress("population", 1, 1)
        self.records: dict[int, list[Record]] = {}
        for r in self.reported.records:
            self.records.setdefault(self.reported.subject_of[r.record_id], []).append(r)
        self.months = months = month_ends(self.start, self.end)
        self.dirty: list[set[int]] = [set() for _ in months]
        self.cur: dict[int, State] = {}
        self.grade_counts: Counter[str] = Counter()
        self.list_counts: Counter[str] = Counter()
        self.meeting: dict[str, set[int]] = {
            lst.id: set() for lst in self.lists.values() if lst.type == "blacklist"
        }
        self.timelines: dict[int, Timeline] = {}
        total = len(self.records)
        self.progress("scoring", 0, total)
        for done, (i, recs) in enumerate(sorted(self.records.items()), start=1):
            self.timelines[i] = self.scorer.timeline(recs, self.end)
            self._mark(i, None)
            self._schedule_stage_notices(i, self.start - timedelta(days=1))
            if done % 1000 == 0 or done == total:
                self.progress("scoring", done, total)
        grades: list[dict[str, int]] = []
        redlisted: list[dict[str, int]] = []
        for k, month in enumerate(months):
            self._events_until(month)
            g, red = self._scan(k, month)
            grades.append(g)
            redlisted.append(red)
            self.progress("months", k + 1, len(months))
        self._events_until(self.end)
        for listing in self.listings:
            if listing.outcome == "listed" and not listing.exit:
                listing.exit = "running"
        stage_notices = self._stage_outcomes()
        return Simulation(
            policy=self.policy,
            scenario=self.scenario,
            population=self.population,
            reported=self.reported,
            start=self.start,
            end=self.end,
            months=months,
            grades=grades,
            redlisted=redlisted,
            listings=self.listings,
            measures=self.measures,
            stage_notices=stage_notices,
            objections=self._objections(),
            rectified=self.rectified,
            records=self.records,
            findings=lint(self.policy),
            timelines=self.timelines,
        )

    def push(self, day: date, what: str, *data: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (day, self.seq, what, data))

    def state(self, i: int, day: date) -> State:
        tl = self.timelines.get(i)
        found = tl.at(day) if tl is not None else None
        return found or self.scorer.base_state(day)

    def recompile(self, i: int, today: date) -> None:
        self.timelines[i] = self.scorer.timeline(self.records.get(i, []), self.end)
        self._mark(i, today)
        self._schedule_stage_notices(i, today)

    # -- the monthly scan --------------------------------------------------------------------

    def _month_of(self, day: date) -> int:
        k = (day.year - self.start.year) * 12 + day.month - self.start.month
        return min(max(k, 0), len(self.months) - 1)

    def _mark(self, i: int, today: date | None) -> None:
        """Note the months in which subject ``i``'s state may change, for the monthly scan."""
        tl = self.timelines[i]
        if today is None:
            for day in tl.days:
                self.dirty[self._month_of(day)].add(i)
            return
        # After a recompile a change may also have disappeared: look again every month ahead.
        for k in range(self._month_of(today), len(self.months)):
            self.dirty[k].add(i)

    def _scan(self, k: int, month: date) -> tuple[dict[str, int], dict[str, int]]:
        """Grade counts and redlist counts at a month end; notices for new blacklist cases.

        Only subjects whose timeline changes in this month are looked at; the counts of
        everyone else carry over from the month before.
        """
        for i in sorted(self.dirty[k]):
            new = self.timelines[i].at(month)
            old = self.cur.get(i)
            if new == old:
                continue
            if old is not None:
                self.grade_counts[old.grade] -= 1
                for lid in old.lists:
                    self.list_counts[lid] -= 1
                    self.meeting.get(lid, set()).discard(i)
            if new is None:
                del self.cur[i]
                continue
            self.cur[i] = new
            self.grade_counts[new.grade] += 1
            for lid in new.lists:
                self.list_counts[lid] += 1
                if lid in self.meeting:
                    self.meeting[lid].add(i)
        self.dirty[k].clear()
        base = self.scorer.base_state(month)
        version = self.policy.version_at(month)
        assert version is not None
        rest = len(self.population) - len(self.cur)
        grades = {g.grade: self.grade_counts.get(g.grade, 0) for g in version.grades}
        grades[base.grade] = grades.get(base.grade, 0) + rest
        red: dict[str, int] = {}
        for lst in version.lists:
            if lst.type == "redlist":
                red[lst.id] = self.list_counts.get(lst.id, 0) + (
                    rest if lst.id in base.lists else 0
                )
            else:
                for i in sorted(self.meeting[lst.id]):
                    if (i, lst.id) not in self.open:
                        self._issue(i, lst, month)
        return grades, red

    def _issue(self, i: int, lst: ListDef, day: date) -> None:
        served = day + timedelta(days=self.service_lag)
        period = lst.notice_period
        deadline = period.after(served) if period else served
        listing = Listing(i, lst.id, day, served, deadline)
        self.listings.append(listing)
        self.open[(i, lst.id)] = listing
        self.push(served, "served", listing)
        self.push(deadline, "deadline", listing)

    # -- events ------------------------------------------------------------------------------

    def _events_until(self, day: date) -> None:
        while self.events and self.events[0][0] <= day:
            when, _seq, what, data = heapq.heappop(self.events)
            getattr(self, f"_on_{what}")(when, *data)

    def _on_served(self, day: date, listing: Listing) -> None:
        period = (listing.deadline - listing.served).days
        self._react(listing.subject, day, period, listing.list_id)

    def _on_stage_served(self, day: date, i: int, key: str) -> None:
        tl = self.timelines.get(i)
        if tl is None or tl.stages is None or (i, key) in self.stage_reacted:
            return
        if not any(n.key == key for n in tl.stages.notices):
            return  # a correction since withdrew the notice
        self.stage_reacted.add((i, key))
        self._react(i, day, 30, None)

    def _react(self, i: int, day: date, period: int, list_id: str | None) -> None:
        """The subject reads the notice: objects to wrong records, perhaps rectifies."""
        b = self.behaviour
        faults = self.reported.faults
        adverse = self._adverse_counted(i, day)
        review = self.policy.latest.contest.review_period.days or 30
        for r in adverse:
            if r.history or r.record_id in self.warned_records:
                continue
            self.warned_records.add(r.record_id)
            fault = faults.get(r.record_id)
            chance = b.objection_rate if fault else b.frivolous_rate
            if self.rng.random() < chance:
                lo = b.objection_delay_days
                filed = day + timedelta(days=self.rng.randint(lo, max(lo, b.objection_window_days)))
                decided = filed + timedelta(days=self.rng.randint(10, review))
                self.objection_warned.add(r.record_id)
                self.push(filed, "file", i, r.record_id, decided)
        owes = any(
            not faults.get(r.record_id) and self.reported.conduct[r.kind].rectifiable
            for r in adverse
            if r.kind in self.reported.conduct
        )
        fixable = owes or (list_id is None and self.credit_kind is not None)
        if self.population.rectifies[i] and fixable and i not in self.rectified_on:
            when = day + timedelta(days=self.rng.randint(1, max(1, period - 1)))
            self.rectified_on[i] = when
            self.push(when, "rectify", i, list_id)

    def _adverse_counted(self, i: int, day: date) -> list[Record]:
        recs = self.records.get(i, [])
        version = self.policy.version_at(day)
        assert version is not None
        counted = self.scorer.counted(recs, day)
        ids = {c.record_id for c in counted if c.points and not version.is_favourable(c.points)}
        return [r for r in recs if r.record_id in ids]

    def _on_file(self, day: date, i: int, rid: str, decided: date) -> None:
        if self._set_status(i, rid, Status.CONTESTED, day):
            self.recompile(i, day)
            self.push(decided, "decide", i, rid)

    def _on_decide(self, day: date, i: int, rid: str) -> None:
        overturn = rid in self.reported.faults
        if self._set_status(i, rid, Status.OVERTURNED if overturn else Status.UPHELD, day):
            self.recompile(i, day)
            if overturn:
                self._check_exits(i, day, "corrected")

    def _on_rectify(self, day: date, i: int, list_id: str | None) -> None:
        """The obligation is fulfilled: the agency revokes it; behaviour improves."""
        self.rectified.add(i)
        faults = self.reported.faults
        conduct = self.reported.conduct
        for r in self._adverse_counted(i, day):
            c = conduct.get(r.kind)
            if c is not None and c.rectifiable and r.record_id not in faults:
                self._set_status(i, r.record_id, Status.REVOKED, day)
        lst = self.lists.get(list_id) if list_id else None
        repair_kind = lst.repair.record_kinds[0] if lst is not None and lst.repair else None
        new_kind = repair_kind or (self.credit_kind if list_id is None else None)
        recs = self.records.setdefault(i, [])
        if new_kind is not None:
            self.seq += 1
            rid = f"x{self.seq:08d}"
            recs.append(
                Record(
                    record_id=rid,
                    source="sim",
                    source_record_id=rid,
                    subject_id=self.population.ids[i],
                    kind=new_kind,
                    occurred_on=day,
                    effective_on=day,
                    recorded_at=at(day),
                )
            )
        # Deterrence: part of the subject's later adverse acts never happen.
        kept = []
        for r in recs:
            c = conduct.get(r.kind)
            later = r.occurred_on > day and r.record_id not in faults
            if (
                later
                and c is not None
                and c.adverse
                and self.rng.random() < self.behaviour.deterrence
            ):
                self.reported.adverse_acts[i] -= 1
                continue
            kept.append(r)
        self.records[i] = kept
        self.recompile(i, day)
        self._check_exits(i, day, "repaired")

    def _set_status(self, i: int, rid: str, status: Status, day: date) -> bool:
        recs = self.records.get(i, [])
        for k, r in enumerate(recs):
            if r.record_id == rid:
                if r.history and r.history[-1].status in VOID:
                    return False
                change = StatusChange(status, at(day))
                recs[k] = dataclasses.replace(r, history=(*r.history, change))
                return True
        return False

    def _on_deadline(self, day: date, listing: Listing) -> None:
        i = listing.subject
        st = self.state(i, day)
        if listing.list_id in st.lists:
            lst = self.lists[listing.list_id]
            listing.outcome, listing.start = "listed", day
            listing.end = lst.duration.after(day) if lst.duration else None
            listing.error_caused = self._error_caused(i, listing.list_id, day)
            if listing.end is not None:
                self.push(listing.end, "list_end", listing)
            version = self.policy.version_at(day)
            assert version is not None
            for mid in lst.measures:
                m = version.measure(mid)
                if m.type != "sanction":
                    continue
                lag = self.behaviour.review_lag_days if m.human_review else 0
                begin = day + timedelta(days=lag)
                if listing.end is None or begin < listing.end:
                    self.measures.append(
                        MeasureEpisode(i, mid, f"list:{lst.id}", begin, listing.end)
                    )
            return
        listing.outcome = "prevented"
        rectified = self.rectified_on.get(i)
        if rectified is not None and listing.served <= rectified <= day:
            listing.cause = "rectified"
        elif any(
            ch.status in (Status.CONTESTED, Status.OVERTURNED)
            and listing.served <= ch.at.date() <= day
            for r in self.records.get(i, [])
            for ch in r.history
        ):
            listing.cause = "objection"
        else:
            listing.cause = "lapsed"
        del self.open[(i, listing.list_id)]

    def _on_list_end(self, day: date, listing: Listing) -> None:
        if listing.exit:
            return
        listing.exit = "expired"
        self.open.pop((listing.subject, listing.list_id), None)
        for m in self.measures:
            if m.subject == listing.subject and m.via == f"list:{listing.list_id}" and not m.exit:
                m.exit = "expired"

    def _check_exits(self, i: int, day: date, why: str) -> None:
        """Delist a subject whose listing no longer holds after a correction or repair."""
        st = self.state(i, day)
        for (subject, lid), listing in list(self.open.items()):
            if subject != i or listing.outcome != "listed" or lid in st.lists:
                continue
            listing.exit, listing.end = why, day
            del self.open[(subject, lid)]
            for m in self.measures:
                if m.subject == i and m.via == f"list:{lid}" and not m.exit:
                    m.exit = why
                    m.end = day if m.start < day else m.start

    def _error_caused(self, i: int, list_id: str, day: date) -> bool:
        faults = self.reported.faults
        true_records = [r for r in self.records.get(i, []) if r.record_id not in faults]
        if len(true_records) == len(self.records.get(i, [])):
            return False
        st = self.scorer.timeline(true_records, day).at(day) or self.scorer.base_state(day)
        return list_id not in st.lists

    # -- stages ------------------------------------------------------------------------------

    def _schedule_stage_notices(self, i: int, today: date) -> None:
        tl = self.timelines.get(i)
        if tl is None or tl.stages is None:
            return
        for n in tl.stages.notices:
            if n.served_on is None or n.served_on < today or (i, n.key) in self.stage_seen:
                continue
            self.stage_seen.add((i, n.key))
            self.push(n.served_on, "stage_served", i, n.key)

    def _stage_outcomes(self) -> list[StageNotice]:
        out: list[StageNotice] = []
        version = self.policy.latest
        if version.stages is None:
            return out
        with_measure = {s.id for s in version.stages.ladder if s.measure}
        for i, tl in self.timelines.items():
            if tl.stages is None:
                continue
            live = (MS.IN_FORCE, MS.LIFTED)
            enforced = {m.key: m for m in tl.stages.measures if m.status in live}
            for m in enforced.values():
                if m.in_force_from is not None and m.in_force_from <= self.end:
                    self.measures.append(
                        MeasureEpisode(i, m.measure, f"stage:{m.stage}", m.in_force_from, m.until)
                    )
            for n in tl.stages.notices:
                if n.stage not in with_measure or n.served_on is None:
                    continue
                if n.key in enforced:
                    out.append(StageNotice(i, n.stage, n.served_on, "enforced"))
                elif n.status == NoticeStatus.COMPLIED:
                    cause = "rectified" if i in self.rectified else "lapsed"
                    out.append(StageNotice(i, n.stage, n.served_on, "prevented", cause))
                else:
                    out.append(StageNotice(i, n.stage, n.served_on, "pending"))
        return out

    def _objections(self) -> list[Objection]:
        out: list[Objection] = []
        faults = self.reported.faults
        for i, recs in self.records.items():
            for r in recs:
                if not r.history:
                    continue
                filed = next((c.at.date() for c in r.history if c.status is Status.CONTESTED), None)
                if filed is None or filed > self.end:
                    continue
                final = r.history[-1]
                decided = final.at.date() if final.status is not Status.CONTESTED else None
                if decided is not None and decided > self.end:
                    decided = None
                outcome = "open" if decided is None else final.status.value
                known = max(r.recorded_at.date(), r.effective_on)
                visible = (decided - known).days if decided and outcome == "overturned" else 0
                out.append(
                    Objection(
                        i,
                        r.record_id,
                        faults.get(r.record_id, ""),
                        filed,
                        decided,
                        outcome,
                        visible,
                        r.record_id in self.objection_warned,
                    )
                )
        out.sort(key=lambda o: (o.filed, o.record_id))
        return out


def run_simulation(
    policy: PolicySet, scenario: Scenario, progress: Progress | None = None
) -> Simulation:
    """Run ``policy`` over the scenario's population month by month (see the module docs)."""
    return _Run(policy, scenario, progress).run()
