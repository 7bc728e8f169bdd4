"""Auditor routes: the hash-chained audit log, its verification, and the access events.

An auditor oversees the system rather than any one person, yet the log names subjects and
what happened to them: each page an auditor reads is logged against the subjects in it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from credence.access.auth import Principal
from credence.api.deps import (
    Ctx,
    Db,
    Page,
    Paging,
    access,
    page_of,
    role,
)
from credence.api.problems import ERRORS
from credence.api.routes_subject import AccessOut
from credence.audit.access import log_read
from credence.audit.chain import verify
from credence.audit.tables import AccessEvent, AuditEntry

router = APIRouter(prefix="/audit", tags=["auditor"], responses=ERRORS)
Auditor = Annotated[Principal, Depends(role("auditor"))]
AUDIT = "audit of the system's records of decisions and reads"
SubjectFilter = Annotated[
    str | None, Query(pattern=r"^[0-9a-f]{64}$", description="Only this subject.")
]


class AuditEntryOut(BaseModel):
    """One link of the audit chain."""

    seq: int
    at: str
    actor: str
    action: str
    subject_id: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class VerdictOut(BaseModel):
    """The chain's verification: ``ok``, or the first entry altered, deleted or inserted."""

    ok: bool
    entries: int
    head_hash: str
    problem: str | None
    seq: int | None
    message: str


class AuditAccessOut(AccessOut):
    """An access event with the subject it concerns."""

    subject_id: str


def _log_subjects(ctx: Ctx, session: Db, who: Principal, sids: set[str], what: str) -> None:
    grant = access(who, AUDIT)
    for sid in sorted(sids):
        log_read(session, ctx.store.keys, grant, sid, what, at=ctx.now())


@router.get("/log", response_model=Page[AuditEntryOut])
def audit_log(
    who: Auditor, ctx: Ctx, session: Db, page: Paging, subject_id: SubjectFilter = None
) -> Page[AuditEntryOut]:
    """Audit entries by sequence number, optionally of one subject."""
    rows, nxt = page_of(session, page, AuditEntry, AuditEntry.seq, subject_id)
    items = [
        AuditEntryOut(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            subject_id=e.subject_id,
            detail=json.loads(e.detail),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in rows
    ]
    _log_subjects(ctx, session, who, {e.subject_id for e in rows if e.subject_id}, "audit_log")
    session.commit()
    return Page[AuditEntryOut](items=items, next_cursor=nxt)


@router.get("/verify", response_model=VerdictOut)
def audit_verify(who: Auditor, ctx: Ctx, session: Db) -> VerdictOut:
    """Walk the whole chain; name the first entry that was altered, deleted or inserted."""
    v = verify(session, ctx.store.keys)
    return VerdictOut(
        ok=v.ok,
        entries=v.entries,
        head_hash=v.head_hash,
        problem=v.problem,
        seq=v.seq,
        message=v.message,
    )


@router.get("/access-events", response_model=Page[AuditAccessOut])
def access_events(
    who: Auditor, ctx: Ctx, session: Db, page: Paging, subject_id: SubjectFilter = None
) -> Page[AuditAccessOut]:
    """Every read of subjects' data (who, role, purpose, what), optionally of one subject."""
    rows, nxt = page_of(session, page, AccessEvent, AccessEvent.id, subject_id)
    items = [AuditAccessOut(**AccessOut.fields_of(a), subject_id=a.subject_id) for a in rows]
    _log_subjects(ctx, session, who, {a.subject_id for a in rows}, "access_log")
    session.commit()
    return Page[AuditAccessOut](items=items, next_cursor=nxt)
