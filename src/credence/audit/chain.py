"""The hash-chained audit log: every write and every read of a subject's data, provably.

Each entry holds the hash of the previous one, and its own hash covers its sequence number,
time, actor, action, subject, detail and that previous hash. The hash is an HMAC under a key
derived from the store's secret, so that someone with write access to the database but not the
key cannot recompute a consistent chain after changing it. ``audit_head`` holds the last link
and its own MAC, which catches entries removed from or appended to the end.

:func:`verify` walks the chain and names the first entry that was altered, deleted or inserted.
An entry for a group read (many subjects read at once, :class:`credence.audit.access.GroupRead`)
names its access events' ids and holds their digest, which :func:`verify` recomputes: changing,
deleting or adding one of those events is caught like a change of the entry itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.orm import Session

from credence.audit.keys import AuditKeys
from credence.audit.tables import AccessEvent, AuditEntry, AuditHead
from credence.errors import CredenceError
from credence.sql.columns import instant_text

GENESIS = "0" * 64


class ChainError(CredenceError):
    """The audit chain cannot be appended to (for instance, it was never initialised)."""


def canonical(detail: dict[str, Any]) -> str:
    """The one JSON text of a detail mapping that the hash covers."""
    return json.dumps(
        detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def entry_hash(
    key: bytes,
    seq: int,
    at: str,
    actor: str,
    action: str,
    subject_id: str | None,
    detail: str,
    prev_hash: str,
) -> str:
    """The HMAC-SHA256 of one entry's content and its predecessor's hash."""
    body = json.dumps(
        [seq, at, actor, action, subject_id, detail, prev_hash], separators=(",", ":")
    ).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


# The detail keys of a group read's entry: its access events' id spans and their digest.
EVENTS = "events"
DIGEST = "events_digest"

EventRow = tuple[int, str, str, str, str, str, datetime]


def spans(ids: Iterable[int]) -> list[list[int]]:
    """Ascending ids as ``[first, last]`` runs of consecutive ids."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def events_digest(rows: Iterable[EventRow]) -> str:
    """The SHA-256 of access events (id, subject, actor, role, purpose, what, at) in id order."""
    h = hashlib.sha256()
    for i, sid, actor, role, purpose, what, at in sorted(rows):
        line = json.dumps([i, sid, actor, role, purpose, what, instant_text(at)])
        h.update(line.encode() + b"\n")
    return h.hexdigest()


def head_mac(key: bytes, seq: int, last_hash: str) -> str:
    """The MAC of the chain's head (its length and last hash)."""
    return hmac.new(key, f"head|{seq}|{last_hash}".encode(), hashlib.sha256).hexdigest()


def initialise(session: Session, keys: AuditKeys) -> None:
    """Create the empty chain's head (at ``credence init``); a no-op if it exists."""
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, seq=0, hash=GENESIS, mac=head_mac(keys.audit, 0, GENESIS)))
        session.flush()


def lock(session: Session) -> None:
    """Take the chain's write lock for the rest of the transaction.

    An UPDATE of the head row serialises writers on both backends: PostgreSQL locks the row,
    SQLite takes its database write lock, so no two transactions can both extend the chain.
    """
    result = session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq))
    if getattr(result, "rowcount", 1) == 0:
        raise ChainError("the audit chain has no head (run `credence init`)")


@dataclass(frozen=True)
class Appended:
    """The sequence number and hash of an appended entry."""

    seq: int
    hash: str


def append(
    session: Session,
    keys: AuditKeys,
    *,
    actor: str,
    action: str,
    detail: dict[str, Any],
    subject_id: str | None = None,
    at: datetime | None = None,
) -> Appended:
    """Append one entry in the current transaction (which commits it with the data)."""
    lock(session)
    seq, prev = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one()
    seq += 1
    when = instant_text(at or datetime.now(UTC))
    text = canonical(detail)
    digest = entry_hash(keys.audit, seq, when, actor, action, subject_id, text, prev)
    session.execute(
        insert(AuditEntry).values(
            seq=seq,
            at=when,
            actor=actor,
            action=action,
            subject_id=subject_id,
            detail=text,
            prev_hash=prev,
            hash=digest,
        )
    )
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=seq, hash=digest, mac=head_mac(keys.audit, seq, digest))
    )
    return Appended(seq, digest)


@dataclass(frozen=True)
class NewEntry:
    """One entry to append with :func:`append_many` (the same fields :func:`append` takes)."""

    actor: str
    action: str
    detail: dict[str, Any]
    subject_id: str | None
    at: datetime


# Built once: the hot path (every logged read of the API) should not rebuild and re-key these
# statements; executed through a Connection they skip the ORM's unit of work altogether.
_LOCK = update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq)
_READ_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_INSERT_ENTRY = insert(AuditEntry)
_SET_HEAD = update(AuditHead).where(AuditHead.id == 1)


def lock_connection(connection: Connection) -> None:
    """:func:`lock` for a Core connection's transaction."""
    if connection.execute(_LOCK).rowcount == 0:
        raise ChainError("the audit chain has no head (run `credence init`)")


def append_many(connection: Connection, keys: AuditKeys, entries: list[NewEntry]) -> list[Appended]:
    """Append entries, in order, in the connection's transaction (one lock, one insert batch).

    The chain is the same as that of one :func:`append` per entry in the same order: each hash
    covers its predecessor's, so they are computed here, in Python, one after the other.
    """
    if not entries:
        return []
    lock_connection(connection)
    seq, prev = connection.execute(_READ_HEAD).one()
    rows: list[dict[str, Any]] = []
    done: list[Appended] = []
    for e in entries:
        seq += 1
        when = instant_text(e.at)
        text = canonical(e.detail)
        digest = entry_hash(keys.audit, seq, when, e.actor, e.action, e.subject_id, text, prev)
        rows.append(
            {
                "seq": seq,
                "at": when,
                "actor": e.actor,
                "action": e.action,
                "subject_id": e.subject_id,
                "detail": text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        done.append(Appended(seq, digest))
        prev = digest
    connection.execute(_INSERT_ENTRY, rows)
    connection.execute(
        _SET_HEAD, {"seq": seq, "hash": prev, "mac": head_mac(keys.audit, seq, prev)}
    )
    return done


Problem = Literal["altered", "deleted", "inserted", "head", "events"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`verify`: ``problem`` is None when the chain is intact."""

    entries: int
    head_hash: str
    problem: Problem | None = None
    seq: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when no tampering was found."""
        return self.problem is None


def _mac_ok(keys: AuditKeys, e: AuditEntry) -> bool:
    expected = entry_hash(
        keys.audit, e.seq, e.at, e.actor, e.action, e.subject_id, e.detail, e.prev_hash
    )
    return hmac.compare_digest(expected, e.hash)


def _entries(session: Session) -> Iterator[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000)
    yield from session.scalars(stmt)


def verify(session: Session, keys: AuditKeys) -> Verdict:
    """Walk the whole chain and report the first altered, deleted or inserted entry."""
    head = session.get(AuditHead, 1)
    prev_hash, expected, count = GENESIS, 1, 0
    groups: list[tuple[int, str]] = []
    entries = _entries(session)
    current = next(entries, None)
    while current is not None:
        following = next(entries, None)
        e = current
        if _mac_ok(keys, e) and e.prev_hash == prev_hash and e.seq == expected:
            prev_hash, expected, count = e.hash, expected + 1, count + 1
            if e.subject_id is None and e.action.startswith("read.") and DIGEST in e.detail:
                groups.append((e.seq, e.detail))
            current = following
            continue
        return _classify(keys, e, following, prev_hash, expected, count, head)
    if head is None:
        return Verdict(count, prev_hash, "head", None, "the chain's head row is missing")
    if not hmac.compare_digest(head.mac, head_mac(keys.audit, head.seq, head.hash)):
        return Verdict(count, prev_hash, "head", head.seq, "the chain's head row was altered")
    if head.seq > count:
        return Verdict(
            count,
            prev_hash,
            "deleted",
            count + 1,
            f"entries {count + 1}..{head.seq} were deleted from the end of the chain",
        )
    if head.seq < count or head.hash != prev_hash:
        return Verdict(
            count,
            prev_hash,
            "inserted",
            head.seq + 1,
            f"entry {head.seq + 1} was inserted after the chain's last authentic entry",
        )
    # After the walk: the entries' cursor may be a server-side one, open until it ends.
    for seq, text in groups:
        problem = _events_problem(session, seq, json.loads(text))
        if problem:
            return Verdict(count, prev_hash, "events", seq, problem)
    return Verdict(count, prev_hash)


def _events_problem(session: Session, seq: int, detail: dict[str, Any]) -> str:
    """What is wrong with the access events a group read's entry names ("" when nothing)."""
    ranges: list[list[int]] = detail[EVENTS]
    rows = session.execute(
        select(
            AccessEvent.id,
            AccessEvent.subject_id,
            AccessEvent.actor,
            AccessEvent.role,
            AccessEvent.purpose,
            AccessEvent.what,
            AccessEvent.at,
        ).where(or_(*(AccessEvent.id.between(a, b) for a, b in ranges)))
    ).all()
    named = sum(b - a + 1 for a, b in ranges)
    where = ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in ranges)
    if len(rows) < named:
        return (
            f"{named - len(rows)} of the access events read by entry {seq} (ids {where}) "
            "were deleted"
        )
    if events_digest(cast(EventRow, tuple(r)) for r in rows) != detail[DIGEST]:
        return f"the access events read by entry {seq} (ids {where}) were altered"
    return ""


def _classify(
    keys: AuditKeys,
    e: AuditEntry,
    following: AuditEntry | None,
    prev_hash: str,
    expected: int,
    count: int,
    head: AuditHead | None,
) -> Verdict:
    if _mac_ok(keys, e):
        # An authentic entry whose predecessor is not the last authentic one: the MAC covers
        # seq and prev_hash, so the entries between them were removed.
        first, last = expected, max(expected, e.seq - 1)
        span = f"entry {first} was" if first == last else f"entries {first}..{last} were"
        return Verdict(
            count,
            prev_hash,
            "deleted",
            first,
            f"{span} deleted (entry {e.seq} follows entry {expected - 1})",
        )
    if following is not None and following.prev_hash == prev_hash:
        # The next entry links straight to the last authentic one: this one was slipped in.
        return Verdict(
            count, prev_hash, "inserted", e.seq, f"entry {e.seq} was inserted into the chain"
        )
    if following is not None and following.prev_hash == e.hash:
        return Verdict(count, prev_hash, "altered", e.seq, f"entry {e.seq} was altered")
    if (
        following is None
        and head is not None
        and (head.seq, head.hash) == (expected - 1, prev_hash)
    ):
        return Verdict(
            count,
            prev_hash,
            "inserted",
            e.seq,
            f"entry {e.seq} was inserted after the chain's last authentic entry",
        )
    return Verdict(
        count, prev_hash, "altered", e.seq, f"entry {e.seq} was altered (its hash does not match)"
    )


def head_of(session: Session) -> tuple[int, str]:
    """The chain's length and last hash (to note down outside the database as a witness)."""
    head = session.get(AuditHead, 1)
    if head is None:
        raise ChainError("the audit chain has no head (run `credence init`)")
    return head.seq, head.hash
