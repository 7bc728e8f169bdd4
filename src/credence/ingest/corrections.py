"""Corrections of stored records: a corrected copy supersedes the old, checked like a new row."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.ingest.validate import Candidate, Validator
from credence.policy.load import PolicySet
from credence.records import VOID, Record, Status
from credence.store.keys import Keys
from credence.store.reader import to_record
from credence.store.records import RecordStateError, current_status, load_record
from credence.store.schema import RecordStatus, StoredRecord

CORRECTABLE = ("kind", "occurred_on", "effective_on", "amount", "evidence_ref")


def correct(
    session: Session,
    keys: Keys,
    record_id: str,
    *,
    actor: str,
    reason: str,
    changes: dict[str, object],
    new_source_record_id: str | None = None,
    policy: PolicySet | None = None,
    now: datetime | None = None,
) -> Record:
    """Supersede a record with a corrected copy; the old one becomes ``corrected_by`` it.

    The correction keeps the source and subject, gets its own ``source_record_id`` (by default
    the old one with ``~c<n>`` appended) and is validated like an ingested row.
    """
    when = now or datetime.now(UTC)
    chain.lock(session)
    row, history = load_record(session, record_id)
    was = current_status(history)
    if was in VOID:
        ref = max(history, key=lambda s: (s.at, s.id)).ref
        hint = f"; correct {ref} instead" if ref else ""
        raise RecordStateError(f"record {record_id} is already {was.value}{hint}")
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise RecordStateError(f"cannot correct {', '.join(unknown)}: only {CORRECTABLE}")
    if not changes:
        raise RecordStateError("a correction must change at least one field")
    if new_source_record_id is None:
        n = 1 + len(
            session.scalars(
                select(StoredRecord.record_id)
                .where(StoredRecord.source == row.source)
                .where(StoredRecord.source_record_id.like(f"{row.source_record_id}~c%"))
            ).all()
        )
        new_source_record_id = f"{row.source_record_id}~c{n}"
    old = to_record(row, history)
    try:
        new = replace(
            old,
            record_id=f"{row.source}:{new_source_record_id}",
            source_record_id=new_source_record_id,
            recorded_at=when,
            history=(),
            **{k: v for k, v in changes.items()},  # type: ignore[arg-type]
        )
    except ValueError as exc:
        raise RecordStateError(f"the correction is not valid: {exc}") from None
    if policy is not None:
        candidate = Candidate.of_record(0, new, national_id="")
        problems = Validator(policy, row.source, when).check(candidate)
        if problems:
            raise RecordStateError(
                "the correction is not valid: " + "; ".join(f"{f}: {r}" for f, r in problems)
            )
    if session.get(StoredRecord, new.record_id) is not None:
        raise RecordStateError(f"record {new.record_id} exists already")
    session.add(
        StoredRecord(
            record_id=new.record_id,
            source=new.source,
            source_record_id=new.source_record_id,
            subject_id=row.subject_id,
            kind=new.kind,
            occurred_on=new.occurred_on,
            effective_on=new.effective_on,
            recorded_at=new.recorded_at,
            amount=None if new.amount is None else Decimal(new.amount),
            evidence_ref=new.evidence_ref,
            supersedes=record_id,
            ingest_run_id=None,
            ingested_at=when,
        )
    )
    session.flush()
    session.add(
        RecordStatus(
            record_id=record_id,
            status=Status.CORRECTED_BY.value,
            at=when,
            ref=new.record_id,
            reason=reason,
            actor=actor,
            logged_at=when,
        )
    )
    session.flush()
    chain.append(
        session,
        keys,
        actor=actor,
        action="record.correct",
        subject_id=row.subject_id,
        detail={
            "record_id": record_id,
            "corrected_by": new.record_id,
            "changes": {k: str(v) for k, v in sorted(changes.items())},
            "reason": reason,
        },
        at=when,
    )
    return new
