"""Objections: a subject contests a record; a reviewer upholds or overturns it in time.

Filing marks the record ``contested`` (it stops counting while open when the policy's contest
suspends). The review deadline is the policy's ``review_period`` from filing, extended once
by ``extension`` when the subject adds evidence. A missed deadline lapses the record.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.errors import CredenceError
from credence.policy.load import PolicySet
from credence.records import VOID, Status
from credence.states import OBJECTION_OPEN, ObjectionStatus
from credence.store.keys import Keys
from credence.store.records import set_status
from credence.store.schema import (
    EvidenceFile,
    Objection,
    ProcessEvent,
    RecordStatus,
    StoredRecord,
)

OPEN = OBJECTION_OPEN
# Uploaded evidence lives in the store's folder under this one; a reference inside it names a
# file, which belongs to the subject and objection it was uploaded with.
EVIDENCE_DIR = "evidence"


class ObjectionError(CredenceError):
    """An objection cannot be filed or decided as asked."""


class EvidenceNotFound(ObjectionError):
    """A reference names an uploaded file that is not the objection's subject's (or none).

    The message is the same whether the file is someone else's or does not exist, so that a
    refusal tells nothing about other subjects' files.
    """

    def __init__(self, index: int) -> None:
        super().__init__("no such uploaded evidence file of yours")
        self.index = index


def upload_ref(ref: str) -> str | None:
    """The normalised path when ``ref`` names a file in the evidence folder, else None.

    >>> upload_ref("./evidence/ab/../ab/f.pdf")
    'evidence/ab/f.pdf'
    >>> upload_ref("doc://court/123") is None
    True
    """
    path = posixpath.normpath(ref.replace("\\", "/"))
    return path if path.split("/", 1)[0] == EVIDENCE_DIR and path != EVIDENCE_DIR else None


def record_upload(
    session: Session, subject_id: str, ref: str, filename: str, data: bytes, at: datetime
) -> EvidenceFile:
    """Record a file just saved under ``ref`` as the subject's (its objection is set on attach)."""
    row = EvidenceFile(
        ref=ref,
        subject_id=subject_id,
        objection_id=None,
        filename=filename[:300],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_at=at,
    )
    session.add(row)
    session.flush()
    return row


def _owned(
    session: Session, subject_id: str, objection_id: int | None, refs: list[str]
) -> tuple[list[str], list[EvidenceFile]]:
    """The references (uploads normalised) and the upload rows; refuses one not the subject's.

    An uploaded file may be attached only by its subject, and only to the objection it was sent
    with (or, not yet attached, to the one being filed).
    """
    out, rows = [], []
    for i, ref in enumerate(refs):
        path = upload_ref(ref)
        if path is None:
            out.append(ref)
            continue
        row = session.scalar(select(EvidenceFile).where(EvidenceFile.ref == path))
        if (
            row is None
            or row.subject_id != subject_id
            or row.objection_id not in (None, objection_id)
        ):
            raise EvidenceNotFound(i)
        out.append(path)
        rows.append(row)
    return out, rows


def evidence_file(session: Session, o: Objection, ref: str) -> EvidenceFile | None:
    """The uploaded file ``ref`` names, if it belongs to objection ``o`` and its subject."""
    path = upload_ref(ref)
    if path is None:
        return None
    return session.scalar(
        select(EvidenceFile).where(
            EvidenceFile.ref == path,
            EvidenceFile.objection_id == o.id,
            EvidenceFile.subject_id == o.subject_id,
        )
    )


def _event(
    session: Session,
    keys: Keys,
    o: Objection,
    status: ObjectionStatus,
    actor: str,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    session.add(
        ProcessEvent(
            object_type="objection",
            object_id=o.id,
            status=status,
            at=at,
            actor=actor,
            detail=json.dumps(detail, sort_keys=True, default=str),
        )
    )
    chain.append(
        session,
        keys,
        actor=actor,
        action=f"process.objection.{status}",
        subject_id=o.subject_id,
        detail={"objection": o.id, "record_id": o.record_id, **detail},
        at=at,
    )
    o.status = status
    session.flush()


def file_objection(
    session: Session,
    keys: Keys,
    policy: PolicySet,
    record_id: str,
    *,
    statement: str,
    evidence: list[str] | None = None,
    actor: str,
    now: datetime | None = None,
) -> Objection:
    """File an objection against a record; the record becomes ``contested``."""
    when = now or datetime.now(UTC)
    if not statement.strip():
        raise ObjectionError("an objection needs a statement of why the record is wrong")
    record = session.get(StoredRecord, record_id)
    if record is None:
        raise ObjectionError(f"no record {record_id!r}")
    statuses = session.scalars(
        select(RecordStatus.status)
        .where(RecordStatus.record_id == record_id)
        .order_by(RecordStatus.at, RecordStatus.id)
    ).all()
    if statuses and Status(statuses[-1]) in VOID:
        raise ObjectionError(f"record {record_id} is already {statuses[-1]}")
    open_one = session.scalar(
        select(Objection.id).where(Objection.record_id == record_id, Objection.status.in_(OPEN))
    )
    if open_one is not None:
        raise ObjectionError(f"objection {open_one} against {record_id} is still open")
    refs, uploads = _owned(session, record.subject_id, None, list(evidence or []))
    version = policy.version_at(when.date()) or policy.latest
    deadline = version.contest.review_period.after(when.date())
    o = Objection(
        subject_id=record.subject_id,
        record_id=record_id,
        status=ObjectionStatus.FILED,
        filed_at=when,
        review_deadline=deadline,
        body=json.dumps({"statement": statement, "evidence": refs, "extended": False}),
        created_at=when,
    )
    session.add(o)
    session.flush()
    for row in uploads:
        row.objection_id = o.id
    _event(session, keys, o, ObjectionStatus.FILED, actor, when, {"deadline": deadline})
    _event(session, keys, o, ObjectionStatus.UNDER_REVIEW, actor, when, {})
    set_status(
        session,
        keys,
        record_id,
        Status.CONTESTED,
        actor=actor,
        reason=f"objection {o.id} filed",
        now=when,
        ref=f"objection:{o.id}",
    )
    return o


def add_evidence(
    session: Session,
    keys: Keys,
    policy: PolicySet,
    objection_id: int,
    evidence: list[str],
    *,
    actor: str,
    now: datetime | None = None,
) -> Objection:
    """Add evidence; the first time, the review deadline is extended once."""
    when = now or datetime.now(UTC)
    o = _open(session, objection_id)
    evidence, uploads = _owned(session, o.subject_id, o.id, evidence)
    for row in uploads:
        row.objection_id = o.id
    body = json.loads(o.body)
    body["evidence"] = [*body["evidence"], *evidence]
    detail: dict[str, Any] = {"evidence": evidence}
    if not body["extended"]:
        version = policy.version_at(o.filed_at.date()) or policy.latest
        o.review_deadline = version.contest.extension.after(o.review_deadline)
        body["extended"] = True
        detail["deadline"] = o.review_deadline
    o.body = json.dumps(body)
    _event(session, keys, o, ObjectionStatus.UNDER_REVIEW, actor, when, detail)
    return o


def decide(
    session: Session,
    keys: Keys,
    objection_id: int,
    outcome: str,
    *,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> Objection:
    """Uphold the record (refuse the objection; a reason is required) or overturn it."""
    when = now or datetime.now(UTC)
    if outcome not in ("upheld", "overturned"):
        raise ObjectionError("outcome must be 'upheld' or 'overturned'")
    if outcome == "upheld" and not reason.strip():
        raise ObjectionError("refusing an objection (upholding the record) needs a reason")
    o = _open(session, objection_id)
    if when.date() > o.review_deadline:
        raise ObjectionError(
            f"the review deadline {o.review_deadline} has passed: the record has lapsed"
        )
    body = json.loads(o.body)
    body.update({"decision_reason": reason, "decided_by": actor, "decided_at": when.isoformat()})
    o.body = json.dumps(body)
    o.outcome = outcome
    _event(session, keys, o, ObjectionStatus(outcome), actor, when, {"reason": reason})
    status = Status.UPHELD if outcome == "upheld" else Status.OVERTURNED
    set_status(
        session,
        keys,
        o.record_id,
        status,
        actor=actor,
        reason=reason,
        now=when,
        ref=f"objection:{o.id}",
    )
    return o


def lapse_due(
    session: Session, keys: Keys, day: date, *, actor: str, subject_id: str | None = None
) -> list[Objection]:
    """Lapse every open objection whose review deadline ended before ``day``."""
    stmt = select(Objection).where(Objection.status.in_(OPEN), Objection.review_deadline < day)
    if subject_id is not None:
        stmt = stmt.where(Objection.subject_id == subject_id)
    lapsed = []
    for o in session.scalars(stmt.order_by(Objection.id)).all():
        at = datetime.combine(o.review_deadline + timedelta(days=1), time(), tzinfo=UTC)
        o.outcome = ObjectionStatus.LAPSED
        _event(session, keys, o, ObjectionStatus.LAPSED, actor, at, {"deadline": o.review_deadline})
        set_status(
            session,
            keys,
            o.record_id,
            Status.LAPSED,
            actor=actor,
            reason=f"review deadline {o.review_deadline} of objection {o.id} missed",
            now=at,
            ref=f"objection:{o.id}",
        )
        lapsed.append(o)
    return lapsed


def _open(session: Session, objection_id: int) -> Objection:
    o = session.get(Objection, objection_id)
    if o is None:
        raise ObjectionError(f"no objection {objection_id}")
    if o.status not in OPEN:
        raise ObjectionError(f"objection {objection_id} is {o.status}, no longer open")
    return o
