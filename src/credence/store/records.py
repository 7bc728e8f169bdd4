"""The records repository: append-only writes and point-in-time reads.

"The records of subject S as known at T" are the records the store held at T (``ingested_at``
before T) with the status changes it had logged by T (``logged_at`` before T). This is the
store's own transaction time, so a past decision can be reproduced exactly even when a source
reported something late. The evaluator then applies its own ``known_at`` to the domain times
(``recorded_at``, status ``at``), as the design's semantics say.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.audit.access import Access
from credence.errors import CredenceError
from credence.records import VOID, Record, Status
from credence.store.keys import Keys
from credence.store.reader import inputs_of
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


def load_record(session: Session, record_id: str) -> tuple[StoredRecord, list[RecordStatus]]:
    """A stored record and its status rows; `RecordNotFound` when there is none."""
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
    row, history = load_record(session, record_id)
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


def ensure_subject(session: Session, subject_id: str, now: datetime) -> None:
    """Create the subject row if it does not exist yet."""
    if session.get(Subject, subject_id) is None:
        session.add(Subject(subject_id=subject_id, kind="person", created_at=now))
        session.flush()
