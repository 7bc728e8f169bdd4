"""Subject routes (``/me``): a person's own records, assessment, notices, listings, measures,
objections, and who read their data and why.

A subject principal's scope is its subject id, and every route here reads only that id: no
route takes another subject's id, and a record or objection of someone else is "not found".
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from credence.access.auth import Principal
from credence.api.deps import (
    Ctx,
    Db,
    Name,
    Page,
    PageQuery,
    Paging,
    Text,
    access,
    day_in_range,
    lock_for_read,
    page_of,
    paged,
    role,
)
from credence.api.problems import ERRORS, ApiProblem
from credence.api.reads import assess, load_records, record_view
from credence.audit.access import log_read
from credence.audit.tables import AccessEvent
from credence.letters.letter import LetterNotice, render_letter
from credence.letters.pdf import Paper
from credence.runs.objections import (
    EvidenceNotFound,
    ObjectionError,
    add_evidence,
    file_objection,
)
from credence.states import (
    ListingStatus,
    MeasureStatus,
    NoticeStatus,
    ObjectionStatus,
    RecordStatus,
)
from credence.store.schema import ListEntry, MeasureRow, Notice, Objection
from credence.subject_file.build import build_file
from credence.subject_file.model import SubjectFile
from credence.subject_file.pdf import render_file

router = APIRouter(prefix="/me", tags=["subject"], responses=ERRORS)
Subject = Annotated[Principal, Depends(role("subject"))]
SELF = "self-service: the subject reads their own data"
EvidenceRef = Annotated[Text, Field(min_length=1, max_length=500)]


def _sid(who: Principal) -> str:
    assert who.scope is not None
    return who.scope


class RecordOut(BaseModel):
    """A record with its status history."""

    record_id: str
    source: str
    kind: str
    occurred_on: str
    effective_on: str
    recorded_at: str
    amount: str | None
    evidence_ref: str | None
    status: RecordStatus
    history: list[dict[str, Any]]


class NoticeOut(BaseModel):
    """A notice served (or due) to the subject, with its content."""

    id: int
    policy_id: str
    about: str
    ref: str
    status: NoticeStatus
    issued_on: date
    served_on: date | None
    deadline: date | None
    content: dict[str, Any]


class ListingOut(BaseModel):
    """An entry of the subject on a list."""

    id: int
    policy_id: str
    list_id: str
    status: ListingStatus
    entered_on: date | None
    exited_on: date | None
    detail: dict[str, Any]


class MeasureOut(BaseModel):
    """A measure applied (or proposed) to the subject."""

    id: int
    policy_id: str
    measure_id: str
    status: MeasureStatus
    in_force_from: date | None
    until: date | None
    detail: dict[str, Any]


class ObjectionOut(BaseModel):
    """An objection against a record and where it stands."""

    id: int
    record_id: str
    status: ObjectionStatus
    filed_at: str
    review_deadline: date
    outcome: str | None
    statement: str
    evidence: list[str]


class AccessOut(BaseModel):
    """One read of the subject's data: who, in what role, why, and what."""

    id: int
    at: str
    actor: str
    role: str
    purpose: str
    what: str

    @classmethod
    def fields_of(cls, event: AccessEvent) -> dict[str, Any]:
        """This model's fields of a stored access event."""
        return {
            "id": event.id,
            "at": event.at.isoformat(),
            "actor": event.actor,
            "role": event.role,
            "purpose": event.purpose,
            "what": event.what,
        }


class ObjectionIn(BaseModel):
    """An objection: the record, why it is wrong, and references to the evidence."""

    model_config = ConfigDict(extra="forbid")
    record_id: Annotated[Name, Field(max_length=300)]
    statement: Annotated[Text, Field(min_length=3)]
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=50)


class EvidenceIn(BaseModel):
    """More evidence for an open objection (the first addition extends its deadline once)."""

    model_config = ConfigDict(extra="forbid")
    evidence: list[EvidenceRef] = Field(min_length=1, max_length=50)


def objection_view(o: Objection) -> ObjectionOut:
    """An objection row as the API shows it."""
    body = json.loads(o.body)
    return ObjectionOut(
        id=o.id,
        record_id=o.record_id,
        status=ObjectionStatus(o.status),
        filed_at=o.filed_at.isoformat(),
        review_deadline=o.review_deadline,
        outcome=o.outcome,
        statement=body.get("statement", ""),
        evidence=list(body.get("evidence", [])),
    )


def _log(ctx: Ctx, session: Db, who: Principal, what: str) -> None:
    log_read(session, ctx.store.keys, access(who, SELF), _sid(who), what, at=ctx.now())


def _own_rows(
    ctx: Ctx, session: Db, who: Principal, page: PageQuery, model: Any, what: str
) -> tuple[list[Any], str | None]:
    """One page of the subject's own rows of ``model`` by id; the read logged and committed."""
    rows, nxt = page_of(session, page, model, model.id, _sid(who))
    _log(ctx, session, who, what)
    session.commit()
    return rows, nxt


@router.get("/records", response_model=Page[RecordOut])
def my_records(who: Subject, ctx: Ctx, session: Db, page: Paging) -> Page[RecordOut]:
    """The subject's records with their status histories."""
    lock_for_read(session)
    records = load_records(session, _sid(who))
    after = [r for r in records if page.cursor is None or r.record_id > page.cursor]
    items, nxt = paged(after[: page.limit + 1], page, lambda r: r.record_id)
    _log(ctx, session, who, "records")
    session.commit()
    return Page[RecordOut](items=[RecordOut(**record_view(r)) for r in items], next_cursor=nxt)


@router.get("/assessment", response_model=dict[str, Any])
async def my_assessment(
    who: Subject,
    ctx: Ctx,
    as_of: Annotated[date | None, Query(description="Day judged at (default today).")] = None,
    known_at: Annotated[
        date | None, Query(description="What the system knew by this day (default today).")
    ] = None,
) -> Response:
    """The subject's score, grade and full explanation (docs/output.md shape)."""
    day_in_range(as_of, "query.as_of")
    day_in_range(known_at, "query.known_at")
    # The body was encoded once, when the explanation was evaluated.
    return (await assess(ctx, _sid(who), access(who, SELF), as_of, known_at)).response()


@router.get("/notices", response_model=Page[NoticeOut])
def my_notices(who: Subject, ctx: Ctx, session: Db, page: Paging) -> Page[NoticeOut]:
    """Notices issued to the subject, with their content, deadline and service date."""
    rows, nxt = _own_rows(ctx, session, who, page, Notice, "notices")
    items = [
        NoticeOut(
            id=n.id,
            policy_id=n.policy_id,
            about=n.about,
            ref=n.ref,
            status=NoticeStatus(n.status),
            issued_on=n.issued_on,
            served_on=n.served_on,
            deadline=n.deadline,
            content=json.loads(n.body),
        )
        for n in rows
    ]
    return Page[NoticeOut](items=items, next_cursor=nxt)


@router.get("/listings", response_model=Page[ListingOut])
def my_listings(who: Subject, ctx: Ctx, session: Db, page: Paging) -> Page[ListingOut]:
    """The subject's entries on lists, past and present."""
    rows, nxt = _own_rows(ctx, session, who, page, ListEntry, "listings")
    items = [
        ListingOut(
            id=e.id,
            policy_id=e.policy_id,
            list_id=e.list_id,
            status=ListingStatus(e.status),
            entered_on=e.entered_on,
            exited_on=e.exited_on,
            detail=json.loads(e.body),
        )
        for e in rows
    ]
    return Page[ListingOut](items=items, next_cursor=nxt)


@router.get("/measures", response_model=Page[MeasureOut])
def my_measures(who: Subject, ctx: Ctx, session: Db, page: Paging) -> Page[MeasureOut]:
    """Measures proposed, in force or ended for the subject, with any review."""
    rows, nxt = _own_rows(ctx, session, who, page, MeasureRow, "measures")
    items = [
        MeasureOut(
            id=m.id,
            policy_id=m.policy_id,
            measure_id=m.measure_id,
            status=MeasureStatus(m.status),
            in_force_from=m.in_force_from,
            until=m.until,
            detail=json.loads(m.body),
        )
        for m in rows
    ]
    return Page[MeasureOut](items=items, next_cursor=nxt)


@router.get("/accesses", response_model=Page[AccessOut])
def my_accesses(who: Subject, ctx: Ctx, session: Db, page: Paging) -> Page[AccessOut]:
    """Who read the subject's data, in what role, why, and what they read."""
    rows, nxt = _own_rows(ctx, session, who, page, AccessEvent, "access_log")
    items = [AccessOut(**AccessOut.fields_of(a)) for a in rows]
    return Page[AccessOut](items=items, next_cursor=nxt)


@router.get("/objections", response_model=Page[ObjectionOut])
def my_objections(who: Subject, ctx: Ctx, session: Db, page: Paging) -> Page[ObjectionOut]:
    """The subject's objections and their outcomes."""
    rows, nxt = _own_rows(ctx, session, who, page, Objection, "objections")
    return Page[ObjectionOut](items=[objection_view(o) for o in rows], next_cursor=nxt)


@router.post("/objections", status_code=201, response_model=ObjectionOut)
def object_to(body: ObjectionIn, who: Subject, ctx: Ctx, session: Db) -> ObjectionOut:
    """Contest one of the subject's records, with a statement and evidence references."""
    from credence.store.schema import StoredRecord

    lock_for_read(session)
    record = session.get(StoredRecord, body.record_id)
    if record is None or record.subject_id != _sid(who):
        raise ApiProblem(404, f"no record {body.record_id!r} of yours", field="body.record_id")
    try:
        o = file_objection(
            session,
            ctx.store.keys,
            ctx.policy,
            body.record_id,
            statement=body.statement,
            evidence=list(body.evidence),
            actor=who.name,
            now=ctx.now(),
        )
    except EvidenceNotFound as exc:
        raise ApiProblem(404, str(exc), field=f"body.evidence[{exc.index}]") from None
    except ObjectionError as exc:
        raise ApiProblem(409, str(exc), field="body.record_id") from None
    session.commit()
    return objection_view(o)


@router.post("/objections/{objection_id}/evidence", response_model=ObjectionOut)
def more_evidence(
    objection_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: EvidenceIn,
    who: Subject,
    ctx: Ctx,
    session: Db,
) -> ObjectionOut:
    """Add evidence references to one of the subject's open objections."""
    lock_for_read(session)
    o = session.get(Objection, objection_id)
    if o is None or o.subject_id != _sid(who):
        raise ApiProblem(404, f"no objection {objection_id} of yours")
    try:
        o = add_evidence(
            session,
            ctx.store.keys,
            ctx.policy,
            objection_id,
            list(body.evidence),
            actor=who.name,
            now=ctx.now(),
        )
    except EvidenceNotFound as exc:
        raise ApiProblem(404, str(exc), field=f"body.evidence[{exc.index}]") from None
    except ObjectionError as exc:
        raise ApiProblem(409, str(exc)) from None
    session.commit()
    return objection_view(o)


PaperQuery = Annotated[Paper, Query(description="A4 or US Letter (Letter).")]


def _file(ctx: Ctx, session: Db, who: Principal) -> SubjectFile:
    lock_for_read(session)
    doc = build_file(session, ctx.store.keys, ctx.policy, _sid(who), access(who, SELF), ctx.now())
    if doc is None:
        raise ApiProblem(404, "the store holds no data about you")
    session.commit()
    return doc


@router.get("/export", response_model=SubjectFile)
def my_export(who: Subject, ctx: Ctx, session: Db) -> SubjectFile:
    """The subject's whole file (GDPR Art. 15) as one JSON document; the read is logged."""
    return _file(ctx, session, who)


@router.get("/export/pdf", response_class=Response)
def my_export_pdf(who: Subject, ctx: Ctx, session: Db, paper: PaperQuery = "A4") -> Response:
    """The subject's whole file as a PDF (the same content as ``/me/export``)."""
    body = render_file(_file(ctx, session, who), paper)
    return Response(body, media_type="application/pdf", headers=_attachment("file.pdf"))


@router.get("/notices/{notice_id}/letter", response_class=Response)
def my_letter(
    notice_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    who: Subject,
    ctx: Ctx,
    session: Db,
    paper: PaperQuery = "A4",
) -> Response:
    """One of the subject's notices as a printable letter (PDF, A4 or US Letter)."""
    lock_for_read(session)
    n = session.get(Notice, notice_id)
    if n is None or n.subject_id != _sid(who):
        raise ApiProblem(404, f"no notice {notice_id} of yours")
    body = render_letter(LetterNotice.of(n, json.loads(n.body)), paper)
    _log(ctx, session, who, "notices")
    session.commit()
    return Response(body, media_type="application/pdf", headers=_attachment(f"{n.id}.pdf"))


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="credence-{name}"'}
