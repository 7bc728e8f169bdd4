"""The records repository: append-only writes and point-in-time reads.

"The records of subject S as known at T" are the records the store held at T (``ingested_at``
before T) with the status changes it had logged by T (``logged_at`` before T). This is the
store's own transaction time, so a past decision can be reproduced exactly even when a source
reported something late. The evaluator then applies its own ``known_at`` to the domain times
(``recorded_at``, status ``at``), as the design's semantics say.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.audit.access import Access
from credence.errors import CredenceError
from credence.policy.load import PolicySet
from credence.records import VOID, Record, Status
from credence.store.keys import Keys
from credence.store.reader import inputs_of, to_record
from credence.store.schema import RecordStatus, StoredRecord, Subject


class RecordNotFound(CredenceError):
    """No record has the given id."""


class RecordStateError(CredenceError):
    """The record cannot change as asked (for instance, it is already void)."""


def records_of(
    session: Session,
    keys: Keys,
    subject_id: str,
    *,
    access: Access,
    known_at: date | datetime | None = None,
    now: datetime | None = None,
) -> list[Record]:
    """The records of one subject as the store knew them at ``known_at`` (a logged read).

    A date means the end of that day (UTC); ``None`` means everything the store holds now.
    The records of :func:`credence.store.reader.inputs_of`, which says what "known" means.
    """
    got = inputs_of(session, keys, [subject_id], known_at, access=access, now=now)
    return got[subject_id].records


def _load(session: Session, record_id: str) -> tuple[StoredRecord, list[RecordStatus]]:
    row = session.get(StoredRecord, record_id)
    if row is None:
        raise RecordNotFound(f"no record {record_id!r}")
    history = list(
        session.scalars(select(RecordStatus).where(RecordStatus.record_id == record_id)).all()
    )
    return row, history


def current_status(history: list[RecordStatus]) -> Status:
    """The latest status among a record's status rows (active when none)."""
    if not history:
        return Status.ACTIVE
    return Status(max(history, key=lambda s: (s.at, s.id)).status)


def set_status(
    session: Session,
    keys: Keys,
    record_id: str,
    status: Status,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
    ref: str | None = None,
) -> None:
    """Append a status change to a record (never to a void one) and log it."""
    when = now or datetime.now(UTC)
    chain.lock(session)
    row, history = _load(session, record_id)
    was = current_status(history)
    if was in VOID:
        raise RecordStateError(f"record {record_id} is already {was.value}; it cannot change")
    session.add(
        RecordStatus(
            record_id=record_id,
            status=status.value,
            at=when,
            ref=ref,
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
        action=f"record.{status.value}",
        subject_id=row.subject_id,
        detail={"record_id": record_id, "from": was.value, "reason": reason, "ref": ref},
        at=when,
    )


def revoke(
    session: Session,
    keys: Keys,
    record_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Revoke a record: a new status row, the record itself stays as it was reported."""
    set_status(session, keys, record_id, Status.REVOKED, actor=actor, reason=reason, now=now)


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
    from credence.ingest.validate import Candidate, Validator

    when = now or datetime.now(UTC)
    chain.lock(session)
    row, history = _load(session, record_id)
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


def ensure_subject(session: Session, subject_id: str, now: datetime) -> None:
    """Create the subject row if it does not exist yet."""
    if session.get(Subject, subject_id) is None:
        session.add(Subject(subject_id=subject_id, kind="person", created_at=now))
        session.flush()
