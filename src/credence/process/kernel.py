"""The due-process kernel: from an evaluation and a subject's rows, the transitions to make.

The evaluator replays a subject's timeline and says, for every notice, listing and measure,
which states it went through and on which day. The kernel turns that into row values and
transitions (one per state change, dated by the day it happened, so that catching up after a
gap writes exactly what daily runs would have written), each with its audit entry. Objects that
a recomputation no longer produces are withdrawn, removed or rescinded: that is the correction
cascade. It works on plain values (:class:`Row`, :class:`Subject`) and does no I/O: the run
(:mod:`credence.runs.run`) reads a chunk's rows, asks the kernel, delivers, and writes what the
kernel changed in bulk.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from credence.dates import Duration
from credence.engine.assessment import Assessment, ListingState, MeasureState, NoticeState
from credence.engine.timeline import Decisions
from credence.policy.compiled import CompiledPolicy
from credence.policy.load import PolicySet
from credence.process import content
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

Path = list[tuple[NoticeStatus | ListingStatus | MeasureStatus, date]]
NOTIFY_WINDOW = timedelta(days=90)
RELYING_PARTY = "relying_party"
# Kinds of rows, as process_events.object_type names them (and "outbox" for messages).
NOTICE, ENTRY, MEASURE, OUTBOX = "notice", "list_entry", "measure", "outbox"
OPEN_MESSAGE = ("queued", "failed")


def midnight(day: date) -> datetime:
    """The first instant of a day (UTC): the time stamp of a transition on that day."""
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass
class Row:
    """A notice, list entry, measure or outbox message: its column values (without the id),
    its row id once stored, and the statuses of its process events so far."""

    kind: str
    values: dict[str, Any]
    id: int | None = None
    history: list[str] = field(default_factory=list)
    # Columns as read (None for a row the run creates): what differs is written back.
    stored: dict[str, Any] | None = None
    # The order of creation among the run's new rows (messages are delivered in it).
    order: int = 0

    @property
    def ref(self) -> str:
        """The row's key among the subject's rows of its kind."""
        return str(self.values["ref"])

    @property
    def status(self) -> str:
        """The row's current status."""
        return str(self.values["status"])

    def changed(self) -> dict[str, Any]:
        """The columns whose values differ from those read."""
        if self.stored is None:
            return dict(self.values)
        return {k: v for k, v in self.values.items() if self.stored.get(k) != v}


@dataclass
class Query:
    """A relying party's query of a subject (only who and when matter here)."""

    actor: str
    at: datetime


@dataclass
class Subject:
    """What the kernel knows of one subject under one policy: its rows by ref, and the
    relying parties' queries of it."""

    subject_id: str
    notices: dict[str, Row] = field(default_factory=dict)
    entries: dict[str, Row] = field(default_factory=dict)
    measures: dict[str, Row] = field(default_factory=dict)
    outbox: dict[str, Row] = field(default_factory=dict)
    queries: list[Query] = field(default_factory=list)

    def rows(self) -> Iterator[Row]:
        """Every row, of every kind."""
        for table in (self.notices, self.entries, self.measures, self.outbox):
            yield from table.values()

    def of(self, kind: str) -> dict[str, Row]:
        """The subject's rows of ``kind`` by ref."""
        return {
            NOTICE: self.notices,
            ENTRY: self.entries,
            MEASURE: self.measures,
            OUTBOX: self.outbox,
        }[kind]

    def has_rows(self) -> bool:
        """True when the subject has any notice, entry, measure or message."""
        return bool(self.notices or self.entries or self.measures or self.outbox)


@dataclass(frozen=True)
class Event:
    """One transition: a process event of ``row`` and its audit entry."""

    row: Row
    status: str
    at: datetime
    detail: str
    action: str
    subject_id: str
    audit: dict[str, Any]


@dataclass
class Changes:
    """What the kernel decided for a chunk of subjects, in order: the run writes it."""

    policy: PolicySet
    actor: str
    now: datetime
    events: list[Event] = field(default_factory=list)
    new_rows: list[Row] = field(default_factory=list)
    cascaded: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    @property
    def transitions(self) -> int:
        """How many transitions were decided."""
        return len(self.events)

    def add(self, subject: Subject, row: Row) -> None:
        """Add a new row to the subject's rows of its kind."""
        row.order = len(self.new_rows) + 1
        self.new_rows.append(row)
        subject.of(row.kind)[row.ref] = row


def decisions(subject: Subject) -> Decisions:
    """Service dates and sign-offs on record, for the evaluator.

    Every notice the due-process layer issued has a row, so a notice without one was never
    served: nothing is assumed.
    """
    served = {n.ref: n.values["served_on"] for n in subject.notices.values()}
    approved: dict[str, date] = {}
    for m in subject.measures.values():
        review = json.loads(m.values["body"]).get("review")
        if m.values["ref"] and review and review.get("decision") == "approved":
            approved[m.ref] = date.fromisoformat(review["on"])
    return Decisions(served=served, approved=approved, assume_service=False)


def issues_nothing(a: Assessment) -> bool:
    """True when an evaluation has no notice, measure or listing in its story."""
    return not a.listings and (a.stages is None or not (a.stages.notices or a.stages.measures))


@dataclass(frozen=True)
class Reach:
    """What :func:`may_issue` needs of a compiled policy, computed once per run: for each kind
    of record, the range of values one record of it can add to each category under any
    version (0 included)."""

    policy: CompiledPolicy
    ranges: dict[str, dict[str, tuple[int, int]]]
    unbounded: frozenset[str] = frozenset()


def reach_of(policy: CompiledPolicy) -> Reach:
    """The value ranges of every kind of record under ``policy`` (kinds that some version
    values per unit without a cap have none: ``unbounded``)."""
    ranges: dict[str, dict[str, tuple[int, int]]] = {}
    unbounded: set[str] = set()
    for v in policy.versions:
        for kind, rule in v.rules.items():
            if rule.unbounded:
                unbounded.add(kind)
            values = (0, *rule.point_values)
            lo, hi = ranges.setdefault(kind, {}).get(rule.category, (0, 0))
            ranges[kind][rule.category] = (min(lo, *values), max(hi, *values))
    return Reach(policy, ranges, frozenset(unbounded))


def may_issue(reach: Reach, kinds: Iterable[str]) -> bool:
    """False only when no evaluation of a subject with records of ``kinds`` (one per record),
    on any day, under any version, can issue a notice, list it or take a measure.

    Each record moves a category's total by one of its rule's values under some version, or
    not at all (it has not counted yet, expired, is void, gave way to a milder rule, another
    record of its act counted instead, or, a credit, it was refused), so every day's total of a
    category lies between the sums of each record's most favourable and most unfavourable
    values there (0 included); the levels, the combination and the scale's bounds are
    monotone, so every day's score lies between the scores of those totals. A subject whose
    score range meets no rung, no listed grade or score bound, and who has no record of a kind
    a list enters on, has nothing to be told.
    """
    counts = Counter(kinds)
    if reach.unbounded & counts.keys():
        return True  # one record of such a kind can move a total by any multiple of its points
    for v in reach.policy.versions:
        low: dict[str, int] = dict.fromkeys(v.categories, 0)
        high: dict[str, int] = dict.fromkeys(v.categories, 0)
        for kind, n in counts.items():
            for category, (lo, hi) in reach.ranges.get(kind, {}).items():
                if category not in low:
                    return True  # how this version counts another's category is not bounded
                low[category] += n * lo
                high[category] += n * hi
        scores = [
            v.bounded(v.combine({c.id: c.level(t[c.id], v.weighted) for c in v.caps}))
            for t in (low, high)
        ]
        worst, best = min(scores), max(scores)
        if v.stages is not None and any(
            v.reaches(worst, r.threshold) or v.reaches(best, r.threshold) for r in v.stages.ladder
        ):
            return True
        for listed in v.lists:
            entry = listed.entry
            if entry.record_kinds and counts.keys() & set(entry.record_kinds):
                return True
            if entry.score_at_most is not None and worst <= entry.score_at_most:
                return True
            if entry.score_at_least is not None and best >= entry.score_at_least:
                return True
            if entry.grades and any(
                g.grade in entry.grades and g.min <= best and g.max >= worst
                for g in v.source.grades
            ):
                return True
    return False


def enqueue(
    changes: Changes,
    subject: Subject,
    *,
    kind: str,
    ref: str,
    recipient: str,
    deliver_on: date,
    body: dict[str, Any],
    now: datetime,
) -> Row | None:
    """Queue a message once: a second call with the same ``ref`` does nothing."""
    if ref in subject.outbox:
        return None
    message = Row(
        OUTBOX,
        {
            "subject_id": subject.subject_id,
            "kind": kind,
            "ref": ref,
            "recipient": recipient,
            "deliver_on": deliver_on,
            "status": "queued",
            "attempts": 0,
            "sent_at": None,
            "served_on": None,
            "last_error": None,
            "body": json.dumps(body, sort_keys=True, default=str),
            "created_at": now,
        },
    )
    changes.add(subject, message)
    return message


def due_messages(subject: Subject, day: date) -> list[Row]:
    """The subject's messages waiting for delivery by ``day``, in the order they are sent."""
    waiting = [
        m
        for m in subject.outbox.values()
        if m.status in OPEN_MESSAGE and m.values["deliver_on"] <= day
    ]
    # Stored messages first by id, then the run's new ones in the order they were queued.
    return sorted(waiting, key=lambda m: (m.values["deliver_on"], m.id is None, m.id or 0, m.order))


def delivered(subject: Subject, message: Row, day: date, now: datetime) -> None:
    """Record a delivery; a delivered notice counts as served (on its due day when the first
    attempt got through: a run catches up day by day; else on the day a retry did)."""
    v = message.values
    v["attempts"] += 1
    v["status"], v["sent_at"] = "sent", now
    v["served_on"] = v["deliver_on"] if v["attempts"] == 1 else day
    if v["kind"] == "notice":
        _, _, _, key = message.ref.split(":", 3)
        notice = subject.notices.get(key)
        if notice is not None:
            notice.values["served_on"] = v["served_on"]


def failed(message: Row, error: str) -> None:
    """Record a failed delivery (it is retried on the next run)."""
    message.values["attempts"] += 1
    message.values["status"], message.values["last_error"] = "failed", error


def _advance(
    changes: Changes,
    row: Row,
    subject: Subject,
    path: Path,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append the transitions of ``path`` that the row's history does not have yet."""
    seen = row.history
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
    text = json.dumps(detail or {}, sort_keys=True, default=str)
    for status, on in path[done:]:
        changes.events.append(
            Event(
                row,
                str(status),
                midnight(on),
                text,
                f"process.{row.kind}.{status}",
                subject.subject_id,
                {"ref": row.values["ref"], "on": on.isoformat(), **(detail or {})},
            )
        )
        row.history.append(str(status))
        row.values["status"] = status


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
    changes: Changes, subject: Subject, a: Assessment, day: date
) -> list[tuple[Row, date | None, Path]]:
    """The row of every notice the evaluation issues (created and queued when new), with the
    notice's deadline and path; a notice's text is written only when its row is created."""
    version = changes.policy.version_at(day)
    assert version is not None
    lag = version.stages.service_lag if version.stages else None
    out: list[tuple[Row, date | None, Path]] = []
    for n in a.stages.notices if a.stages else ():
        text = partial(content.stage_notice, a, version, n.stage, n.deadline)
        row = _notice_row(changes, subject, a, "stage", n.key, n.issued_on, lag, text)
        out.append((row, n.deadline, _notice_path(n)))
    for e in a.listings:
        if e.noticed_on is not None:
            text = partial(content.list_notice, a, version, e.list_id, e.deadline)
            row = _notice_row(changes, subject, a, "list", e.key, e.noticed_on, lag, text)
            out.append((row, e.deadline, _listing_notice_path(e)))
    return out


def ensure_notices(changes: Changes, subject: Subject, a: Assessment, day: date) -> int:
    """Create (and queue) every notice the evaluation issues that has no row yet."""
    before = len(changes.created)
    _notice_rows(changes, subject, a, day)
    return len(changes.created) - before


def persist(changes: Changes, subject: Subject, a: Assessment, day: date) -> None:
    """Decide the assessment's notices, listings and measures; cascade what no longer holds."""
    seen_notices: set[str] = set()
    seen_entries: set[str] = set()
    seen_measures: set[str] = set()
    for row, deadline, steps in _notice_rows(changes, subject, a, day):
        seen_notices.add(row.ref)
        row.values["deadline"] = deadline
        _advance(changes, row, subject, steps)
    for m in a.stages.measures if a.stages else ():
        seen_measures.add(m.key)
        mrow = _measure_row(changes, subject, m.key, m.measure, m.in_force_from, m.until)
        if mrow.status == MeasureStatus.REFUSED:
            continue
        _advance(changes, mrow, subject, _measure_path(m))
        if m.status == MeasureStatus.RESCINDED:
            _notify_relying(changes, subject, "measure", m.key, m.status, m.until or day, day)
    for e in a.listings:
        seen_entries.add(e.key)
        entry = _entry_row(changes, subject, e)
        detail: dict[str, Any] = {"reason": e.reason}
        if e.outcome is not None:
            detail["outcome"] = e.outcome
        _advance(changes, entry, subject, _listing_path(e), detail)
        if e.status == ListingStatus.REMOVED and e.outcome is not None and e.outcome.rescinds:
            undone = [lm.measure for lm in e.measures if lm.status == MeasureStatus.RESCINDED]
            ended = e.removed_on or day
            _notify_relying(
                changes, subject, "listing", e.key, e.status, ended, day, e.outcome, undone
            )
        for lm in e.measures:
            key = f"{e.key}#{lm.measure}"
            seen_measures.add(key)
            mrow = _measure_row(changes, subject, key, lm.measure, lm.in_force_from, lm.until)
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
                _advance(changes, mrow, subject, path)
    _cascade(changes, subject, day, seen_notices, seen_entries, seen_measures)


def _notice_row(
    changes: Changes,
    subject: Subject,
    a: Assessment,
    about: str,
    key: str,
    issued_on: date,
    lag: Duration | None,
    text: Callable[[], dict[str, Any]],
) -> Row:
    row = subject.notices.get(key)
    if row is not None:
        return row
    body = text()
    sid = subject.subject_id
    row = Row(
        NOTICE,
        {
            "subject_id": sid,
            "policy_id": a.policy_id,
            "policy_version": a.policy_version,
            "about": about,
            "ref": key,
            "status": NoticeStatus.DUE,
            "issued_on": issued_on,
            "served_on": None,
            "deadline": None,
            "body": json.dumps(body, sort_keys=True),
            "created_at": midnight(issued_on),
        },
    )
    changes.add(subject, row)
    changes.created.append(key)
    deliver_on = lag.after(issued_on) if lag is not None else issued_on
    enqueue(
        changes,
        subject,
        kind="notice",
        ref=f"notice:{a.policy_id}:{sid}:{key}",
        recipient=f"subject:{sid}",
        deliver_on=deliver_on,
        body=body,
        now=midnight(issued_on),
    )
    return row


def _entry_row(changes: Changes, subject: Subject, e: ListingState) -> Row:
    row = subject.entries.get(e.key)
    if row is None:
        row = Row(
            ENTRY,
            {
                "subject_id": subject.subject_id,
                "policy_id": changes.policy.id,
                "list_id": e.list_id,
                "ref": e.key,
                "status": ListingStatus.PENDING_NOTICE,
                "entered_on": None,
                "exited_on": None,
                "body": "{}",
                "created_at": midnight(e.noticed_on or e.listed_on or changes.now.date()),
            },
        )
        changes.add(subject, row)
    row.values["entered_on"] = e.listed_on
    row.values["exited_on"] = e.removed_on
    row.values["body"] = json.dumps(
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
    changes: Changes,
    subject: Subject,
    key: str,
    measure_id: str,
    start: date | None,
    until: date | None,
) -> Row:
    row = subject.measures.get(key)
    if row is None:
        row = Row(
            MEASURE,
            {
                "subject_id": subject.subject_id,
                "policy_id": changes.policy.id,
                "measure_id": measure_id,
                "ref": key,
                "status": MeasureStatus.PROPOSED,
                "in_force_from": None,
                "until": None,
                "body": "{}",
                "created_at": midnight(start or changes.now.date()),
            },
        )
        changes.add(subject, row)
    row.values["in_force_from"] = start
    row.values["until"] = until
    return row


def _cascade(
    changes: Changes,
    subject: Subject,
    day: date,
    notices: set[str],
    entries: set[str],
    measures: set[str],
) -> None:
    """Withdraw, remove or rescind what a recomputation no longer produces."""
    removed: dict[str, list[str]] = {}  # listing ref -> its measures rescinded with it
    for n in _by_id(subject.notices):
        if n.ref not in notices and n.status not in NOTICE_ENDS:
            end: Path = [(NoticeStatus.WITHDRAWN, day)]
            _advance(changes, n, subject, end, {"reason": "recomputed"})
    for e in _by_id(subject.entries):
        if e.ref not in entries and e.status not in LISTING_ENDS:
            was_listed = e.status == ListingStatus.LISTED
            final = ListingStatus.REMOVED if was_listed else ListingStatus.WITHDRAWN
            outcome = ListingOutcome.RECOMPUTED
            detail = {"reason": "recomputed", "outcome": outcome}
            _advance(changes, e, subject, [(final, day)], detail)
            e.values["exited_on"] = day
            body = {**json.loads(e.values["body"] or "{}"), "outcome": outcome}
            e.values["body"] = json.dumps(body, sort_keys=True)
            if was_listed:
                removed[e.ref] = []
    for m in _by_id(subject.measures):
        if m.ref not in measures and m.status in MEASURE_OPEN:
            in_force = m.status == MeasureStatus.IN_FORCE
            gone = MeasureStatus.RESCINDED if in_force else MeasureStatus.WITHDRAWN
            _advance(changes, m, subject, [(gone, day)], {"reason": "recomputed"})
            m.values["until"] = day
            listing = m.ref.partition("#")[0]
            if in_force and listing in removed:
                removed[listing].append(m.values["measure_id"])
            elif in_force:
                _notify_relying(changes, subject, "measure", m.ref, gone, day, day)
    for ref, undone in removed.items():
        gone_listing, why = ListingStatus.REMOVED, ListingOutcome.RECOMPUTED
        _notify_relying(changes, subject, "listing", ref, gone_listing, day, day, why, undone)


def _by_id(table: dict[str, Row]) -> list[Row]:
    """Rows in the order they were stored (the order the store's reads return them)."""
    return sorted(table.values(), key=lambda r: (r.id is None, r.id or 0, r.order))


def _notify_relying(
    changes: Changes,
    subject: Subject,
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
    since, until = midnight(on) - NOTIFY_WINDOW, midnight(on + timedelta(days=1))
    parties = sorted({q.actor for q in subject.queries if since <= q.at < until})
    body: dict[str, Any] = {"about": f"{what} {ref}", "change": str(change), "on": on.isoformat()}
    if outcome is not None:
        body["outcome"] = str(outcome)
    if measures is not None:
        body["measures"] = sorted(measures)
    body["message"] = (
        "A decision about this subject that you may have relied on was "
        "rescinded after a correction; please disregard it."
    )
    sid = subject.subject_id
    for party in parties:
        queued = enqueue(
            changes,
            subject,
            kind="notification",
            ref=f"notify:{changes.policy.id}:{sid}:{what}:{ref}:{party}",
            recipient=f"{RELYING_PARTY}:{party}",
            deliver_on=day,
            body=body,
            now=midnight(day),
        )
        if queued is not None:
            changes.cascaded.append(party)
