"""Logged reads of a subject's data, shared by the routes of several roles."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from typing import Any, cast

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from credence.api.deps import ApiContext
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


# Built once: an explanation reads these on every request (Core, on one pooled connection).
_RECORDS = (
    select(StoredRecord)
    .where(StoredRecord.subject_id == bindparam("sid"))
    .order_by(StoredRecord.record_id)
)
_STATUSES = select(RecordStatus).where(
    RecordStatus.record_id.in_(
        select(StoredRecord.record_id).where(StoredRecord.subject_id == bindparam("sid"))
    )
)
_SERVED = select(Notice.ref, Notice.served_on).where(
    Notice.subject_id == bindparam("sid"), Notice.policy_id == bindparam("policy")
)
_REVIEWED = select(MeasureRow.ref, MeasureRow.body).where(
    MeasureRow.subject_id == bindparam("sid"), MeasureRow.policy_id == bindparam("policy")
)


def inputs_of(
    connection: Connection, subject_id: str, policy_id: str
) -> tuple[list[Record], Decisions]:
    """What an evaluation of a subject reads: :func:`load_records` and ``decisions_of``.

    The same values as those two functions (tests compare them), read with pre-built Core
    statements rather than ORM objects, which cost more than the look-ups themselves.
    """
    params = {"sid": subject_id, "policy": policy_id}
    rows = list(connection.execute(_RECORDS, params))
    history: dict[str, list[Any]] = defaultdict(list)
    if rows:
        for s in connection.execute(_STATUSES, params):
            history[s.record_id].append(s)
    # A row has the attributes of the mapped object that to_record reads (same names).
    records = [to_record(cast(Any, r), history[r.record_id]) for r in rows]
    served: dict[str, date | None] = {ref: on for ref, on in connection.execute(_SERVED, params)}
    approved: dict[str, date] = {}
    for ref, body in connection.execute(_REVIEWED, params):
        review = json.loads(body).get("review")
        if ref and review and review.get("decision") == "approved":
            approved[ref] = date.fromisoformat(review["on"])
    return records, Decisions(served=served, approved=approved, assume_service=False)


async def assess(
    ctx: ApiContext,
    subject_id: str,
    access: Access,
    as_of: date | None,
    known_at: date | None,
    what: str = "assessment",
    *,
    missing: str | None = None,
) -> dict[str, Any]:
    """The subject's explained assessment (a logged read, committed before this returns).

    With ``missing``, a subject without records is a 404 with that message (and no read is
    logged). The result may be shared with other requests (it is remembered): do not change it.
    """
    today = ctx.now().date()
    day = as_of or today
    known = known_at or max(day, today)

    def read(connection: Connection) -> tuple[tuple[list[Record], Decisions], Logged]:
        records, decisions = inputs_of(connection, subject_id, ctx.policy.id)
        if missing is not None and not records:
            raise ApiProblem(404, missing)
        if known < day:
            raise ApiProblem(422, f"known_at {known} is before as_of {day}", field="query.known_at")
        if ctx.policy.version_at(day) is None:
            first = ctx.policy.versions[0].effective_from
            raise ApiProblem(
                422,
                f"policy {ctx.policy.id} is not in force on {day} (it starts {first})",
                field="query.as_of",
            )
        detail = {"as_of": day.isoformat(), "known_at": known.isoformat(), "count": len(records)}
        return (records, decisions), Logged(access, subject_id, what, detail)

    assert ctx.reads is not None and ctx.explanations is not None
    # Returns once the access event and its chain entry are committed.
    records, decisions = await ctx.reads.run(read)
    key = (subject_id, day, known)
    remembered: dict[str, Any] | None = ctx.explanations.get(key, records, decisions)
    if remembered is not None:
        return remembered
    result = await run_in_threadpool(_evaluate, ctx, records, decisions, subject_id, day, known)
    ctx.explanations.put(key, records, decisions, result)
    return result


def _evaluate(
    ctx: ApiContext,
    records: list[Record],
    decisions: Decisions,
    subject_id: str,
    day: date,
    known: date,
) -> dict[str, Any]:
    try:
        return evaluate(
            ctx.policy, records, day, known, subject_id=subject_id, decisions=decisions
        ).to_dict()
    except (CredenceError, OverflowError) as exc:
        raise ApiProblem(422, str(exc), field="query.as_of") from None
