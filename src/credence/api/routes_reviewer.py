"""Reviewer routes: the queues of objections and measures awaiting review, and decisions.

Deciding needs the facts, so a reviewer may read an objection's record and a subject's
explained assessment; each such read is logged with the reviewer's name and purpose.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from credence.access.auth import Principal
from credence.api.deps import (
    Ctx,
    Db,
    Page,
    Paging,
    Purpose,
    Text,
    access,
    day_in_range,
    lock_for_read,
    paged,
    role,
)
from credence.api.problems import ERRORS, ApiProblem
from credence.api.reads import assess, load_records, record_view
from credence.api.routes_subject import MeasureOut, ObjectionOut, objection_view
from credence.audit.access import log_read
from credence.runs.objections import OPEN, ObjectionError, decide
from credence.runs.reviews import ReviewError, review_measure
from credence.states import MeasureStatus
from credence.store.schema import MeasureRow, Objection

router = APIRouter(prefix="/review", tags=["reviewer"], responses=ERRORS)
Reviewer = Annotated[Principal, Depends(role("reviewer"))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
QUEUE = "review of objections and measures"


class QueuedObjection(ObjectionOut):
    """An objection in the queue, with the subject it concerns."""

    subject_id: str


class QueuedMeasure(MeasureOut):
    """A measure in the queue, with the subject it concerns."""

    subject_id: str


class ObjectionDetail(QueuedObjection):
    """An objection with the contested record and its history."""

    record: dict[str, Any] | None


class ObjectionDecisionIn(BaseModel):
    """The outcome; upholding the record (refusing the objection) needs a reason."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["upheld", "overturned"]
    reason: Text = ""


class MeasureDecisionIn(BaseModel):
    """Sign off (``approve: true``) or refuse; a refusal needs a reason."""

    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: Text = ""
    on: date | None = Field(default=None, description="Day of the decision (default today).")


def _queued(o: Objection) -> QueuedObjection:
    return QueuedObjection(**objection_view(o).model_dump(), subject_id=o.subject_id)


@router.get("/objections", response_model=Page[QueuedObjection])
def objections(
    who: Reviewer,
    ctx: Ctx,
    session: Db,
    page: Paging,
    state: Annotated[Literal["open", "all"], Query(description="Open ones or all.")] = "open",
) -> Page[QueuedObjection]:
    """Objections by id, open ones by default (each subject's read is logged)."""
    lock_for_read(session)
    stmt = select(Objection).where(Objection.id > page.int_cursor())
    if state == "open":
        stmt = stmt.where(Objection.status.in_(OPEN))
    rows = list(session.scalars(stmt.order_by(Objection.id).limit(page.limit + 1)))
    rows, nxt = paged(rows, page, lambda r: r.id)
    grant = access(who, QUEUE)
    for sid in sorted({o.subject_id for o in rows}):
        log_read(session, ctx.store.keys, grant, sid, "objections", at=ctx.now())
    session.commit()
    return Page[QueuedObjection](items=[_queued(o) for o in rows], next_cursor=nxt)


@router.get("/objections/{objection_id}", response_model=ObjectionDetail)
def objection(objection_id: Id, who: Reviewer, ctx: Ctx, session: Db) -> ObjectionDetail:
    """One objection with the contested record (a logged read)."""
    lock_for_read(session)
    o = session.get(Objection, objection_id)
    if o is None:
        raise ApiProblem(404, f"no objection {objection_id}")
    record = next(
        (record_view(r) for r in load_records(session, o.subject_id) if r.record_id == o.record_id),
        None,
    )
    log_read(
        session,
        ctx.store.keys,
        access(who, f"review of objection {o.id}"),
        o.subject_id,
        "records",
        at=ctx.now(),
    )
    session.commit()
    return ObjectionDetail(**_queued(o).model_dump(), record=record)


@router.post("/objections/{objection_id}/decision", response_model=QueuedObjection)
def decide_objection(
    objection_id: Id, body: ObjectionDecisionIn, who: Reviewer, ctx: Ctx, session: Db
) -> QueuedObjection:
    """Uphold the record or overturn it; the next process run recomputes what follows."""
    if body.outcome == "upheld" and not body.reason:
        raise ApiProblem(422, "upholding the record needs a reason", field="body.reason")
    lock_for_read(session)
    if session.get(Objection, objection_id) is None:
        raise ApiProblem(404, f"no objection {objection_id}")
    try:
        o = decide(
            session,
            ctx.store.keys,
            objection_id,
            body.outcome,
            reason=body.reason,
            actor=who.name,
            now=ctx.now(),
        )
    except ObjectionError as exc:
        raise ApiProblem(409, str(exc)) from None
    session.commit()
    return _queued(o)


def _measure(m: MeasureRow) -> QueuedMeasure:
    import json

    return QueuedMeasure(
        id=m.id,
        policy_id=m.policy_id,
        measure_id=m.measure_id,
        status=MeasureStatus(m.status),
        in_force_from=m.in_force_from,
        until=m.until,
        detail=json.loads(m.body),
        subject_id=m.subject_id,
    )


@router.get("/measures", response_model=Page[QueuedMeasure])
def measures(
    who: Reviewer,
    ctx: Ctx,
    session: Db,
    page: Paging,
    state: Annotated[
        Literal["awaiting_review", "all"], Query(description="Awaiting review or all.")
    ] = "awaiting_review",
) -> Page[QueuedMeasure]:
    """Measures awaiting a reviewer's sign-off (or all), by id."""
    lock_for_read(session)
    stmt = select(MeasureRow).where(MeasureRow.id > page.int_cursor())
    if state != "all":
        stmt = stmt.where(MeasureRow.status == state)
    rows = list(session.scalars(stmt.order_by(MeasureRow.id).limit(page.limit + 1)))
    rows, nxt = paged(rows, page, lambda r: r.id)
    grant = access(who, QUEUE)
    for sid in sorted({m.subject_id for m in rows}):
        log_read(session, ctx.store.keys, grant, sid, "measures", at=ctx.now())
    session.commit()
    return Page[QueuedMeasure](items=[_measure(m) for m in rows], next_cursor=nxt)


@router.post("/measures/{measure_id}/decision", response_model=QueuedMeasure)
def decide_measure(
    measure_id: Id, body: MeasureDecisionIn, who: Reviewer, ctx: Ctx, session: Db
) -> QueuedMeasure:
    """Sign off a measure (it may take effect from that day) or refuse it with a reason."""
    if not body.approve and not body.reason:
        raise ApiProblem(422, "refusing a measure needs a reason", field="body.reason")
    day_in_range(body.on, "body.on")
    on = body.on or ctx.now().date()
    lock_for_read(session)
    if session.get(MeasureRow, measure_id) is None:
        raise ApiProblem(404, f"no measure {measure_id}")
    try:
        row = review_measure(
            session,
            ctx.store.keys,
            measure_id,
            approve=body.approve,
            reason=body.reason,
            actor=who.name,
            on=on,
            now=datetime.combine(on, time(), tzinfo=ctx.now().tzinfo),
        )
    except ReviewError as exc:
        raise ApiProblem(409, str(exc)) from None
    session.commit()
    return _measure(row)


@router.get("/subjects/{subject_id}/assessment", response_model=dict[str, Any])
async def subject_assessment(
    subject_id: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    purpose: Annotated[Purpose, Query(description="Why you read it (logged, shown to them).")],
    who: Reviewer,
    ctx: Ctx,
    as_of: Annotated[date | None, Query()] = None,
    known_at: Annotated[date | None, Query()] = None,
) -> Response:
    """A subject's explained assessment, to decide an objection or a measure."""
    day_in_range(as_of, "query.as_of")
    day_in_range(known_at, "query.known_at")
    explained = await assess(
        ctx, subject_id, access(who, purpose), as_of, known_at, missing="no records of this subject"
    )
    return explained.response()
