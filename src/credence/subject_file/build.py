"""Assembling a subject's file from the store: one logged read of everything held.

Records come through the store's one reader (:mod:`credence.store.reader`); the assessment,
its principal reasons and its way back are the reference evaluator's, computed exactly as
``GET /me/assessment`` computes them (no second description of their meaning).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.audit.access import Access, log_read
from credence.audit.tables import AccessEvent
from credence.engine.reference import evaluate
from credence.policy.compiled import compile_policy
from credence.policy.load import PolicySet
from credence.records import Record
from credence.store.keys import Keys
from credence.store.reader import read_rows, typed
from credence.store.schema import ListEntry, MeasureRow, Notice, Objection, OutboxMessage
from credence.subject_file.model import (
    AccessEntry,
    AssessmentEntry,
    DeliveryOut,
    ListingEntry,
    MeasureEntry,
    NoticeEntry,
    ObjectionEntry,
    PolicyVersionEntry,
    RecordEntry,
    StatusChangeOut,
    SubjectFile,
)

WHAT = "export"


def _record(policy: PolicySet, r: Record) -> RecordEntry:
    rule = compile_policy(policy).rule_then(r.kind, r.occurred_on)
    return RecordEntry(
        record_id=r.record_id,
        source=r.source,
        kind=r.kind,
        occurred_on=r.occurred_on,
        effective_on=r.effective_on,
        recorded_at=r.recorded_at,
        amount=None if r.amount is None else str(r.amount),
        evidence_ref=r.evidence_ref,
        legal_basis=rule.legal_basis if rule is not None else None,
        status=r.history[-1].status.value if r.history else "active",
        history=[StatusChangeOut(status=c.status.value, at=c.at, ref=c.ref) for c in r.history],
    )


def _objection(o: Objection) -> ObjectionEntry:
    """One objection as the file shows it (its body read once for statement and evidence)."""
    body = json.loads(o.body)
    return ObjectionEntry(
        id=o.id,
        record_id=o.record_id,
        status=o.status,
        filed_at=o.filed_at,
        review_deadline=o.review_deadline,
        outcome=o.outcome,
        statement=body.get("statement", ""),
        evidence=list(body.get("evidence", [])),
    )


def _delivery(m: OutboxMessage | None) -> DeliveryOut | None:
    if m is None:
        return None
    return DeliveryOut(
        status=m.status,
        recipient=m.recipient,
        deliver_on=m.deliver_on,
        attempts=m.attempts,
        sent_at=m.sent_at,
        served_on=m.served_on,
        last_error=m.last_error,
    )


def notice_message_ref(n: Notice) -> str:
    """The outbox reference of a notice's message (as the due-process kernel queues it)."""
    return f"notice:{n.policy_id}:{n.subject_id}:{n.ref}"


def build_file(
    session: Session,
    keys: Keys,
    policy: PolicySet,
    subject_id: str,
    access: Access,
    now: datetime,
    *,
    request_ref: str | None = None,
) -> SubjectFile | None:
    """The subject's file as of ``now`` (None when the store holds nothing of the subject);
    the read is logged (with ``request_ref``) and written when the caller commits."""
    raw = read_rows(session.connection(), subject_id, policy.id, None)
    got = typed(raw, session.get_bind().dialect, subject_id, None)
    sid = subject_id

    def rows(model: Any) -> list[Any]:
        return list(
            session.scalars(select(model).where(model.subject_id == sid).order_by(model.id))
        )

    notices: list[Notice] = rows(Notice)
    listings: list[ListEntry] = rows(ListEntry)
    measures: list[MeasureRow] = rows(MeasureRow)
    objections: list[Objection] = rows(Objection)
    accesses: list[AccessEvent] = rows(AccessEvent)
    if not (got.records or notices or listings or measures or objections):
        return None
    messages = {
        m.ref: m
        for m in session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.subject_id == sid, OutboxMessage.kind == "notice"
            )
        )
    }
    day = now.date()
    assessment = None
    if policy.version_at(day) is not None:
        result = evaluate(
            policy, got.records, day, day, subject_id=sid, decisions=got.decisions, way_back=True
        ).to_dict()
        assessment = AssessmentEntry(
            as_of=day,
            score=result["score"],
            grade=result["grade"],
            policy_version=result["policy_version"],
            reasons=result.get("reasons") or [],
            way_back=result.get("way_back"),
        )
    applied = {n.policy_version for n in notices if n.policy_id == policy.id}
    if assessment is not None:
        applied.add(assessment.policy_version)
    doc = SubjectFile(
        subject_id=sid,
        policy_id=policy.id,
        as_of=day,
        made_at=now,
        request_ref=request_ref,
        records=[_record(policy, r) for r in got.records],
        notices=[
            NoticeEntry(
                id=n.id,
                policy_id=n.policy_id,
                policy_version=n.policy_version,
                about=n.about,
                ref=n.ref,
                status=n.status,
                issued_on=n.issued_on,
                served_on=n.served_on,
                deadline=n.deadline,
                content=json.loads(n.body),
                delivery=_delivery(messages.get(notice_message_ref(n))),
            )
            for n in notices
        ],
        listings=[
            ListingEntry(
                id=e.id,
                policy_id=e.policy_id,
                list_id=e.list_id,
                status=e.status,
                entered_on=e.entered_on,
                exited_on=e.exited_on,
                detail=json.loads(e.body),
            )
            for e in listings
        ],
        measures=[
            MeasureEntry(
                id=m.id,
                policy_id=m.policy_id,
                measure_id=m.measure_id,
                status=m.status,
                in_force_from=m.in_force_from,
                until=m.until,
                detail=json.loads(m.body),
            )
            for m in measures
        ],
        objections=[_objection(o) for o in objections],
        accesses=[
            AccessEntry(at=a.at, actor=a.actor, role=a.role, purpose=a.purpose, what=a.what)
            for a in accesses
        ],
        policy_versions=[
            PolicyVersionEntry(
                version=v.version, effective_from=v.effective_from, applied=v.version in applied
            )
            for v in policy.versions
        ],
        assessment=assessment,
    )
    detail: dict[str, object] = {"as_of": day.isoformat()}
    if request_ref is not None:
        detail["request_ref"] = request_ref
    log_read(session, keys, access, sid, WHAT, at=now, detail=detail)
    return doc
