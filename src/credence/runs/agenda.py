"""The due agenda: which subjects a process run must visit, derived from what the store holds.

A subject's due process can change on a day only if something new was stored about it since the
last run for the policy, or if a day it already has in its story comes (a deadline, the end of a
listing or measure, the expiry of a record's points, a record that takes effect or becomes known,
a policy version that starts). The first kind is read from the store with watermarks kept per
policy (``process_marks``); the second is the ``next_day`` that each visit stores for the subject
(``process_agenda``), in the same transaction as what the visit persisted. The very first run for
a policy visits every subject with records, and so fills the agenda.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from credence.audit.tables import AccessEvent
from credence.engine.assessment import Assessment
from credence.engine.timeline import Decisions
from credence.errors import CredenceError
from credence.policy.compiled import compile_policy
from credence.policy.load import PolicySet
from credence.process import kernel
from credence.records import Record
from credence.states import MeasureStatus
from credence.store.schema import (
    AgendaDay,
    AgendaMark,
    IngestRun,
    ListEntry,
    MeasureRow,
    Notice,
    Objection,
    OutboxMessage,
    ProcessEvent,
    RecordStatus,
    StoredRecord,
)

# Why a subject is due, in the order the summary prints them.
REASONS = (
    "first-run",
    "records",
    "calendar",
    "outbox",
    "objections",
    "reviews",
    "queries",
    "named",
    "full",
)
OBJECTION = "objection"
# The statuses of a reviewer's decision in process_events (reviews.review_measure).
REVIEWED = ("approved", MeasureStatus.REFUSED.value)
RELYING_PARTY = "relying_party"
# Subjects per statement (well below SQLite's limit on bound parameters).
BATCH = 900


class AgendaError(CredenceError):
    """A run cannot be planned as asked (a day before the last run's day)."""


@dataclass
class Due:
    """The subjects a run visits, each with the reasons it is due."""

    reasons: dict[str, set[str]]

    @property
    def subjects(self) -> list[str]:
        """The due subjects in a stable order."""
        return sorted(self.reasons)

    def counts(self) -> dict[str, int]:
        """How many subjects are due for each reason (one subject may have several)."""
        c: Counter[str] = Counter(r for rs in self.reasons.values() for r in rs)
        return {r: c[r] for r in REASONS if c[r]}


def require_schema(session: Session) -> None:
    """Refuse a store whose schema predates the agenda, saying how to bring it up to date."""
    tables = set(inspect(session.connection()).get_table_names())
    missing = sorted({"process_agenda", "process_marks"} - tables)
    if missing:
        raise AgendaError(
            f"the store's schema is behind this version of credence (no table {missing[0]}): "
            "run `credence init` on it to apply the new migrations, then run again"
        )


def mark_of(session: Session, policy_id: str) -> AgendaMark | None:
    """The watermarks of the policy's last run, if any."""
    return session.get(AgendaMark, policy_id)


def check_day(policy_id: str, mark: AgendaMark | None, as_of: date) -> None:
    """Refuse a day before the last run's day (the story is already told up to that day)."""
    if mark is not None and as_of < mark.as_of:
        raise AgendaError(
            f"--as-of {as_of} is before {mark.as_of}, the day the last process run for policy "
            f"{policy_id} advanced to: runs only go forward (nothing was changed)"
        )


def with_records(session: Session) -> list[str]:
    """Every subject with records (what ``--full`` visits)."""
    return list(
        session.scalars(
            select(StoredRecord.subject_id).distinct().order_by(StoredRecord.subject_id)
        )
    )


def named(session: Session, subjects: Iterable[str]) -> Due:
    """The subjects a caller named (``--subjects FILE``)."""
    return Due({s: {"named"} for s in subjects})


def full(session: Session) -> Due:
    """Every subject with records."""
    return Due({s: {"full"} for s in with_records(session)})


def due(session: Session, policy: PolicySet, as_of: date, mark: AgendaMark | None) -> Due:
    """The subjects with something that can change on or before ``as_of`` since the last run."""
    if mark is None:
        return first_run(session, policy, as_of)
    reasons: dict[str, set[str]] = defaultdict(set)

    def add(reason: str, subjects: Iterable[str]) -> None:
        for s in subjects:
            reasons[s].add(reason)

    # No DISTINCT: with it SQLite scans every record by subject instead of the new ones by run.
    add(
        "records",
        session.scalars(
            select(StoredRecord.subject_id).where(StoredRecord.ingest_run_id > mark.ingest_id)
        ),
    )
    outside = select(StoredRecord.subject_id).distinct().where(StoredRecord.ingest_run_id.is_(None))
    if mark.record_at is not None:
        # ">=": a record stored at the very instant of the mark may have come after the run.
        outside = outside.where(StoredRecord.ingested_at >= mark.record_at)
    add("records", session.scalars(outside))
    add(
        "records",
        session.scalars(
            select(StoredRecord.subject_id)
            .distinct()
            .join(RecordStatus, RecordStatus.record_id == StoredRecord.record_id)
            .where(RecordStatus.id > mark.status_id)
        ),
    )
    add(
        "calendar",
        session.scalars(
            select(AgendaDay.subject_id).where(
                AgendaDay.policy_id == policy.id, AgendaDay.next_day <= as_of
            )
        ),
    )
    add(
        "outbox",
        session.scalars(
            select(OutboxMessage.subject_id)
            .distinct()
            .where(
                OutboxMessage.status.in_(("queued", "failed")), OutboxMessage.deliver_on <= as_of
            )
        ),
    )
    add(
        "objections",
        session.scalars(
            select(Objection.subject_id)
            .distinct()
            .join(ProcessEvent, ProcessEvent.object_id == Objection.id)
            .where(ProcessEvent.object_type == OBJECTION, ProcessEvent.id > mark.event_id)
        ),
    )
    add(
        "reviews",
        session.scalars(
            select(MeasureRow.subject_id)
            .distinct()
            .join(ProcessEvent, ProcessEvent.object_id == MeasureRow.id)
            .where(
                ProcessEvent.object_type == "measure",
                ProcessEvent.status.in_(REVIEWED),
                ProcessEvent.id > mark.event_id,
            )
        ),
    )
    # A relying party that queried a subject is told of a rescission within 90 days of it.
    add(
        "queries",
        session.scalars(
            select(AccessEvent.subject_id)
            .distinct()
            .where(AccessEvent.role == RELYING_PARTY, AccessEvent.id > mark.access_id)
        ),
    )
    # Only subjects with records are visited (a relying party may query anyone); asked of the
    # candidates alone, so that a quiet night does not read every subject's id.
    candidates = sorted(reasons)
    known: set[str] = set()
    for start in range(0, len(candidates), BATCH):
        part = candidates[start : start + BATCH]
        known.update(
            session.scalars(
                select(StoredRecord.subject_id).distinct().where(StoredRecord.subject_id.in_(part))
            )
        )
    return Due({s: r for s, r in reasons.items() if s in known})


def first_run(session: Session, policy: PolicySet, as_of: date) -> Due:
    """The first run for a policy visits the subjects with records whose kinds may bring them
    a notice, a listing or a measure on some day (:func:`credence.process.kernel.may_issue`,
    asked of every subject's count of records per kind, read in one GROUP BY), and those that
    already have rows (notices, entries or measures of the policy, or messages).

    A visit of any other subject would change nothing and record no day to come back on
    (``advance_subject`` returns at once for it), so ``--full`` ends in the same state. The
    batch plan offers no narrower sound flag: its replay flag is the same worst-case bound, and
    whether a stage or list was reached on a past day is known only by the timeline's replay.
    """
    reach = kernel.reach_of(compile_policy(policy))
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    counted = select(StoredRecord.subject_id, StoredRecord.kind, func.count()).group_by(
        StoredRecord.subject_id, StoredRecord.kind
    )
    for sid, kind, n in session.execute(counted):
        kinds[sid][kind] = n
    # Most subjects share a handful of kind counts ({minor: 1}, ...): the bound once for each.
    bound: dict[tuple[tuple[str, int], ...], bool] = {}
    due: set[str] = set()
    for sid, counts in kinds.items():
        key = tuple(sorted(counts.items()))
        if key not in bound:
            bound[key] = kernel.may_issue(reach, counts.elements())
        if bound[key]:
            due.add(sid)
    held: set[str] = set(session.scalars(select(OutboxMessage.subject_id).distinct()))
    for table in (Notice, ListEntry, MeasureRow):
        held.update(
            session.scalars(select(table.subject_id).distinct().where(table.policy_id == policy.id))
        )
    due.update(s for s in held if s in kinds)
    return Due({s: {"first-run"} for s in sorted(due)})


def next_day(
    policy: PolicySet,
    assessment: Assessment,
    records: Iterable[Record],
    decisions: Decisions,
    as_of: date,
) -> date | None:
    """The first day after ``as_of`` on which the subject's evaluation can change by itself.

    Every day the story names (deadlines, ends, expiries), every day of the subject's records
    (occurrence, effect, recording, status changes), every known service or approval day and
    every policy version start: between two of these days nothing an evaluation reads moves.
    """
    days: set[date] = set()
    _dates(assessment, days)
    for r in records:
        days.update((r.occurred_on, r.effective_on, _day(r.recorded_at)))
        days.update(_day(h.at) for h in r.history)
    days.update(d for d in decisions.served.values() if d is not None)
    days.update(decisions.approved.values())
    days.update(v.effective_from for v in policy.versions)
    after = [d for d in days if d > as_of]
    return min(after) if after else None


def _day(moment: datetime | date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def _dates(value: Any, out: set[date]) -> None:
    """Every date inside an assessment (dataclasses, tuples, lists, dicts)."""
    if isinstance(value, datetime):
        out.add(value.date())
    elif isinstance(value, date):
        out.add(value)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            _dates(getattr(value, f.name), out)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _dates(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _dates(v, out)


def watermarks(session: Session, policy_id: str, as_of: date) -> AgendaMark:
    """The store's high-water marks now, as the mark of a run that read up to here."""
    return AgendaMark(
        policy_id=policy_id,
        as_of=as_of,
        ingest_id=_ingest_mark(session),
        record_at=session.scalar(
            select(func.max(StoredRecord.ingested_at)).where(StoredRecord.ingest_run_id.is_(None))
        ),
        status_id=session.scalar(select(func.max(RecordStatus.id))) or 0,
        event_id=session.scalar(select(func.max(ProcessEvent.id))) or 0,
        access_id=session.scalar(select(func.max(AccessEvent.id))) or 0,
    )


def _ingest_mark(session: Session) -> int:
    """The last ingest run all of whose records are stored: before the first one still going."""
    going = session.scalar(select(func.min(IngestRun.id)).where(IngestRun.finished_at.is_(None)))
    if going is not None:
        return int(going) - 1
    return int(session.scalar(select(func.max(IngestRun.id))) or 0)


def save_mark(session: Session, mark: AgendaMark) -> None:
    """Replace the policy's mark with ``mark``."""
    old = session.get(AgendaMark, mark.policy_id)
    if old is None:
        session.add(mark)
        return
    old.as_of = mark.as_of
    old.ingest_id = mark.ingest_id
    old.record_at = mark.record_at
    old.status_id = mark.status_id
    old.event_id = mark.event_id
    old.access_id = mark.access_id
