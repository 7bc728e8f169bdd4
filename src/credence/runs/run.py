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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select

from credence.audit import chain
from credence.audit.access import Access
from credence.engine.reference import evaluate
from credence.ingest.run import store_policy
from credence.policy.load import PolicySet
from credence.runs import agenda
from credence.runs.objections import lapse_due
from credence.runs.outbox import Sender, deliver_due
from credence.runs.state import Context, decisions_of, ensure_notices, persist
from credence.store.db import Store
from credence.store.reader import SubjectInputs, inputs_of
from credence.store.schema import Notice, OutboxMessage, ProcessRun

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
    # Seconds per phase: plan (lapses and the agenda), read, visit (evaluate, persist,
    # deliver), commit.
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
) -> RunSummary:
    """Advance the due subjects (every subject with records with ``everyone``, or the given
    ones) to ``as_of``."""
    started = datetime.now(UTC)
    timings = dict.fromkeys(("plan", "read", "visit", "commit"), 0.0)
    clock = time.perf_counter()
    with store.session() as session:
        agenda.require_schema(session)
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
        ctx = Context(session, store.keys, policy, actor)
        access = Access(actor, "operator", f"due process run for {as_of}")
        delivered = 0
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            # One set-based read (and one logged write of the reads) for the chunk's records,
            # service dates and approvals; one commit for everything the chunk changed.
            clock = time.perf_counter()
            inputs = inputs_of(session, store.keys, part, None, access=access, policy_id=policy.id)
            busy = agenda.with_rows(session, policy.id, part)
            timings["read"] += time.perf_counter() - clock
            clock = time.perf_counter()
            for sid in part:
                sent, day = advance_subject(ctx, sender, sid, as_of, inputs[sid], sid in busy)
                delivered += sent
                agenda.remember(session, policy.id, sid, day)
            timings["visit"] += time.perf_counter() - clock
            clock = time.perf_counter()
            session.commit()
            timings["commit"] += time.perf_counter() - clock
            if progress is not None:
                progress(start + len(part), len(ids))
        session.add(
            ProcessRun(
                policy_id=policy.id,
                as_of=as_of,
                actor=actor,
                started_at=started,
                finished_at=datetime.now(UTC),
                subjects=len(ids),
                transitions=ctx.transitions,
            )
        )
        if subjects is None:
            # A run of named subjects is no run of the policy: the others were not read.
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
                "transitions": ctx.transitions,
            },
        )
        session.commit()
    return RunSummary(
        as_of,
        len(ids),
        ctx.transitions,
        delivered,
        len(lapsed),
        len(ctx.cascaded),
        plan.counts(),
        timings,
    )


def advance_subject(
    ctx: Context,
    sender: Sender,
    subject_id: str,
    as_of: date,
    inputs: SubjectInputs,
    has_rows: bool = True,
) -> tuple[int, date | None]:
    """Evaluate, issue and deliver notices until none is left to deliver, then persist;
    return the messages delivered and the next day the subject can change by itself.

    ``has_rows`` False says the subject has no notice, entry, measure or message yet: then an
    evaluation that issues nothing has nothing to write or deliver either."""
    records, decisions = inputs.records, inputs.decisions
    delivered = 0
    for _ in range(MAX_ROUNDS):
        assessment = evaluate(
            ctx.policy, records, as_of, as_of, subject_id=subject_id, decisions=decisions
        )
        if not has_rows and agenda.issues_nothing(assessment):
            return 0, agenda.next_day(ctx.policy, assessment, records, decisions, as_of)
        created = ensure_notices(ctx, subject_id, assessment, as_of)
        sent = deliver_due(ctx.session, sender, as_of, subject_id=subject_id)
        for message in sent:
            _mark_served(ctx, message)
        delivered += len(sent)
        if not created and not sent:
            break
        # A new notice or a service changes what the next round reads.
        decisions = decisions_of(ctx.session, subject_id, ctx.policy.id)
    # Only now, with every notice due by the run's day delivered (or failed), is the story
    # final: persisting earlier would record states that a delivery was about to change.
    persist(ctx, subject_id, assessment, as_of)
    delivered += sum(1 for m in deliver_due(ctx.session, sender, as_of, subject_id=subject_id))
    return delivered, agenda.next_day(ctx.policy, assessment, records, decisions, as_of)


def _mark_served(ctx: Context, message: OutboxMessage) -> None:
    if message.kind != "notice":
        return
    _, policy_id, subject_id, key = message.ref.split(":", 3)
    notice = ctx.session.scalar(
        select(Notice).where(
            Notice.subject_id == subject_id, Notice.policy_id == policy_id, Notice.ref == key
        )
    )
    if notice is not None:
        notice.served_on = message.served_on
        ctx.session.flush()
