"""Persisting what the evaluator decided: notices, listings and measures with their history.

The evaluator replays a subject's timeline and says, for every notice, listing and measure,
which states it went through and on which day. This module turns that into rows and
``process_events`` (one per transition, dated by the day it happened, so that catching up
after a gap writes exactly what daily runs would have written), and logs each transition in
the audit chain. Objects that a recomputation no longer produces are withdrawn, removed or
rescinded: that is the correction cascade.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.dates import Duration
from credence.engine.assessment import Assessment, ListingState, MeasureState, NoticeState
from credence.engine.timeline import Decisions
from credence.policy.load import PolicySet
from credence.process import content
from credence.runs.outbox import enqueue
from credence.states import (
    LISTING_ENDS,
    MEASURE_ENDS,
    MEASURE_OPEN,
    NOTICE_ENDS,
    ListingOutcome,
    ListingStatus,
    MeasureStatus,
    NoticeStatus,
)
from credence.store.keys import Keys
from credence.store.schema import AccessEvent, ListEntry, MeasureRow, Notice, ProcessEvent

Path = list[tuple[NoticeStatus | ListingStatus | MeasureStatus, date]]
NOTIFY_WINDOW = timedelta(days=90)


def midnight(day: date) -> datetime:
    """The first instant of a day (UTC): the time stamp of a transition on that day."""
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass
class Context:
    """What every persistence step needs: the session, keys, policy and who acts."""

    session: Session
    keys: Keys
    policy: PolicySet
    actor: str
    transitions: int = 0
    cascaded: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def decisions_of(session: Session, subject_id: str, policy_id: str) -> Decisions:
    """Service dates and sign-offs on record, for the evaluator.

    Every notice the due-process layer issued has a row, so a notice without one was never
    served: nothing is assumed.
    """
    served: dict[str, date | None] = {}
    for n in session.scalars(
        select(Notice).where(Notice.subject_id == subject_id, Notice.policy_id == policy_id)
    ):
        served[n.ref] = n.served_on
    approved: dict[str, date] = {}
    for m in session.scalars(
        select(MeasureRow).where(
            MeasureRow.subject_id == subject_id, MeasureRow.policy_id == policy_id
        )
    ):
        review = json.loads(m.body).get("review")
        if m.ref and review and review.get("decision") == "approved":
            approved[m.ref] = date.fromisoformat(review["on"])
    return Decisions(served=served, approved=approved, assume_service=False)


def _history(session: Session, object_type: str, object_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ProcessEvent.status)
            .where(ProcessEvent.object_type == object_type, ProcessEvent.object_id == object_id)
            .order_by(ProcessEvent.id)
        )
    )


def _advance(
    ctx: Context,
    object_type: str,
    row: Notice | ListEntry | MeasureRow,
    subject_id: str,
    path: Path,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append the transitions of ``path`` that the row's history does not have yet."""
    seen = _history(ctx.session, object_type, row.id)
    done = 0
    while done < len(seen) and done < len(path) and seen[done] == path[done][0]:
        done += 1
    if done < len(seen):
        # The recomputed path differs from what was recorded (a correction changed the
        # story): record only the new final state on top of the recorded history.
        if seen[-1] == path[-1][0]:
            return
        path = [path[-1]]
        done = 0
    for status, on in path[done:]:
        ctx.session.add(
            ProcessEvent(
                object_type=object_type,
                object_id=row.id,
                status=status,
                at=midnight(on),
                actor=ctx.actor,
                detail=json.dumps(detail or {}, sort_keys=True, default=str),
            )
        )
        chain.append(
            ctx.session,
            ctx.keys,
            actor=ctx.actor,
            action=f"process.{object_type}.{status}",
            subject_id=subject_id,
            detail={"ref": row.ref, "on": on.isoformat(), **(detail or {})},
        )
        row.status = status
        ctx.transitions += 1
    ctx.session.flush()


def _notice_path(n: NoticeState) -> Path:
    path: Path = [(NoticeStatus.ISSUED, n.issued_on)]
    if n.served_on is not None:
        path.append((NoticeStatus.SERVED, n.served_on))
    if n.status in (NoticeStatus.COMPLIED, NoticeStatus.WITHDRAWN):
        path.append((n.status, n.closed_on or n.issued_on))
    elif n.status == NoticeStatus.EXPIRED:
        path.append((NoticeStatus.EXPIRED, n.deadline or n.issued_on))
    return path


def _listing_notice_path(e: ListingState) -> Path:
    assert e.noticed_on is not None
    path: Path = [(NoticeStatus.ISSUED, e.noticed_on)]
    if e.served_on is not None:
        path.append((NoticeStatus.SERVED, e.served_on))
    if e.listed_on is not None:
        path.append((NoticeStatus.EXPIRED, e.listed_on))
    elif e.status == ListingStatus.WITHDRAWN:
        ended = e.removed_on or e.noticed_on
        complied = e.outcome == ListingOutcome.RECTIFIED
        path.append((NoticeStatus.COMPLIED if complied else NoticeStatus.WITHDRAWN, ended))
    return path


def _listing_path(e: ListingState) -> Path:
    start = e.noticed_on or e.listed_on
    assert start is not None
    path: Path = []
    if e.noticed_on is not None:
        path.append((ListingStatus.PENDING_NOTICE, e.noticed_on))
    if e.listed_on is not None:
        path.append((ListingStatus.LISTED, e.listed_on))
    if e.status in LISTING_ENDS:
        path.append((e.status, e.removed_on or start))
    return path


def _measure_path(m: MeasureState) -> Path:
    path: Path = [(MeasureStatus.PROPOSED, m.due_on)]
    if m.human_review:
        path.append((MeasureStatus.AWAITING_REVIEW, m.due_on))
    if m.in_force_from is not None:
        path.append((MeasureStatus.IN_FORCE, m.in_force_from))
    if m.status in MEASURE_ENDS:
        path.append((m.status, m.until or m.due_on))
    return path


def _notice_rows(
    ctx: Context, subject_id: str, a: Assessment, day: date
) -> list[tuple[Notice, date | None, Path]]:
    """The row of every notice the evaluation issues (created and queued when new), with the
    notice's deadline and path; a notice's text is written only when its row is created."""
    version = ctx.policy.version_at(day)
    assert version is not None
    lag = version.stages.service_lag if version.stages else None
    out: list[tuple[Notice, date | None, Path]] = []
    for n in a.stages.notices if a.stages else ():
        row = _notice_row(
            ctx,
            subject_id,
            a,
            "stage",
            n.key,
            n.issued_on,
            lag,
            partial(content.stage_notice, a, version, n.stage, n.deadline),
        )
        out.append((row, n.deadline, _notice_path(n)))
    for e in a.listings:
        if e.noticed_on is not None:
            row = _notice_row(
                ctx,
                subject_id,
                a,
                "list",
                e.key,
                e.noticed_on,
                lag,
                partial(content.list_notice, a, version, e.list_id, e.deadline),
            )
            out.append((row, e.deadline, _listing_notice_path(e)))
    return out


def ensure_notices(ctx: Context, subject_id: str, a: Assessment, day: date) -> int:
    """Create (and queue) every notice the evaluation issues that has no row yet."""
    before = len(ctx.created)
    _notice_rows(ctx, subject_id, a, day)
    return len(ctx.created) - before


def persist(ctx: Context, subject_id: str, a: Assessment, day: date) -> None:
    """Write the assessment's notices, listings and measures; cascade what no longer holds."""
    seen_notices: set[str] = set()
    seen_entries: set[str] = set()
    seen_measures: set[str] = set()
    for row, deadline, steps in _notice_rows(ctx, subject_id, a, day):
        seen_notices.add(row.ref)
        row.deadline = deadline
        _advance(ctx, "notice", row, subject_id, steps)
    for m in a.stages.measures if a.stages else ():
        seen_measures.add(m.key)
        mrow = _measure_row(ctx, subject_id, m.key, m.measure, m.in_force_from, m.until)
        if mrow.status == MeasureStatus.REFUSED:
            continue
        _advance(ctx, "measure", mrow, subject_id, _measure_path(m))
        if m.status == MeasureStatus.RESCINDED:
            _notify_relying(ctx, subject_id, "measure", m.key, m.status, m.until or day, day)
    for e in a.listings:
        seen_entries.add(e.key)
        entry = _entry_row(ctx, subject_id, e)
        detail: dict[str, Any] = {"reason": e.reason}
        if e.outcome is not None:
            detail["outcome"] = e.outcome
        _advance(ctx, "list_entry", entry, subject_id, _listing_path(e), detail)
        if e.status == ListingStatus.REMOVED and e.outcome is not None and e.outcome.rescinds:
            undone = [lm.measure for lm in e.measures if lm.status == MeasureStatus.RESCINDED]
            ended = e.removed_on or day
            _notify_relying(
                ctx, subject_id, "listing", e.key, e.status, ended, day, e.outcome, undone
            )
        for lm in e.measures:
            key = f"{e.key}#{lm.measure}"
            seen_measures.add(key)
            mrow = _measure_row(ctx, subject_id, key, lm.measure, lm.in_force_from, lm.until)
            if mrow.status == MeasureStatus.REFUSED:
                continue
            path: Path = []
            if lm.human_review:
                path.append((MeasureStatus.AWAITING_REVIEW, e.listed_on or day))
            if lm.in_force_from is not None:
                path.append((MeasureStatus.IN_FORCE, lm.in_force_from))
            if lm.status in MEASURE_ENDS and lm.until is not None:
                path.append((lm.status, lm.until))
            if path:
                _advance(ctx, "measure", mrow, subject_id, path)
    _cascade(ctx, subject_id, day, seen_notices, seen_entries, seen_measures)


def _notice_row(
    ctx: Context,
    subject_id: str,
    a: Assessment,
    about: str,
    key: str,
    issued_on: date,
    lag: Duration | None,
    text: Callable[[], dict[str, Any]],
) -> Notice:
    row = ctx.session.scalar(
        select(Notice).where(
            Notice.subject_id == subject_id, Notice.policy_id == a.policy_id, Notice.ref == key
        )
    )
    if row is not None:
        return row
    body = text()
    row = Notice(
        subject_id=subject_id,
        policy_id=a.policy_id,
        policy_version=a.policy_version,
        about=about,
        ref=key,
        status=NoticeStatus.DUE,
        issued_on=issued_on,
        served_on=None,
        body=json.dumps(body, sort_keys=True),
        created_at=midnight(issued_on),
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.created.append(key)
    deliver_on = lag.after(issued_on) if lag is not None else issued_on
    enqueue(
        ctx.session,
        subject_id=subject_id,
        kind="notice",
        ref=f"notice:{a.policy_id}:{subject_id}:{key}",
        recipient=f"subject:{subject_id}",
        deliver_on=deliver_on,
        body=body,
        now=midnight(issued_on),
    )
    return row


def _entry_row(ctx: Context, subject_id: str, e: ListingState) -> ListEntry:
    row = ctx.session.scalar(
        select(ListEntry).where(
            ListEntry.subject_id == subject_id,
            ListEntry.policy_id == ctx.policy.id,
            ListEntry.ref == e.key,
        )
    )
    if row is None:
        row = ListEntry(
            subject_id=subject_id,
            policy_id=ctx.policy.id,
            list_id=e.list_id,
            ref=e.key,
            status=ListingStatus.PENDING_NOTICE,
            created_at=midnight(e.noticed_on or e.listed_on or date.today()),
        )
        ctx.session.add(row)
        ctx.session.flush()
    row.entered_on = e.listed_on
    row.exited_on = e.removed_on
    row.body = json.dumps(
        {
            "type": e.type,
            "deadline": e.deadline,
            "until": e.until,
            "reason": e.reason,
            "outcome": e.outcome,
            "evidence": list(e.evidence),
        },
        sort_keys=True,
        default=str,
    )
    return row


def _measure_row(
    ctx: Context,
    subject_id: str,
    key: str,
    measure_id: str,
    start: date | None,
    until: date | None,
) -> MeasureRow:
    row = ctx.session.scalar(
        select(MeasureRow).where(
            MeasureRow.subject_id == subject_id,
            MeasureRow.policy_id == ctx.policy.id,
            MeasureRow.ref == key,
        )
    )
    if row is None:
        row = MeasureRow(
            subject_id=subject_id,
            policy_id=ctx.policy.id,
            measure_id=measure_id,
            ref=key,
            status=MeasureStatus.PROPOSED,
            body="{}",
            created_at=midnight(start or date.today()),
        )
        ctx.session.add(row)
        ctx.session.flush()
    row.in_force_from = start
    row.until = until
    return row


def _cascade(
    ctx: Context,
    subject_id: str,
    day: date,
    notices: set[str],
    entries: set[str],
    measures: set[str],
) -> None:
    """Withdraw, remove or rescind what a recomputation no longer produces."""
    pid = ctx.policy.id
    removed: dict[str, list[str]] = {}  # listing ref -> its measures rescinded with it
    for n in ctx.session.scalars(
        select(Notice).where(Notice.subject_id == subject_id, Notice.policy_id == pid)
    ):
        if n.ref not in notices and n.status not in NOTICE_ENDS:
            end: Path = [(NoticeStatus.WITHDRAWN, day)]
            _advance(ctx, "notice", n, subject_id, end, {"reason": "recomputed"})
    for e in ctx.session.scalars(
        select(ListEntry).where(ListEntry.subject_id == subject_id, ListEntry.policy_id == pid)
    ):
        if e.ref not in entries and e.status not in LISTING_ENDS:
            was_listed = e.status == ListingStatus.LISTED
            final = ListingStatus.REMOVED if was_listed else ListingStatus.WITHDRAWN
            outcome = ListingOutcome.RECOMPUTED
            detail = {"reason": "recomputed", "outcome": outcome}
            _advance(ctx, "list_entry", e, subject_id, [(final, day)], detail)
            e.exited_on = day
            e.body = json.dumps({**json.loads(e.body or "{}"), "outcome": outcome}, sort_keys=True)
            if was_listed:
                removed[e.ref or ""] = []
    for m in ctx.session.scalars(
        select(MeasureRow).where(MeasureRow.subject_id == subject_id, MeasureRow.policy_id == pid)
    ):
        if m.ref not in measures and m.status in MEASURE_OPEN:
            in_force = m.status == MeasureStatus.IN_FORCE
            gone = MeasureStatus.RESCINDED if in_force else MeasureStatus.WITHDRAWN
            _advance(ctx, "measure", m, subject_id, [(gone, day)], {"reason": "recomputed"})
            m.until = day
            listing = (m.ref or "").partition("#")[0]
            if in_force and listing in removed:
                removed[listing].append(m.measure_id)
            elif in_force:
                _notify_relying(ctx, subject_id, "measure", m.ref or "", gone, day, day)
    for ref, undone in removed.items():
        gone_listing, why = ListingStatus.REMOVED, ListingOutcome.RECOMPUTED
        _notify_relying(ctx, subject_id, "listing", ref, gone_listing, day, day, why, undone)


def _notify_relying(
    ctx: Context,
    subject_id: str,
    what: str,
    ref: str,
    change: ListingStatus | MeasureStatus,
    on: date,
    day: date,
    outcome: ListingOutcome | None = None,
    measures: list[str] | None = None,
) -> None:
    """Tell every relying party that queried the subject in the 90 days up to ``on`` that a
    listing (with the ``measures`` it carried) or a measure was undone by a correction, once
    per party and object: the outbox reference is the key."""
    since = midnight(on) - NOTIFY_WINDOW
    parties = sorted(
        set(
            ctx.session.scalars(
                select(AccessEvent.actor).where(
                    AccessEvent.subject_id == subject_id,
                    AccessEvent.role == "relying_party",
                    AccessEvent.at >= since,
                    AccessEvent.at < midnight(on + timedelta(days=1)),
                )
            )
        )
    )
    body: dict[str, Any] = {"about": f"{what} {ref}", "change": str(change), "on": on.isoformat()}
    if outcome is not None:
        body["outcome"] = str(outcome)
    if measures is not None:
        body["measures"] = sorted(measures)
    body["message"] = (
        "A decision about this subject that you may have relied on was "
        "rescinded after a correction; please disregard it."
    )
    for party in parties:
        queued = enqueue(
            ctx.session,
            subject_id=subject_id,
            kind="notification",
            ref=f"notify:{ctx.policy.id}:{subject_id}:{what}:{ref}:{party}",
            recipient=f"relying_party:{party}",
            deliver_on=day,
            body=body,
            now=midnight(day),
        )
        if queued is not None:
            ctx.cascaded.append(party)
