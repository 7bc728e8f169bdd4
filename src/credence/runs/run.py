"""``credence process run``: advance the due subjects of a scheme to a day.

The subjects visited are those the due agenda (:mod:`credence.runs.agenda`) names: something
new was stored about them since the policy's last run, or a day of their story came; ``--full``
visits every subject with records, and must end in the same state.

For each subject the run lapses objections whose review deadline passed, evaluates the
subject with the service dates and sign-offs on record, persists the notices, listings and
measures the evaluation implies, and delivers the notices that are due. Delivering a notice can
let the next stage proceed, so the subject is evaluated again until nothing changes. Because the
evaluator replays the whole timeline and every transition is dated by the day it happened, a run
for the same day twice changes nothing, and running day by day equals running once for the last
day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from credence.audit import chain
from credence.audit.access import Access
from credence.engine.reference import evaluate
from credence.ingest.run import store_policy
from credence.policy.compiled import compile_policy
from credence.policy.load import PolicySet
from credence.process import kernel
from credence.records import Record
from credence.runs import agenda, rows
from credence.runs import workers as workers_
from credence.runs.objections import lapse_due
from credence.runs.outbox import DeliveryError, Sender
from credence.store.db import Store
from credence.store.reader import inputs_of
from credence.store.schema import OutboxMessage, ProcessRun

MAX_ROUNDS = 50
# Subjects read, written and committed together.
CHUNK = 500


@dataclass(frozen=True)
class RunSummary:
    """What a run changed, and how many subjects were due for each reason."""

    as_of: date
    subjects: int
    transitions: int
    delivered: int
    lapsed: int
    notified: int
    reasons: dict[str, int] = field(default_factory=dict)
    # Seconds per phase: plan (lapses and the agenda), read, visit (evaluate, decide,
    # deliver), write (the bulk inserts and updates, the audit entries), commit.
    timings: dict[str, float] = field(default_factory=dict)


def run(
    store: Store,
    policy: PolicySet,
    as_of: date,
    *,
    actor: str,
    sender: Sender,
    subjects: list[str] | None = None,
    everyone: bool = False,
    chunk: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> RunSummary:
    """Advance the due subjects (every subject with records with ``everyone``, or the given
    ones) to ``as_of``; with ``workers`` > 1 (PostgreSQL only), in that many processes."""
    if workers > 1 and store.is_sqlite:
        raise agenda.AgendaError(
            f"--workers {workers}: the embedded SQLite store has a single writer, so a run has "
            "one worker there (use a PostgreSQL store for parallel workers)"
        )
    started = datetime.now(UTC)
    timings = dict.fromkeys(("plan", "read", "visit", "write", "commit"), 0.0)
    clock = time.perf_counter()
    with store.session() as session:
        agenda.require_schema(session)
        workers_.lock_policy(session, policy.id)
        mark = agenda.mark_of(session, policy.id)
        agenda.check_day(policy.id, mark, as_of)
        store_policy(session, policy, started)
        lapsed = lapse_due(session, store.keys, as_of, actor=actor)
        session.commit()
        if subjects is not None:
            plan = agenda.named(session, subjects)
        elif everyone:
            plan = agenda.full(session)
        else:
            plan = agenda.due(session, policy, as_of, mark)
            for o in lapsed:
                plan.reasons.setdefault(o.subject_id, set()).add("objections")
        # What the next run reads as new starts here: the lapses above are this run's news.
        seen = agenda.watermarks(session, policy.id, as_of)
        ids = plan.subjects
        session.commit()
        timings["plan"] = time.perf_counter() - clock
        chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
        job = Job(
            store,
            policy,
            as_of,
            actor,
            sender,
            kernel.reach_of(compile_policy(policy)),
            plan.reasons,
        )
        if store.is_sqlite:
            # One writer: the run's session, one transaction per chunk.
            done: Iterable[Tally] = (job.chunk(session, part) for part in chunks)
        elif workers > 1 and len(chunks) > 1:
            done = workers_.spread(job, chunks, workers)
        else:
            done = workers_.serial(job, chunks)
        tally = Tally()
        for one in done:
            tally.add(one)
            if progress is not None:
                progress(tally.subjects, len(ids))
        for phase, seconds in tally.timings.items():
            timings[phase] += seconds
        transitions, delivered = tally.transitions, tally.delivered
        session.add(
            ProcessRun(
                policy_id=policy.id,
                as_of=as_of,
                actor=actor,
                started_at=started,
                finished_at=datetime.now(UTC),
                subjects=len(ids),
                transitions=transitions,
            )
        )
        if subjects is None:
            # A run of named subjects is no run of the policy: the others were not read.
            workers_.lock_policy(session, policy.id)
            agenda.save_mark(session, seen)
        chain.append(
            session,
            store.keys,
            actor=actor,
            action="process.run",
            detail={
                "policy": policy.id,
                "as_of": as_of.isoformat(),
                "subjects": len(ids),
                "transitions": transitions,
            },
        )
        session.commit()
    return RunSummary(
        as_of,
        len(ids),
        transitions,
        delivered,
        len(lapsed),
        tally.notified,
        plan.counts(),
        timings,
    )


@dataclass
class Tally:
    """What chunks changed, summed."""

    subjects: int = 0
    transitions: int = 0
    delivered: int = 0
    notified: int = 0
    timings: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("read", "visit", "write", "commit"), 0.0)
    )

    def add(self, other: Tally) -> None:
        """Add another tally to this one."""
        self.subjects += other.subjects
        self.transitions += other.transitions
        self.delivered += other.delivered
        self.notified += other.notified
        for phase, seconds in other.timings.items():
            self.timings[phase] += seconds


@dataclass
class Job:
    """What every chunk of a run needs."""

    store: Store
    policy: PolicySet
    as_of: date
    actor: str
    sender: Sender
    reach: kernel.Reach
    # Why each subject is visited (the agenda's reasons), logged with the chunk's read.
    why: dict[str, set[str]] = field(default_factory=dict)

    def chunk(self, session: Session, part: list[str], *, exclusive: bool = False) -> Tally:
        """Advance one chunk of subjects and commit it.

        A few set-based reads (logged as one group read: an access event per subject saying
        why it was visited, one chain entry for the chunk), the kernel's decisions in
        memory, one bulk write and one commit. ``exclusive`` (parallel workers on PostgreSQL)
        first takes a lock on each of the chunk's subjects, held to its commit, so that no two
        runs act on one subject at once, and commits the read log at once, so that the chain's
        lock is held only while a chunk's writes are committed."""
        out = Tally(subjects=len(part))
        t, clock = out.timings, time.perf_counter()
        if exclusive:
            workers_.lock_subjects(session, part)
        access = Access(self.actor, "operator", f"due process run for {self.as_of}")
        inputs = inputs_of(session, self.store.keys, part, None, access=access, why=self.why)
        if exclusive:
            session.commit()
        held = rows.load(session, self.policy.id, part)
        t["read"] += time.perf_counter() - clock
        clock = time.perf_counter()
        changes = kernel.Changes(self.policy, self.actor, datetime.now(UTC))
        days: dict[str, date | None] = {}
        for sid in part:
            sent, days[sid] = advance_subject(
                changes, self.sender, held[sid], self.as_of, inputs[sid].records, self.reach
            )
            out.delivered += sent
        t["visit"] += time.perf_counter() - clock
        clock = time.perf_counter()
        rows.write(session, self.store.keys, changes, held)
        rows.remember(session, self.policy.id, days)
        t["write"] += time.perf_counter() - clock
        clock = time.perf_counter()
        session.commit()
        if exclusive:
            workers_.unlock_subjects(session)
        t["commit"] += time.perf_counter() - clock
        out.transitions, out.notified = changes.transitions, len(changes.cascaded)
        return out


def advance_subject(
    changes: kernel.Changes,
    sender: Sender,
    subject: kernel.Subject,
    as_of: date,
    records: list[Record],
    reach: kernel.Reach | None = None,
) -> tuple[int, date | None]:
    """Evaluate, issue and deliver notices until none is left to deliver, then decide the
    story; return the messages delivered and the next day the subject can change by itself.

    A subject without notices, entries, measures or messages whose evaluation issues nothing
    has nothing to write or deliver either: it is only evaluated; and one whose records can
    never bring it anything, on any day (:func:`credence.process.kernel.may_issue`), is not
    even evaluated: nothing can change for it until something new is stored."""
    policy = changes.policy
    bare = not subject.has_rows()
    if bare and reach is not None and not kernel.may_issue(reach, (r.kind for r in records)):
        return 0, None
    decisions = kernel.decisions(subject)
    delivered = 0
    for _ in range(MAX_ROUNDS):
        assessment = evaluate(
            policy, records, as_of, as_of, subject_id=subject.subject_id, decisions=decisions
        )
        if bare and kernel.issues_nothing(assessment):
            return 0, agenda.next_day(policy, assessment, records, decisions, as_of)
        created = kernel.ensure_notices(changes, subject, assessment, as_of)
        sent = deliver(changes, sender, subject, as_of)
        delivered += sent
        if not created and not sent:
            break
        # A new notice or a service changes what the next round reads.
        decisions = kernel.decisions(subject)
    # Only now, with every notice due by the run's day delivered (or failed), is the story
    # final: deciding earlier would record states that a delivery was about to change.
    kernel.persist(changes, subject, assessment, as_of)
    delivered += deliver(changes, sender, subject, as_of)
    return delivered, agenda.next_day(policy, assessment, records, decisions, as_of)


def deliver(changes: kernel.Changes, sender: Sender, subject: kernel.Subject, day: date) -> int:
    """Hand the subject's messages due by ``day`` to the sender; return how many got through."""
    sent = 0
    for message in kernel.due_messages(subject, day):
        try:
            sender.send(OutboxMessage(id=message.id, **message.values))
        except DeliveryError as exc:
            kernel.failed(message, str(exc))
            continue
        kernel.delivered(subject, message, day, datetime.now(UTC))
        sent += 1
    return sent
