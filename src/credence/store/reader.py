"""The one reader of subject inputs at a knowledge time.

A subject's inputs are what an evaluation of it reads from the store: its records with their
status histories, and a policy's due-process decisions about it (when each notice was served,
which measures a reviewer approved). Every caller (the API, the web pages, ``credence explain
--data``, ``credence record show``, due-process runs) reads them here, so "as known at K" has
one meaning:

- a record is known at K if the store ingested it before the end of K (``ingested_at``);
- a status change is known at K if the store logged it before the end of K (``logged_at``);
- a notice's service is known at K if it was served on or before K (else: not served yet);
- a reviewer's approval is known at K if it was given on or before K.

A date K means the end of that UTC day, an aware instant means that instant, and ``None`` means
everything the store holds now. This is the store's own transaction time; the evaluator then
applies its ``known_at`` to the domain times (``recorded_at``, a status's ``at``). The batch plan
reads the same two columns (:data:`KNOWN_BY`) with the same end-of-day bound.

Two forms read the same statements: :func:`inputs_of`, for any number of subjects in a few
queries through a session (the read is logged for every subject, in one write per call), and
:func:`read_rows` / :func:`typed`, for one subject on the driver's own cursor, whose raw rows
the API compares with those a remembered explanation came from (:mod:`credence.api.explained`).
"""

from __future__ import annotations

import json
from collections import defaultdict, namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Dialect,
    Integer,
    Select,
    String,
    TypeDecorator,
    bindparam,
    select,
)
from sqlalchemy.orm import Session

from credence.audit.access import Access, GroupRead, Read, defer_group, defer_reads
from credence.dates import end_of_day
from credence.engine.timeline import Decisions
from credence.records import Record, Status, StatusChange
from credence.sql.columns import UTCDateTime
from credence.store.keys import Keys
from credence.store.schema import MeasureRow, Notice, RecordStatus, StoredRecord

# The column of each table that says when the store learned a row (its transaction time).
KNOWN_BY = {"records": "ingested_at", "record_status": "logged_at"}
# Subjects per statement of a bulk read (well below SQLite's limit on bound parameters).
CHUNK = 900

Known = date | datetime | None
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class SubjectInputs:
    """What an evaluation of one subject reads, as known at a knowledge time."""

    # Ordered by record_id; each with its status history ordered by (at, id).
    records: list[Record] = field(default_factory=list)
    # The policy's notices of the subject by key (served day or None) and approvals by measure
    # key; ``assume_service`` is off: every notice the due-process layer issued has a row.
    decisions: Decisions = field(default_factory=lambda: Decisions(assume_service=False))


def cutoff(known_at: Known) -> datetime | None:
    """The exclusive instant bound of "known at": the end of a day (UTC), an instant as given."""
    if known_at is None:
        return None
    if isinstance(known_at, datetime):
        return known_at if known_at.tzinfo else known_at.replace(tzinfo=UTC)
    return end_of_day(known_at)


def _day_of(known_at: Known) -> date | None:
    """The last day whose services and approvals are known at ``known_at``."""
    if known_at is None:
        return None
    if isinstance(known_at, datetime):
        moment = cutoff(known_at)
        assert moment is not None
        return moment.astimezone(UTC).date()
    return known_at


def _statements(
    subjects: Callable[[Any], ColumnElement[bool]], cut: bool
) -> tuple[AnySelect, AnySelect, AnySelect, AnySelect]:
    """The four reads, for the subjects that ``subjects(column)`` selects, with or without a
    ``cut`` bound (the bind parameter ``cut``)."""
    moment = bindparam("cut", type_=UTCDateTime())
    records = select(*StoredRecord.__table__.columns).where(subjects(StoredRecord.subject_id))
    known = select(StoredRecord.record_id).where(subjects(StoredRecord.subject_id))
    if cut:
        records = records.where(StoredRecord.ingested_at < moment)
        known = known.where(StoredRecord.ingested_at < moment)
    statuses = select(*RecordStatus.__table__.columns).where(RecordStatus.record_id.in_(known))
    if cut:
        statuses = statuses.where(RecordStatus.logged_at < moment)
    served = select(Notice.subject_id, Notice.ref, Notice.served_on).where(
        subjects(Notice.subject_id), Notice.policy_id == bindparam("policy")
    )
    reviewed = select(MeasureRow.subject_id, MeasureRow.ref, MeasureRow.body).where(
        subjects(MeasureRow.subject_id), MeasureRow.policy_id == bindparam("policy")
    )
    ordered: tuple[AnySelect, AnySelect, AnySelect, AnySelect] = (
        records.order_by(StoredRecord.subject_id, StoredRecord.record_id),
        statuses.order_by(RecordStatus.id),
        served.order_by(Notice.id),
        reviewed.order_by(MeasureRow.id),
    )
    return ordered


def _one(column: Any) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], column == bindparam("sid"))


def _many(column: Any) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], column.in_(bindparam("sids", expanding=True)))


def to_record(row: Any, history: Iterable[Any]) -> Record:
    """A records row and its status rows (any objects with the columns' names) as a Record."""
    ordered = sorted(history, key=lambda s: (s.at, s.id))
    return Record(
        record_id=row.record_id,
        source=row.source,
        source_record_id=row.source_record_id,
        subject_id=row.subject_id,
        kind=row.kind,
        occurred_on=row.occurred_on,
        effective_on=row.effective_on,
        recorded_at=row.recorded_at,
        amount=row.amount,
        evidence_ref=row.evidence_ref,
        history=tuple(StatusChange(Status(s.status), s.at, s.ref) for s in ordered),
    )


def _assemble(
    subject_ids: Iterable[str],
    records: Iterable[Any],
    statuses: Iterable[Any],
    served: Iterable[Any],
    reviewed: Iterable[Any],
    day: date | None,
) -> dict[str, SubjectInputs]:
    """Per-subject inputs from the four reads' typed rows (services and approvals up to
    ``day``; all of them when it is None)."""
    history: dict[str, list[Any]] = defaultdict(list)
    for s in statuses:
        history[s.record_id].append(s)
    by_subject: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_subject[r.subject_id].append(to_record(r, history[r.record_id]))
    notices: dict[str, dict[str, date | None]] = defaultdict(dict)
    for n in served:
        on = n.served_on
        notices[n.subject_id][n.ref] = on if day is None or on is None or on <= day else None
    approved: dict[str, dict[str, date]] = defaultdict(dict)
    for m in reviewed:
        review = json.loads(m.body).get("review")
        if m.ref and review and review.get("decision") == "approved":
            on = date.fromisoformat(review["on"])
            if day is None or on <= day:
                approved[m.subject_id][m.ref] = on
    return {
        sid: SubjectInputs(
            by_subject.get(sid, []),
            Decisions(
                served=notices.get(sid, {}), approved=approved.get(sid, {}), assume_service=False
            ),
        )
        for sid in subject_ids
    }


_BULK = {cut: _statements(_many, cut) for cut in (False, True)}


def inputs_of(
    session: Session,
    keys: Keys,
    subject_ids: Sequence[str],
    known_at: Known,
    *,
    access: Access,
    policy_id: str | None = None,
    what: str = "records",
    now: datetime | None = None,
    why: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, SubjectInputs]:
    """The inputs of every subject in ``subject_ids`` as the store knew them at ``known_at``.

    Returns one :class:`SubjectInputs` per distinct subject id asked for (also for a subject
    the store holds nothing of: no records, no decisions), in the order first asked: its
    records ordered by ``record_id`` with the status changes logged by then, and, with a
    ``policy_id``, that policy's notices and approvals as known then (none without one).
    Reads four statements per :data:`CHUNK` subjects, and logs the read of every subject
    (``what``, with ``known_at`` and its record count) in one write for the whole call, made
    when the session's transaction commits. With ``why`` (the reasons each subject is read
    for), the call is one group read: an access event per subject saying why, and a single
    chain entry for all of them (:class:`credence.audit.access.GroupRead`).
    """
    wanted = list(dict.fromkeys(subject_ids))
    cut = cutoff(known_at)
    statements = _BULK[cut is not None]
    rows: tuple[list[Any], list[Any], list[Any], list[Any]] = ([], [], [], [])
    for start in range(0, len(wanted), CHUNK):
        params: dict[str, Any] = {"sids": wanted[start : start + CHUNK], "cut": cut}
        reads = statements if policy_id is not None else statements[:2]
        params["policy"] = policy_id
        for into, stmt in zip(rows, reads, strict=False):
            into.extend(session.execute(stmt, params).all())
    out = _assemble(wanted, *rows, _day_of(known_at))
    when = now or datetime.now(UTC)
    detail_known = None if cut is None else cut.isoformat()
    if why is not None:
        reasons = {sid: sorted(why.get(sid, ())) for sid in out}
        group = GroupRead(access, what, when, reasons, {"known_at": detail_known})
        defer_group(session, keys, group)
        return out
    # Written as the session commits, so that the write lock is not held while the caller
    # evaluates what it read (credence.audit.access.defer_reads).
    defer_reads(
        session,
        keys,
        [
            Read(access, sid, what, when, {"known_at": detail_known, "count": len(got.records)})
            for sid, got in out.items()
        ],
    )
    return out


def decisions_of(
    session: Session, subject_ids: Sequence[str], policy_id: str, known_at: Known = None
) -> dict[str, Decisions]:
    """The decisions part of :func:`inputs_of` alone (unlogged: the due-process layer's own
    notices and sign-offs, read again after it issued or served some), per distinct subject."""
    wanted = list(dict.fromkeys(subject_ids))
    statements = _BULK[False]
    served: list[Any] = []
    reviewed: list[Any] = []
    for start in range(0, len(wanted), CHUNK):
        params = {"sids": wanted[start : start + CHUNK], "policy": policy_id}
        served.extend(session.execute(statements[2], params).all())
        reviewed.extend(session.execute(statements[3], params).all())
    got = _assemble(wanted, [], [], served, reviewed, _day_of(known_at))
    return {sid: inputs.decisions for sid, inputs in got.items()}


def _identity(value: Any) -> Any:
    return value


def _day(value: Any) -> date | None:
    # SQLite keeps a date as its ISO text, PostgreSQL's driver gives a date.
    return value if value is None or isinstance(value, date) else date.fromisoformat(value)


class _Raw:
    """A pre-built select run on the DBAPI cursor, with SQLAlchemy's conversions on demand.

    SQLAlchemy's execution and type processing cost more than the indexed look-ups themselves,
    and an explanation remembered from the very same rows needs neither. The statement is
    compiled once per dialect; :meth:`typed` converts rows as SQLAlchemy would (tests compare
    the two) and refuses a column type it does not know.
    """

    def __init__(self, stmt: AnySelect) -> None:
        self.stmt = stmt
        self.keys = [str(c.key) for c in stmt.selected_columns]
        self.row = namedtuple("Row", self.keys)  # type: ignore[misc]
        self._compiled: dict[
            str,
            tuple[
                str,
                list[str] | None,
                list[Callable[[Any], Any]],
                dict[str, Callable[[Any], Any]],
            ],
        ] = {}

    def _compile(
        self, dialect: Dialect
    ) -> tuple[str, list[str] | None, list[Callable[[Any], Any]], dict[str, Callable[[Any], Any]]]:
        compiled = self.stmt.compile(dialect=dialect)
        order = list(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        converters: list[Callable[[Any], Any]] = []
        for column in self.stmt.selected_columns:
            kind = column.type
            if isinstance(kind, TypeDecorator):
                converters.append(partial(kind.process_result_value, dialect=dialect))
            elif isinstance(kind, Date):
                converters.append(_day)
            elif isinstance(kind, (String, Integer)):
                converters.append(_identity)
            else:
                raise TypeError(f"no conversion for {column.key}: {kind!r}")
        binds: dict[str, Callable[[Any], Any]] = {}
        for key, param in compiled.binds.items():
            process = param.type.bind_processor(dialect)
            if process is not None:
                binds[key] = process
        done = (compiled.string, order, converters, binds)
        self._compiled[dialect.name] = done
        return done

    def rows(
        self, cursor: Any, dialect: Dialect, params: dict[str, Any]
    ) -> tuple[tuple[Any, ...], ...]:
        """The rows as the driver returns them."""
        sql, order, _, binds = self._compiled.get(dialect.name) or self._compile(dialect)
        if binds:
            params = {k: binds[k](v) if k in binds else v for k, v in params.items()}
        cursor.execute(sql, params if order is None else [params[k] for k in order])
        return tuple(tuple(r) for r in cursor.fetchall())

    def typed(self, rows: tuple[tuple[Any, ...], ...], dialect: Dialect) -> list[Any]:
        """The rows with the values SQLAlchemy would give, by column name."""
        _, _, converters, _ = self._compiled.get(dialect.name) or self._compile(dialect)
        make = self.row
        return [make(*(f(v) for f, v in zip(converters, r, strict=True))) for r in rows]


# What an evaluation of one subject is computed from, as read: the rows of the four statements
# and the amounts' texts (PostgreSQL's driver gives Decimal("1.0") for 1.0, which equals
# Decimal("1.00"); an explanation may print the amount, so the texts must match too).
Rows = tuple[tuple[Any, ...], ...]
_RAW = {cut: tuple(_Raw(s) for s in _statements(_one, cut)) for cut in (False, True)}
_AMOUNT = _RAW[False][0].keys.index("amount")


def read_rows(connection: Connection, subject_id: str, policy_id: str, known_at: Known) -> Rows:
    """The rows an evaluation of one subject at ``known_at`` reads, as the driver returns them.

    Cheap (pre-built statements on the driver's cursor); :func:`typed` makes them inputs. The
    read is not logged here: the caller logs it (the API, in its batched read log).
    """
    if not connection.in_transaction():
        # The reads run on the driver's cursor: a transaction SQLAlchemy knows of, so that the
        # caller's commit ends it (PostgreSQL's driver opens one on the first statement).
        connection.begin()
    cut = cutoff(known_at)
    params: dict[str, Any] = {"sid": subject_id, "policy": policy_id}
    if cut is not None:
        params["cut"] = cut
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        records, statuses, served, reviewed = (
            q.rows(cursor, dialect, params) for q in _RAW[cut is not None]
        )
    finally:
        cursor.close()
    amounts = tuple(str(r[_AMOUNT]) for r in records)
    return records, statuses, served, reviewed, amounts


def typed(raw: Rows, dialect: Dialect, subject_id: str, known_at: Known) -> SubjectInputs:
    """The inputs in rows that :func:`read_rows` read for ``subject_id`` at ``known_at``."""
    q = _RAW[False]
    return _assemble(
        [subject_id],
        q[0].typed(raw[0], dialect),
        q[1].typed(raw[1], dialect),
        q[2].typed(raw[2], dialect),
        q[3].typed(raw[3], dialect),
        _day_of(known_at),
    )[subject_id]
