"""Access events: who read which subject's data, in which role and for what declared purpose.

Every read of a subject's data goes through :func:`log_read`, which writes an access event (so
the subject can see who looked and why) and an audit-chain entry (so the log itself is provable).
A read of many subjects at once for one purpose (a chunk of a due-process run) is a
:class:`GroupRead`: still one access event per subject, but one chain entry for all of them that
holds the digest of those events (:func:`credence.audit.chain.events_digest`), which
``credence audit verify`` recomputes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, event, insert, select
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.audit.keys import AuditKeys
from credence.audit.tables import AccessEvent
from credence.errors import CredenceError

ROLES = frozenset({"agency", "reviewer", "auditor", "subject", "relying_party", "operator"})


class AccessError(CredenceError):
    """A read was asked for without a valid role or a declared purpose."""


@dataclass(frozen=True)
class Access:
    """Who reads, in what role, and why; a purpose is required for every read."""

    actor: str
    role: str
    purpose: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessError(f"role {self.role!r} is not one of {', '.join(sorted(ROLES))}")
        if not self.purpose.strip():
            raise AccessError("a read of a subject's data needs a declared purpose")
        if not self.actor.strip():
            raise AccessError("a read of a subject's data needs a named actor")


@dataclass(frozen=True)
class AccessView:
    """One access event as shown to the subject."""

    at: datetime
    actor: str
    role: str
    purpose: str
    what: str


def log_read(
    session: Session,
    keys: AuditKeys,
    access: Access,
    subject_id: str,
    what: str,
    *,
    at: datetime | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Record that ``access.actor`` read ``what`` of a subject (written as the caller commits)."""
    defer_reads(session, keys, [Read(access, subject_id, what, at or datetime.now(UTC), detail)])


@dataclass(frozen=True)
class Read:
    """One logged read to write with :func:`log_reads`: the arguments of :func:`log_read`."""

    access: Access
    subject_id: str
    what: str
    at: datetime
    detail: dict[str, object] | None = None


_INSERT_EVENT = insert(AccessEvent)


def log_reads(
    connection: Connection,
    keys: AuditKeys,
    reads: list[Read],
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Write many reads' access events and chain entries in the connection's transaction.

    What it writes is what one :func:`log_read` per read, in the same order, would write; it
    takes the chain's lock first, like every writer of the chain. With ``clock`` every read is
    stamped once the lock is held, so the chain's times never go backwards across writers.
    """
    if not reads:
        return
    # The chain's lock before the first insert, so that SQLite takes its write lock at once.
    chain.lock_connection(connection)
    if clock is not None:
        now = clock()
        reads = [replace(r, at=now) for r in reads]
    entries = [
        chain.NewEntry(
            actor=r.access.actor,
            action=f"read.{r.what}",
            detail={"role": r.access.role, "purpose": r.access.purpose, **(r.detail or {})},
            subject_id=r.subject_id,
            at=r.at,
        )
        for r in reads
    ]
    connection.execute(
        _INSERT_EVENT,
        [
            {
                "subject_id": r.subject_id,
                "actor": r.access.actor,
                "role": r.access.role,
                "purpose": r.access.purpose,
                "what": r.what,
                "at": r.at,
            }
            for r in reads
        ],
    )
    chain.append_many(connection, keys, entries)


@dataclass(frozen=True)
class GroupRead:
    """One read of many subjects for one purpose, with why each of them was read."""

    access: Access
    what: str
    at: datetime
    # Subject id -> the reasons it was read (shown after the purpose in its access event).
    why: Mapping[str, Sequence[str]]
    detail: dict[str, object] | None = None


_INSERT_EVENTS = insert(AccessEvent).returning(AccessEvent.id, sort_by_parameter_order=True)


def log_group(
    connection: Connection,
    keys: AuditKeys,
    group: GroupRead,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Write a group read in the connection's transaction: one access event per subject (one
    batch insert) and one chain entry naming the events' ids, their digest, and how many
    subjects were read for each reason."""
    if not group.why:
        return
    chain.lock_connection(connection)
    at = clock() if clock is not None else group.at
    a = group.access
    values = [
        {
            "subject_id": sid,
            "actor": a.actor,
            "role": a.role,
            "purpose": f"{a.purpose} ({', '.join(why)})" if why else a.purpose,
            "what": group.what,
            "at": at,
        }
        for sid, why in group.why.items()
    ]
    ids = list(connection.execute(_INSERT_EVENTS, values).scalars())
    rows = [
        (i, sid, a.actor, a.role, str(v["purpose"]), group.what, at)
        for i, sid, v in zip(ids, group.why, values, strict=True)
    ]
    reasons = Counter(r for why in group.why.values() for r in why)
    detail = {
        "role": a.role,
        "purpose": a.purpose,
        **(group.detail or {}),
        "subjects": len(rows),
        "why": dict(sorted(reasons.items())),
        chain.EVENTS: chain.spans(ids),
        chain.DIGEST: chain.events_digest(rows),
    }
    chain.append_many(
        connection, keys, [chain.NewEntry(a.actor, f"read.{group.what}", detail, None, at)]
    )


_DEFERRED = "credence.deferred_reads"
_DEFERRED_GROUPS = "credence.deferred_group_reads"


def defer_group(session: Session, keys: AuditKeys, group: GroupRead) -> None:
    """:func:`defer_reads` for a group read: written by :func:`log_group` before the commit."""
    if group.why:
        session.info.setdefault(_DEFERRED_GROUPS, []).append((keys, group))


def defer_reads(session: Session, keys: AuditKeys, reads: list[Read]) -> None:
    """Have the reads' access events and chain entries written when the session commits.

    Written at once, a read would take the chain's lock, which on SQLite is the database's
    write lock, and hold it until the caller commits: for a page that evaluates a subject
    between its reads and its commit, the whole request, while every other request that logs
    a read waits. Queued on the session, they are written by one :func:`log_reads` just before
    the commit, in the same transaction (all or nothing with the caller's own writes, as
    before, and never answered uncommitted); a rollback drops them.
    """
    if reads:
        session.info.setdefault(_DEFERRED, []).append((keys, reads))


@event.listens_for(Session, "before_commit")
def _write_deferred(session: Session) -> None:
    queued: list[tuple[AuditKeys, list[Read]]] | None = session.info.pop(_DEFERRED, None)
    groups: list[tuple[AuditKeys, GroupRead]] = session.info.pop(_DEFERRED_GROUPS, [])
    if not queued and not groups:
        return
    session.flush()  # the caller's own rows first, as when each read was written at once
    if queued:
        log_reads(session.connection(), queued[0][0], [r for _, batch in queued for r in batch])
    for keys, group in groups:
        log_group(session.connection(), keys, group)


@event.listens_for(Session, "after_rollback")
def _drop_deferred(session: Session) -> None:
    session.info.pop(_DEFERRED, None)
    session.info.pop(_DEFERRED_GROUPS, None)


def accesses_of(
    session: Session,
    keys: AuditKeys,
    subject_id: str,
    access: Access,
    *,
    at: datetime | None = None,
) -> list[AccessView]:
    """Every access to a subject's data, oldest first (this read is logged too)."""
    rows = session.scalars(
        select(AccessEvent).where(AccessEvent.subject_id == subject_id).order_by(AccessEvent.id)
    ).all()
    views = [AccessView(r.at, r.actor, r.role, r.purpose, r.what) for r in rows]
    log_read(session, keys, access, subject_id, "access_log", at=at)
    return views
