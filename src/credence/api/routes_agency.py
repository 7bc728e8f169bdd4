"""Agency routes: report, correct and revoke records of the kinds its source may report.

An agency's scope is its source name. It sees and changes only the records its source
reported; another source's record is "not found" to it, so that ids leak nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from credence.access.auth import Principal
from credence.api.deps import Ctx, Db, Name, Page, Paging, Text, access, lock_for_read, paged, role
from credence.api.problems import ERRORS, ApiProblem
from credence.api.reads import record_view
from credence.audit import chain
from credence.audit.access import log_read
from credence.ingest.corrections import CORRECTABLE, correct
from credence.ingest.validate import Candidate, Validator
from credence.records import VOID
from credence.rows.fields import parse_row
from credence.rows.text import control_problem
from credence.states import RecordStatus as RecordState
from credence.store.reader import to_record
from credence.store.records import (
    RecordStateError,
    current_status,
    ensure_subject,
    revoke,
)
from credence.store.schema import RecordStatus, StoredRecord

router = APIRouter(prefix="/agency", tags=["agency"], responses=ERRORS)
Agency = Annotated[Principal, Depends(role("agency"))]
RecordId = Annotated[str, Path(min_length=3, max_length=300, description="source:source_record_id")]


def _no_controls(value: object) -> object:
    """Refuse text with a control character, by the check record files get (rows/text.py)."""
    if isinstance(value, str) and (problem := control_problem(value)) is not None:
        raise ValueError(problem)
    return value


# A reported record's fields are checked by parse_row, as a file's rows are (control characters
# included): here they are only bounded. A correction's by the same function, before pydantic.
RecordName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RecordText = Annotated[str, StringConstraints(max_length=2000)]
CheckedName = Annotated[Name, BeforeValidator(_no_controls)]
CheckedText = Annotated[Text, BeforeValidator(_no_controls)]


class RecordIn(BaseModel):
    """One record reported by the calling agency's source."""

    model_config = ConfigDict(extra="forbid")
    source_record_id: RecordName
    national_id: RecordName
    kind: RecordName
    occurred_on: date
    effective_on: date | None = None
    recorded_at: datetime | None = Field(default=None, description="Default: now.")
    amount: Decimal | None = Field(default=None, max_digits=24, decimal_places=6)
    evidence_ref: RecordText | None = None


class Reported(BaseModel):
    """A stored record's id."""

    record_id: str
    status: RecordState


class RevokeIn(BaseModel):
    """Why a record is revoked."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[Text, Field(min_length=3)]


class Changes(BaseModel):
    """The corrected fields (at least one)."""

    model_config = ConfigDict(extra="forbid")
    kind: CheckedName | None = None
    occurred_on: date | None = None
    effective_on: date | None = None
    amount: Decimal | None = Field(default=None, max_digits=24, decimal_places=6)
    evidence_ref: CheckedText | None = None


class CorrectIn(BaseModel):
    """A correction: what changes, why, and optionally the source's id of the correction."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[Text, Field(min_length=3)]
    changes: Changes
    source_record_id: CheckedName | None = None


class Corrected(BaseModel):
    """The correcting record and the one it supersedes."""

    record_id: str
    supersedes: str


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
    status: str
    history: list[dict[str, Any]]


def _problems_to_fields(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # The store's names for the fields become the request's: the national id is sent as such,
    # and a source not authorised for a kind is a fault of the kind this agency reported.
    rename = {"subject_id": "national_id", "source": "kind"}
    return [(f"body.{rename.get(f, f)}", r) for f, r in problems]


@router.post("/records", status_code=201, response_model=Reported)
def report(body: RecordIn, who: Agency, ctx: Ctx, session: Db) -> Reported:
    """Report one record; it is checked like an ingested row (kind, source, dates)."""
    now = ctx.now()
    source = who.scope_or_name
    raw = {k: v for k, v in body.model_dump(mode="json").items() if v is not None}
    raw["subject_id"] = raw.pop("national_id")
    raw["source"] = source
    row = parse_row(1, raw)
    if row.record is None:
        raise ApiProblem(
            422,
            "the record is not valid",
            errors=_problems_to_fields([(e.field, e.reason) for e in row.errors]),
        )
    # Without a report time the record was learned now, by this request.
    row_record = (
        row.record if body.recorded_at is not None else replace(row.record, recorded_at=now)
    )
    candidate = Candidate.of_record(1, row_record)
    problems = Validator(ctx.policy, source, now).check(candidate)
    if problems:
        raise ApiProblem(
            422, "the record is refused by the policy", errors=_problems_to_fields(problems)
        )
    lock_for_read(session)
    if session.get(StoredRecord, candidate.key) is not None:
        raise ApiProblem(
            409, f"record {candidate.key} was reported already", field="body.source_record_id"
        )
    subject_id = ctx.store.keys.subject_id(row_record.subject_id)
    ensure_subject(session, subject_id, now)
    session.add(
        StoredRecord(
            record_id=candidate.key,
            source=source,
            source_record_id=row_record.source_record_id,
            subject_id=subject_id,
            kind=row_record.kind,
            occurred_on=row_record.occurred_on,
            effective_on=row_record.effective_on,
            recorded_at=row_record.recorded_at,
            amount=row_record.amount,
            evidence_ref=row_record.evidence_ref,
            supersedes=None,
            ingest_run_id=None,
            ingested_at=now,
        )
    )
    session.flush()
    chain.append(
        session,
        ctx.store.keys,
        actor=who.name,
        action="record.report",
        subject_id=subject_id,
        detail={"record_id": candidate.key, "kind": row_record.kind, "via": "api"},
        at=now,
    )
    session.commit()
    return Reported(record_id=candidate.key, status=RecordState.ACTIVE)


def _own(session: Db, who: Principal, record_id: str) -> StoredRecord:
    row = session.get(StoredRecord, record_id)
    if row is None or row.source != who.scope_or_name:
        # Another source's record is as good as absent: its existence is not the caller's.
        raise ApiProblem(404, f"no record {record_id!r} of source {who.scope_or_name!r}")
    return row


def _not_void(session: Db, record_id: str) -> None:
    history = list(session.scalars(select(RecordStatus).where(RecordStatus.record_id == record_id)))
    status = current_status(history)
    if status in VOID:
        raise ApiProblem(409, f"record {record_id} is already {status.value}")


@router.post("/records/{record_id}/revoke", response_model=Reported)
def revoke_record(
    record_id: RecordId, body: RevokeIn, who: Agency, ctx: Ctx, session: Db
) -> Reported:
    """Revoke one of the source's records (a new status; the record itself is kept)."""
    lock_for_read(session)
    _own(session, who, record_id)
    _not_void(session, record_id)
    revoke(session, ctx.store.keys, record_id, actor=who.name, reason=body.reason, now=ctx.now())
    session.commit()
    return Reported(record_id=record_id, status=RecordState.REVOKED)


@router.post("/records/{record_id}/correct", status_code=201, response_model=Corrected)
def correct_record(
    record_id: RecordId, body: CorrectIn, who: Agency, ctx: Ctx, session: Db
) -> Corrected:
    """Supersede one of the source's records with a corrected copy, checked by the policy."""
    changes: dict[str, object] = {
        k: v for k, v in body.changes.model_dump().items() if v is not None and k in CORRECTABLE
    }
    if not changes:
        raise ApiProblem(422, "a correction must change at least one field", field="body.changes")
    lock_for_read(session)
    _own(session, who, record_id)
    _not_void(session, record_id)
    try:
        new = correct(
            session,
            ctx.store.keys,
            record_id,
            actor=who.name,
            reason=body.reason,
            changes=changes,
            new_source_record_id=body.source_record_id,
            policy=ctx.policy,
            now=ctx.now(),
        )
    except RecordStateError as exc:
        status = 409 if "exists already" in str(exc) else 422
        raise ApiProblem(status, str(exc), field="body.changes") from None
    session.commit()
    return Corrected(record_id=new.record_id, supersedes=record_id)


@router.get("/records", response_model=Page[RecordOut])
def list_records(who: Agency, ctx: Ctx, session: Db, page: Paging) -> Page[RecordOut]:
    """The records the source reported, by id (each subject's read is logged)."""
    lock_for_read(session)
    stmt = select(StoredRecord).where(StoredRecord.source == who.scope_or_name)
    if page.cursor is not None:
        stmt = stmt.where(StoredRecord.record_id > page.cursor)
    rows = list(session.scalars(stmt.order_by(StoredRecord.record_id).limit(page.limit + 1)))
    rows, nxt = paged(rows, page, lambda r: r.record_id)
    history: dict[str, list[RecordStatus]] = {r.record_id: [] for r in rows}
    if rows:
        for s in session.scalars(
            select(RecordStatus).where(RecordStatus.record_id.in_(list(history)))
        ):
            history[s.record_id].append(s)
    grant = access(who, "the source reconciles the records it reported")
    for sid in sorted({r.subject_id for r in rows}):
        log_read(session, ctx.store.keys, grant, sid, "records", at=ctx.now())
    session.commit()
    items = [RecordOut(**record_view(to_record(r, history[r.record_id]))) for r in rows]
    return Page[RecordOut](items=items, next_cursor=nxt)
