"""Logged reads of a subject's data, shared by the routes of several roles."""

from __future__ import annotations

import json
from collections import defaultdict, namedtuple
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any, cast

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import (
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

from credence.api.deps import ApiContext
from credence.api.explained import Explained
from credence.api.problems import ApiProblem
from credence.api.readlog import Logged
from credence.audit.access import Access
from credence.engine.reference import evaluate
from credence.engine.timeline import Decisions
from credence.errors import CredenceError
from credence.records import Record
from credence.store.records import to_record
from credence.store.schema import MeasureRow, Notice, RecordStatus, StoredRecord


def load_records(session: Session, subject_id: str) -> list[Record]:
    """Every record of a subject with its status history, as the store holds them now."""
    rows = session.scalars(
        select(StoredRecord)
        .where(StoredRecord.subject_id == subject_id)
        .order_by(StoredRecord.record_id)
    ).all()
    history: dict[str, list[RecordStatus]] = defaultdict(list)
    if rows:
        for s in session.scalars(
            select(RecordStatus).where(
                RecordStatus.record_id.in_(
                    select(StoredRecord.record_id).where(StoredRecord.subject_id == subject_id)
                )
            )
        ):
            history[s.record_id].append(s)
    return [to_record(r, history[r.record_id]) for r in rows]


def record_view(r: Record) -> dict[str, Any]:
    """A record as the API shows it (to its subject, its source, a reviewer)."""
    return {
        "record_id": r.record_id,
        "source": r.source,
        "kind": r.kind,
        "occurred_on": r.occurred_on.isoformat(),
        "effective_on": r.effective_on.isoformat(),
        "recorded_at": r.recorded_at.isoformat(),
        "amount": None if r.amount is None else str(r.amount),
        "evidence_ref": r.evidence_ref,
        "status": r.history[-1].status.value if r.history else "active",
        "history": [
            {"status": c.status.value, "at": c.at.isoformat(), "ref": c.ref} for c in r.history
        ],
    }


# Built once: an explanation reads these on every request. They run on the driver's own cursor
# (see _Raw): their rows, as the driver returns them, are what a remembered explanation is
# checked against, and only when it must be evaluated afresh are they converted to records.
_RECORDS = (
    select(StoredRecord)
    .where(StoredRecord.subject_id == bindparam("sid"))
    .order_by(StoredRecord.record_id)
)
_STATUSES = (
    select(RecordStatus)
    .where(
        RecordStatus.record_id.in_(
            select(StoredRecord.record_id).where(StoredRecord.subject_id == bindparam("sid"))
        )
    )
    .order_by(RecordStatus.id)
)
_SERVED = (
    select(Notice.ref, Notice.served_on)
    .where(Notice.subject_id == bindparam("sid"), Notice.policy_id == bindparam("policy"))
    .order_by(Notice.id)
)
_REVIEWED = (
    select(MeasureRow.ref, MeasureRow.body)
    .where(MeasureRow.subject_id == bindparam("sid"), MeasureRow.policy_id == bindparam("policy"))
    .order_by(MeasureRow.id)
)


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

    def __init__(self, stmt: Select[*tuple[Any, ...]]) -> None:
        self.stmt = stmt
        self.keys = [str(c.key) for c in stmt.selected_columns]
        self.row = namedtuple("Row", self.keys)  # type: ignore[misc]
        self._compiled: dict[str, tuple[str, list[str] | None, list[Callable[[Any], Any]]]] = {}

    def _compile(
        self, dialect: Dialect
    ) -> tuple[str, list[str] | None, list[Callable[[Any], Any]]]:
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
        done = (compiled.string, order, converters)
        self._compiled[dialect.name] = done
        return done

    def rows(
        self, cursor: Any, dialect: Dialect, params: dict[str, Any]
    ) -> tuple[tuple[Any, ...], ...]:
        """The rows as the driver returns them."""
        sql, order, _ = self._compiled.get(dialect.name) or self._compile(dialect)
        cursor.execute(sql, params if order is None else [params[k] for k in order])
        return tuple(tuple(r) for r in cursor.fetchall())

    def typed(self, rows: tuple[tuple[Any, ...], ...], dialect: Dialect) -> list[Any]:
        """The rows with the values SQLAlchemy would give, by column name."""
        _, _, converters = self._compiled.get(dialect.name) or self._compile(dialect)
        make = self.row
        return [make(*(f(v) for f, v in zip(converters, r, strict=True))) for r in rows]


# What an explanation is computed from, as read: the rows of _RECORDS, _STATUSES, _SERVED and
# _REVIEWED, and the amounts' texts (PostgreSQL's driver gives Decimal("1.0") for 1.0, which
# equals Decimal("1.00"); an explanation may print the amount, so the texts must match too).
Inputs = tuple[tuple[Any, ...], ...]
_RAW = (_Raw(_RECORDS), _Raw(_STATUSES), _Raw(_SERVED), _Raw(_REVIEWED))
_AMOUNT = _RAW[0].keys.index("amount")


def read_inputs(connection: Connection, subject_id: str, policy_id: str) -> Inputs:
    """The rows an evaluation of a subject reads, as the driver returns them (cheap)."""
    if not connection.in_transaction():
        # The reads run on the driver's cursor: a transaction SQLAlchemy knows of, so that the
        # caller's commit ends it (PostgreSQL's driver opens one on the first statement).
        connection.begin()
    params = {"sid": subject_id, "policy": policy_id}
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        records, statuses, served, reviewed = (q.rows(cursor, dialect, params) for q in _RAW)
    finally:
        cursor.close()
    amounts = tuple(str(r[_AMOUNT]) for r in records)
    return records, statuses, served, reviewed, amounts


def typed_inputs(raw: Inputs, dialect: Dialect) -> tuple[list[Record], Decisions]:
    """The records and due-process decisions in rows that :func:`read_inputs` read."""
    rows = _RAW[0].typed(raw[0], dialect)
    history: dict[str, list[Any]] = defaultdict(list)
    for s in _RAW[1].typed(raw[1], dialect):
        history[s.record_id].append(s)
    # A row has the attributes of the mapped object that to_record reads (same names).
    records = [to_record(cast(Any, r), history[r.record_id]) for r in rows]
    served: dict[str, date | None] = {n.ref: n.served_on for n in _RAW[2].typed(raw[2], dialect)}
    approved: dict[str, date] = {}
    for m in _RAW[3].typed(raw[3], dialect):
        review = json.loads(m.body).get("review")
        if m.ref and review and review.get("decision") == "approved":
            approved[m.ref] = date.fromisoformat(review["on"])
    return records, Decisions(served=served, approved=approved, assume_service=False)


def inputs_of(
    connection: Connection, subject_id: str, policy_id: str
) -> tuple[list[Record], Decisions]:
    """What an evaluation of a subject reads: :func:`load_records` and ``decisions_of``.

    The same values as those two functions (tests compare them), read with pre-built
    statements on the driver's cursor rather than ORM objects, which cost more than the
    look-ups themselves.
    """
    return typed_inputs(read_inputs(connection, subject_id, policy_id), connection.dialect)


async def assess(
    ctx: ApiContext,
    subject_id: str,
    access: Access,
    as_of: date | None,
    known_at: date | None,
    what: str = "assessment",
    *,
    missing: str | None = None,
    check: Callable[[Connection], None] | None = None,
) -> Explained:
    """The subject's explained assessment (a logged read, committed before this returns).

    With ``missing``, a subject without records is a 404 with that message (and no read is
    logged). ``check`` runs first, on the read's connection; what it raises is raised here, and
    nothing is read or logged. The result may be shared with other requests (it is
    remembered): do not change it.
    """
    today = ctx.now().date()
    day = as_of or today
    known = known_at or max(day, today)
    policy_id = ctx.policy.id

    def read(connection: Connection) -> tuple[Inputs, Logged]:
        if check is not None:
            check(connection)
        raw = read_inputs(connection, subject_id, policy_id)
        count = len(raw[0])
        if missing is not None and not count:
            raise ApiProblem(404, missing)
        if known < day:
            raise ApiProblem(422, f"known_at {known} is before as_of {day}", field="query.known_at")
        if ctx.policy.version_at(day) is None:
            first = ctx.policy.versions[0].effective_from
            raise ApiProblem(
                422,
                f"policy {policy_id} is not in force on {day} (it starts {first})",
                field="query.as_of",
            )
        detail = {"as_of": day.isoformat(), "known_at": known.isoformat(), "count": count}
        return raw, Logged(access, subject_id, what, detail)

    assert ctx.reads is not None and ctx.explanations is not None
    # Returns once the access event and its chain entry are committed.
    raw = await ctx.reads.run(read)
    key = (subject_id, day, known)
    remembered = ctx.explanations.get(key, raw)
    if remembered is not None:
        return remembered
    explained = await run_in_threadpool(_evaluate, ctx, raw, subject_id, day, known)
    ctx.explanations.put(key, raw, explained)
    return explained


def _evaluate(ctx: ApiContext, raw: Inputs, subject_id: str, day: date, known: date) -> Explained:
    records, decisions = typed_inputs(raw, ctx.store.engine.dialect)
    try:
        result = evaluate(
            ctx.policy, records, day, known, subject_id=subject_id, decisions=decisions
        ).to_dict()
    except (CredenceError, OverflowError) as exc:
        raise ApiProblem(422, str(exc), field="query.as_of") from None
    explained = Explained(result)
    explained.body  # noqa: B018 - encoded here, in the thread, once
    return explained
