"""Logged reads of a subject's data, shared by the routes of several roles."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.api.deps import ApiContext
from credence.api.problems import ApiProblem
from credence.audit.access import Access
from credence.engine.reference import evaluate
from credence.errors import CredenceError
from credence.process.state import decisions_of
from credence.records import Record
from credence.store.records import to_record
from credence.store.schema import RecordStatus, StoredRecord


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


def assess(
    ctx: ApiContext,
    session: Session,
    subject_id: str,
    access: Access,
    as_of: date | None,
    known_at: date | None,
    what: str = "assessment",
) -> dict[str, Any]:
    """The subject's explained assessment (a logged read; commits the log entry first).

    The result may be shared with other requests (it is remembered): do not change it.
    """
    today = ctx.now().date()
    day = as_of or today
    known = known_at or max(day, today)
    if known < day:
        raise ApiProblem(422, f"known_at {known} is before as_of {day}", field="query.known_at")
    if ctx.policy.version_at(day) is None:
        first = ctx.policy.versions[0].effective_from
        raise ApiProblem(
            422,
            f"policy {ctx.policy.id} is not in force on {day} (it starts {first})",
            field="query.as_of",
        )
    records = load_records(session, subject_id)
    decisions = decisions_of(session, subject_id, ctx.policy.id)
    ctx.log_read(
        session,
        access,
        subject_id,
        what,
        detail={"as_of": day.isoformat(), "known_at": known.isoformat(), "count": len(records)},
    )
    session.commit()
    assert ctx.explanations is not None
    key = (subject_id, day, known)
    remembered: dict[str, Any] | None = ctx.explanations.get(key, records, decisions)
    if remembered is not None:
        return remembered
    try:
        result = evaluate(
            ctx.policy, records, day, known, subject_id=subject_id, decisions=decisions
        ).to_dict()
    except (CredenceError, OverflowError) as exc:
        raise ApiProblem(422, str(exc), field="query.as_of") from None
    ctx.explanations.put(key, records, decisions, result)
    return result
