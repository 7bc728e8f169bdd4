"""The policy lab runs the real system: simulated agencies, people and reviewers, real layers.

The simulator says only what the world does: which records the agencies report and when,
which subjects object to a record (with evidence) or fulfil an obligation, and what reviewers
decide, how well and how late. Everything the scheme does is done by the layers operators run:
the reports are ingested into a store (the embedded SQLite or a PostgreSQL URL), the due
process (:func:`credence.runs.run.run`, the due agenda) advances the store step by step, and
objections, decisions, revocations and measure reviews go through the functions the API calls.
People react to the notices the outbox delivered, on the day it delivered them, never before
the last run's day (a reaction dated earlier would rewrite what a run already decided).

The ground truth (who really committed what, which records are wrong) is written beside the
store in the ``lab_subjects`` and ``lab_records`` tables, so that the impact report is a set of
queries over the store joined with the truth.
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)

from credence import csvsafe
from credence.errors import CredenceError
from credence.policy.load import PolicySet
from credence.policy.model import ListDef
from credence.records import Record
from credence.rows.fields import COLUMNS
from credence.sim.agencies import Reported, end_of_run, report
from credence.sim.population import Population, PopulationSpec, generate_population
from credence.sim.scenarios import Behaviour, Scenario
from credence.states import MeasureStatus
from credence.store.db import Store

Progress = Callable[[str, int, int], None]
"""Called as ``progress(task, done, total)`` while a run advances."""

LAB_ACTOR = "lab"
SUBJECT_ACTOR = "lab-subject"
REVIEWER_ACTOR = "lab-reviewer"

TRUTH = MetaData()
LAB_SUBJECTS = Table(
    "lab_subjects",
    TRUTH,
    Column("subject_id", String(64), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("region", String(32), nullable=False),
    Column("age_band", String(16), nullable=False),
    Column("segment", Integer, nullable=False),
    # True when the subject really committed no adverse act in the whole run.
    Column("clean", Boolean, nullable=False),
)
LAB_RECORDS = Table(
    "lab_records",
    TRUTH,
    Column("record_id", String(300), primary_key=True),
    Column("subject_id", String(64), nullable=False),
    # false | wrong_person | duplicate | injected; true records have no row.
    Column("fault", String(20), nullable=False),
)


@dataclass(frozen=True)
class World:
    """The simulated population and what its agencies report: shared by every run of a lab."""

    scenario: Scenario
    population: Population
    reported: Reported
    start: date
    end: date

    def clean(self, subject: int) -> bool:
        """True when the subject really committed no adverse act in the run (ground truth)."""
        return self.reported.adverse_acts[subject] == 0


def make_world(policy: PolicySet, scenario: Scenario, *more: PolicySet) -> World:
    """Generate the population and every report of the run (kinds scored by any policy)."""
    spec = PopulationSpec(scenario.population, organisation_share=scenario.organisation_share)
    population = generate_population(spec, scenario.seed)
    reported = report(policy, population, scenario, *more)
    start = scenario.start_for(policy)
    return World(scenario, population, reported, start, end_of_run(start, scenario.years))


def without_safeguards(policy: PolicySet) -> PolicySet:
    """The same scheme with no notice periods: a listing or measure bites the day it is served."""
    # Parsed by the model itself, so the period has the type its field holds.
    zero = ListDef.model_validate(
        {"id": "zero", "entry": {"grades": ["none"]}, "notice_period": "P0D"}
    ).notice_period
    versions = []
    for v in policy.versions:
        lists = [lst.model_copy(update={"notice_period": zero}) for lst in v.lists]
        measures = [m.model_copy(update={"notice_period": zero}) for m in v.measures]
        # A version of its own: the baseline's store never holds a changed body under the
        # scheme's real version.
        versions.append(
            v.model_copy(
                update={"lists": lists, "measures": measures, "version": f"{v.version}-baseline"}
            )
        )
    return replace(policy, versions=tuple(versions))


NO_OBJECTIONS = Behaviour(objection_rate=0.0, frivolous_rate=0.0, spontaneous_rate=0.0)


@dataclass
class Mailbox:
    """The lab's sender: every delivered message reaches its subject (kept for the reactions)."""

    delivered: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, message: Any) -> None:
        """Accept ``message`` (an outbox row); the outbox marks it sent and served."""
        self.delivered.append((message.subject_id, message.kind, message.ref))


@dataclass
class LabRun:
    """One run of a scheme over a world, through a store."""

    label: str
    policy: PolicySet
    world: World
    store: Store
    safeguards: bool
    steps: int = 0
    reactions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    subject_ids: list[str] = field(default_factory=list)


def open_store(folder: Path, url: str | None) -> Store:
    """A new store in ``folder`` (its keys; its database too unless ``url`` names one)."""
    from credence.store.db import initialise

    folder.mkdir(parents=True, exist_ok=True)
    target = url or f"sqlite:///{(folder / 'credence.db').resolve()}"
    store, _ = initialise(folder, target, actor=LAB_ACTOR)
    return store


def run_lab(
    policy: PolicySet,
    world: World,
    store: Store,
    *,
    label: str = "lab",
    safeguards: bool = True,
    step_days: int = 7,
    progress: Progress | None = None,
) -> LabRun:
    """Run ``policy`` over ``world`` through ``store``, one due-process run per step."""
    if step_days < 1:
        raise ValueError("step_days: a step is at least one day")
    scheme = policy if safeguards else without_safeguards(policy)
    behaviour = world.scenario.behaviour if safeguards else NO_OBJECTIONS
    lab = LabRun(label, scheme, world, store, safeguards)
    _Loop(lab, behaviour, step_days, progress or (lambda _t, _d, _n: None)).run()
    return lab


def write_truth(store: Store, world: World, subject_ids: list[str]) -> None:
    """Write the ground truth beside the store (``lab_subjects``, ``lab_records``)."""
    pop = world.population
    regions, bands = pop.region_names, pop.band_names
    with store.engine.begin() as con:
        TRUTH.create_all(con)
        con.execute(
            insert(LAB_SUBJECTS),
            [
                {
                    "subject_id": subject_ids[i],
                    "number": i,
                    "kind": pop.kinds[i],
                    "region": regions[pop.regions[i]],
                    "age_band": bands[pop.age_bands[i]],
                    "segment": pop.segments[i],
                    "clean": world.clean(i),
                }
                for i in range(len(pop))
            ],
        )
        faults = [
            {
                "record_id": store_id(r),
                "subject_id": subject_ids[world.reported.subject_of[rid]],
                "fault": fault,
            }
            for r in world.reported.records
            if (fault := world.reported.faults.get(rid := r.record_id))
        ]
        if faults:
            con.execute(insert(LAB_RECORDS), faults)


def store_id(r: Record) -> str:
    """The store's id of a reported record (``source:source_record_id``)."""
    return f"{r.source}:{r.source_record_id}"


def at(day: date, hour: int = 12) -> datetime:
    """A UTC instant on ``day``."""
    return datetime.combine(day, clock_time(hour), tzinfo=UTC)


# What agencies send: no record ids of ours, no statuses (those come later, through the API).
SENT_COLUMNS = [c for c in COLUMNS if c not in ("record_id", "status", "status_at")]


class _Loop:
    """The step loop: ingest what arrived, apply what people and reviewers did, run, react."""

    def __init__(self, lab: LabRun, behaviour: Behaviour, step: int, progress: Progress) -> None:
        self.lab = lab
        self.world = lab.world
        self.policy = lab.policy
        self.store = lab.store
        self.b = behaviour
        self.step = step
        self.progress = progress
        self.rng = random.Random(f"lab:{self.world.scenario.seed}")
        self.accuracy = behaviour.review_accuracy
        # (day, seq, action, payload); seq keeps the order of same-day events reproducible.
        self.events: list[tuple[date, int, str, tuple[Any, ...]]] = []
        self.seq = 0
        self.objected: set[str] = set()
        self.fulfilled: set[str] = set()
        self.reviewed: set[int] = set()
        self.deterred: dict[int, date] = {}
        self.last_run: date | None = None

    def schedule(self, day: date, action: str, *payload: Any) -> None:
        # Nothing may be dated on or before a day a run already decided.
        if self.last_run is not None and day <= self.last_run:
            day = self.last_run + timedelta(days=1)
        self.seq += 1
        heapq.heappush(self.events, (day, self.seq, action, payload))

    def run(self) -> None:
        lab, world = self.lab, self.world
        clock = time.perf_counter()
        ids = [self.store.keys.subject_id(nid) for nid in world.population.ids]
        lab.subject_ids = ids
        self.number = {sid: i for i, sid in enumerate(ids)}
        write_truth(self.store, world, ids)
        self.faults = {
            store_id(r): f
            for r in world.reported.records
            if (f := world.reported.faults.get(r.record_id))
        }
        self.kind_of = {store_id(r): r.kind for r in world.reported.records}
        self.source_of = {store_id(r): r.source for r in world.reported.records}
        by_day: dict[date, list[Record]] = defaultdict(list)
        for r in world.reported.records:
            by_day[r.recorded_at.date()].append(r)
            fault = world.reported.faults.get(r.record_id)
            if fault and self.rng.random() < self.b.spontaneous_rate:
                # Some people find a wrong record without being told (a credit check, a letter).
                found = r.recorded_at.date() + timedelta(days=self.rng.randint(14, 180))
                self.seq += 1
                heapq.heappush(self.events, (found, self.seq, "object", (store_id(r), True)))
        lab.timings["truth"] += time.perf_counter() - clock
        days = _step_days(world.start, world.end, self.step)
        # Reports recorded before the first day arrive with the first step.
        pending = sorted(by_day)
        cursor = 0
        mailbox = Mailbox()
        from credence.runs.run import run as process_run

        for k, day in enumerate(days):
            arrived: list[Record] = []
            while cursor < len(pending) and pending[cursor] <= day:
                arrived += by_day[pending[cursor]]
                cursor += 1
            clock = time.perf_counter()
            self._ingest(arrived, day)
            lab.timings["ingest"] += time.perf_counter() - clock
            clock = time.perf_counter()
            self._apply_events(day)
            lab.timings["people"] += time.perf_counter() - clock
            clock = time.perf_counter()
            mailbox.delivered.clear()
            process_run(self.store, self.policy, day, actor=LAB_ACTOR, sender=mailbox)
            self.last_run = day
            lab.timings["process"] += time.perf_counter() - clock
            clock = time.perf_counter()
            self._react(mailbox, day)
            lab.timings["people"] += time.perf_counter() - clock
            lab.steps += 1
            self.progress(f"{lab.label} weeks" if self.step == 7 else lab.label, k + 1, len(days))

    # -- the agencies -------------------------------------------------------------------------

    def _ingest(self, arrived: list[Record], day: date) -> None:
        from credence.ingest.run import ingest_file

        sent = [r for r in arrived if not self._deterred(r)]
        self.lab.reactions["acts_deterred"] += len(arrived) - len(sent)
        if not sent:
            return
        by_source: dict[str, list[Record]] = defaultdict(list)
        for r in sent:
            by_source[r.source].append(r)
        folder = self.store.folder / "incoming"
        folder.mkdir(exist_ok=True)
        now = datetime.combine(day, clock_time(23, 59), tzinfo=UTC)
        for source, recs in sorted(by_source.items()):
            path = folder / f"{source}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csvsafe.writer(handle, lineterminator="\n")
                writer.writerow(SENT_COLUMNS)
                for r in sorted(recs, key=lambda x: (x.recorded_at, x.source_record_id)):
                    writer.writerow(_row(r))
            summary = ingest_file(
                self.store, path, source=source, policy=self.policy, actor=LAB_ACTOR, now=now
            )
            self.lab.reactions["records_accepted"] += summary.accepted
            self.lab.reactions["records_rejected"] += summary.rejected
            path.unlink()

    def _deterred(self, r: Record) -> bool:
        i = self.world.reported.subject_of[r.record_id]
        since = self.deterred.get(i)
        if since is None or r.occurred_on <= since or r.record_id in self.world.reported.faults:
            return False
        adverse = self.world.reported.conduct[r.kind].adverse
        return adverse and random.Random(r.record_id).random() < self.b.deterrence

    # -- people and reviewers -----------------------------------------------------------------

    def _apply_events(self, day: date) -> None:
        from credence.runs.objections import ObjectionError, decide, file_objection
        from credence.runs.reviews import ReviewError, review_measure
        from credence.store.records import RecordStateError, revoke

        keys = self.store.keys
        with self.store.session() as session:
            while self.events and self.events[0][0] <= day:
                when, _, action, payload = heapq.heappop(self.events)
                try:
                    if action == "object":
                        record_id, spontaneous = payload
                        o = file_objection(
                            session,
                            keys,
                            self.policy,
                            record_id,
                            statement=(
                                "I found this record without being told. "
                                if spontaneous
                                else "After your notice: "
                            )
                            + (
                                "I never did this." if record_id in self.faults else "I dispute it."
                            ),
                            evidence=[f"sim://statement/{record_id}"],
                            actor=SUBJECT_ACTOR,
                            now=at(when, 10),
                        )
                        self.lab.reactions[
                            "objections_spontaneous" if spontaneous else "objections_warned"
                        ] += 1
                        self._review_objection(o.id, record_id, when, o.review_deadline)
                    elif action == "decide":
                        objection_id, outcome = payload
                        decide(
                            session,
                            keys,
                            objection_id,
                            outcome,
                            reason="the agency could not substantiate the record"
                            if outcome == "overturned"
                            else "the agency's evidence supports the record",
                            actor=REVIEWER_ACTOR,
                            now=at(when, 15),
                        )
                        self.lab.reactions[f"decisions_{outcome}"] += 1
                    elif action == "fulfil":
                        (record_id,) = payload
                        revoke(
                            session,
                            keys,
                            record_id,
                            actor=self.source_of[record_id],
                            reason="obligation fulfilled",
                            now=at(when, 11),
                        )
                        self.lab.reactions["obligations_fulfilled"] += 1
                    elif action == "review":
                        measure_id, approve = payload
                        review_measure(
                            session,
                            keys,
                            measure_id,
                            approve=approve,
                            reason="" if approve else "the records behind it are in doubt",
                            actor=REVIEWER_ACTOR,
                            on=when,
                            now=at(when, 16),
                        )
                        self.lab.reactions[
                            "measures_approved" if approve else "measures_refused"
                        ] += 1
                    session.commit()
                except (ObjectionError, ReviewError, RecordStateError, CredenceError):
                    # The world moved on (the record was revoked or overturned meanwhile, the
                    # objection lapsed): what a person or reviewer would be told by the API.
                    session.rollback()
                    self.lab.reactions[f"{action}_refused"] += 1

    def _review_objection(
        self, objection_id: int, record_id: str, filed: date, deadline: date
    ) -> None:
        lo, hi = self.b.review_delay_days
        decided = filed + timedelta(days=self.rng.randint(lo, hi))
        if decided > deadline:
            return  # the reviewer is too late: the run lapses the record
        wrong = record_id in self.faults
        right = self.rng.random() < self.accuracy
        outcome = "overturned" if wrong == right else "upheld"
        self.schedule(decided, "decide", objection_id, outcome)

    def _react(self, mailbox: Mailbox, day: date) -> None:
        from credence.store.schema import MeasureRow, Notice

        refs = [(s, ref) for s, kind, ref in mailbox.delivered if kind == "notice"]
        with self.store.session() as session:
            for subject_id, ref in refs:
                _, policy_id, _, key = ref.split(":", 3)
                notice = session.scalar(
                    select(Notice).where(
                        Notice.subject_id == subject_id,
                        Notice.policy_id == policy_id,
                        Notice.ref == key,
                    )
                )
                if notice is None or notice.served_on is None:
                    continue
                self._read_notice(
                    subject_id,
                    notice.about,
                    json.loads(notice.body),
                    notice.served_on,
                    notice.deadline,
                )
            for measure_id, subject_id in session.execute(
                select(MeasureRow.id, MeasureRow.subject_id).where(
                    MeasureRow.status == MeasureStatus.AWAITING_REVIEW
                )
            ).all():
                if measure_id in self.reviewed:
                    continue
                self.reviewed.add(measure_id)
                clean = self.world.clean(self.number[subject_id])
                right = self.rng.random() < self.accuracy
                self.schedule(
                    day + timedelta(days=self.b.review_lag_days),
                    "review",
                    measure_id,
                    (not clean) == right,
                )

    def _read_notice(
        self, subject_id: str, about: str, body: dict[str, Any], served: date, deadline: date | None
    ) -> None:
        """A served notice makes its subject look at the records behind it."""
        self.lab.reactions[f"notices_read_{about}"] += 1
        i = self.number[subject_id]
        records = [r["record_id"] for r in body.get("reasons", [])] + list(body.get("evidence", []))
        last = deadline or served + timedelta(days=self.b.objection_window_days)
        window = max((last - served).days - 1, self.b.objection_delay_days)
        window = min(window, self.b.objection_window_days)
        for rid in dict.fromkeys(records):
            if rid in self.objected or rid in self.fulfilled or rid not in self.kind_of:
                continue
            wrong = rid in self.faults
            if self.rng.random() < (self.b.objection_rate if wrong else self.b.frivolous_rate):
                self.objected.add(rid)
                delay = self.rng.randint(self.b.objection_delay_days, max(window, 1))
                self.schedule(served + timedelta(days=delay), "object", rid, False)
                continue
            conduct = self.world.reported.conduct.get(self.kind_of[rid])
            if (
                not wrong
                and about in ("list", "stage")
                and conduct is not None
                and conduct.rectifiable
                and self.world.population.rectifies[i]
            ):
                self.fulfilled.add(rid)
                delay = self.rng.randint(1, max(window, 1))
                self.schedule(served + timedelta(days=delay), "fulfil", rid)
                self.deterred.setdefault(i, served + timedelta(days=delay))


def _step_days(start: date, end: date, step: int) -> list[date]:
    """The days the due process runs: every ``step`` days from ``start``, and ``end``."""
    out = []
    day = start + timedelta(days=step - 1)
    while day < end:
        out.append(day)
        day += timedelta(days=step)
    out.append(end)
    return out


def _row(r: Record) -> list[str]:
    return [
        r.source,
        r.source_record_id,
        r.subject_id,
        r.kind,
        r.occurred_on.isoformat(),
        r.effective_on.isoformat(),
        r.recorded_at.isoformat(),
        "" if r.amount is None else str(r.amount),
        r.evidence_ref or "",
        "",
    ]
