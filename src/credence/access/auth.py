"""Principals and their API keys: Argon2 hashes at rest, a short-lived cache in memory.

A key reads ``crd_<principal id>_<secret>``: the id finds the one hash to check, so a request
costs one Argon2 verification at most, never a scan. Argon2 is deliberately slow (tens of
milliseconds), so a verified key is remembered for ``ttl`` seconds under its SHA-256; whether its
principal was disabled is read again at most ``recheck`` seconds (one second by default) after
the last read, so a disabled principal is refused within that time.

Every key that is not good costs one Argon2 verification too (against a fixed hash when there is
no principal to check it against), so the time of an answer does not tell which principals
exist; and failed checks are limited by :class:`~credence.access.guard.Guard`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session

from credence.access.guard import Guard
from credence.audit import chain
from credence.audit.tables import AccessEvent
from credence.errors import CredenceError
from credence.store.db import Store
from credence.store.keys import Keys
from credence.store.schema import PrincipalRow

# Fields of a remembered key: (principal, its key hash, verified until, checked until).
_VERIFIED_UNTIL: Final = 2
_CHECKED_UNTIL: Final = 3
# The columns _PRINCIPAL reads: id, name, role, scope, key_hash, disabled.
_PrincipalRow = Row[int, str, str, str | None, str, bool]

ROLES = ("agency", "reviewer", "auditor", "subject", "relying_party")
KEY_PREFIX = "crd_"
SUBJECT_ID_LENGTH = 64
_hasher = PasswordHasher()


class PrincipalError(CredenceError):
    """A principal cannot be created or changed as asked."""


@dataclass(frozen=True)
class Principal:
    """Who calls: a name, a role and the scope the role is limited to."""

    id: int
    name: str
    role: str
    scope: str | None

    @property
    def scope_or_name(self) -> str:
        """The scope, or the name where the role has none of its own (a relying party)."""
        return self.scope or self.name


def check_scope(role: str, scope: str | None, name: str) -> str | None:
    """The scope a principal of ``role`` gets; refuse a missing or meaningless one."""
    if role not in ROLES:
        raise PrincipalError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == "agency":
        if not scope or ":" in scope:
            raise PrincipalError("an agency needs --scope: the source name it reports as")
        return scope
    if role == "subject":
        if not scope or len(scope) != SUBJECT_ID_LENGTH:
            raise PrincipalError("a subject needs --scope: its subject id (64 hex digits)")
        return scope.lower()
    if role == "relying_party":
        return scope or name
    if scope:
        raise PrincipalError(f"a {role} has no scope")
    return None


def new_key(principal_id: int) -> str:
    """A fresh API key for a principal (shown once, stored only as an Argon2 hash)."""
    return f"{KEY_PREFIX}{principal_id}_{secrets.token_urlsafe(32)}"


def add_principal(
    session: Session,
    keys: Keys,
    name: str,
    role: str,
    scope: str | None = None,
    *,
    actor: str,
    now: datetime | None = None,
    hasher: PasswordHasher | None = None,
) -> tuple[Principal, str]:
    """Create a principal; returns it and its API key (the only time the key is seen).

    ``hasher`` sets the Argon2 cost (the default is RFC 9106's low-memory profile); the cost is
    stored in the hash, so verification needs no setting.
    """
    when = now or datetime.now(UTC)
    name = name.strip()
    if not name:
        raise PrincipalError("a principal needs a name")
    scope = check_scope(role, scope, name)
    chain.lock(session)
    if session.scalar(select(PrincipalRow.id).where(PrincipalRow.name == name)) is not None:
        raise PrincipalError(f"a principal named {name!r} exists already")
    row = PrincipalRow(
        name=name, role=role, scope=scope, key_hash="-", created_at=when, disabled=False
    )
    session.add(row)
    session.flush()
    key = new_key(row.id)
    row.key_hash = (hasher or _hasher).hash(key)
    chain.append(
        session,
        keys,
        actor=actor,
        action="principal.add",
        detail={"principal": row.id, "name": name, "role": role, "scope": scope},
        at=when,
    )
    session.flush()
    return Principal(row.id, name, role, scope), key


def disable_principal(
    session: Session, keys: Keys, name: str, *, actor: str, now: datetime | None = None
) -> None:
    """Disable a principal: its key stops working (within the API's recheck interval)."""
    chain.lock(session)
    row = session.scalar(select(PrincipalRow).where(PrincipalRow.name == name))
    if row is None:
        raise PrincipalError(f"no principal named {name!r}")
    row.disabled = True
    chain.append(
        session,
        keys,
        actor=actor,
        action="principal.disable",
        detail={"principal": row.id, "name": name},
        at=now or datetime.now(UTC),
    )
    session.flush()


def rotate_key(
    session: Session, keys: Keys, name: str, *, actor: str, now: datetime | None = None
) -> str:
    """Give a principal a new API key (returned, shown once); the old key and sessions end."""
    chain.lock(session)
    row = session.scalar(select(PrincipalRow).where(PrincipalRow.name == name))
    if row is None:
        raise PrincipalError(f"no principal named {name!r}")
    key = new_key(row.id)
    row.key_hash = _hasher.hash(key)
    chain.append(
        session,
        keys,
        actor=actor,
        action="principal.key",
        detail={"principal": row.id, "name": name},
        at=now or datetime.now(UTC),
    )
    session.flush()
    return key


def record_lockout(
    session: Session,
    keys: Keys,
    principal: int | None,
    address: str,
    failures: int,
    block: float,
    *,
    at: datetime | None = None,
) -> None:
    """Write the audit entry for a lockout (in the caller's transaction).

    When the guessed principal is a subject's, the lockout is also an access event of that
    subject, so the person sees in "who looked" that someone tried keys for their account.
    """
    when = at or datetime.now(UTC)
    row = session.get(PrincipalRow, principal) if principal is not None else None
    if row is not None and row.role == "subject" and row.scope:
        session.add(
            AccessEvent(
                subject_id=row.scope,
                actor=f"address {address}",
                role="unauthenticated",
                purpose=f"{failures} wrong keys for your sign-in; refused for {round(block)} s",
                what="lockout",
                at=when,
            )
        )
    chain.append(
        session,
        keys,
        actor="credence",
        action="auth.lockout",
        detail={
            "principal": principal,
            "address": address,
            "failures": failures,
            "blocked_seconds": round(block),
        },
        at=when,
    )


@cache
def _dummy_hash() -> str:
    """A fixed hash that a key naming no principal is verified against, to cost the same."""
    return _hasher.hash("credence: no principal has this key")


def _lower_priority() -> None:
    """Make the calling thread (and the threads Argon2 starts for its lanes) yield the CPU."""
    # Not Linux, or not allowed: the same, at equal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


#: Where Argon2 runs: one thread at a lower priority (Linux), so that a burst of guesses leaves
#: the CPU to the requests of keys already verified, which need no Argon2 at all.
_ARGON2 = ThreadPoolExecutor(1, thread_name_prefix="argon2", initializer=_lower_priority)


def _check(key_hash: str, key: str) -> bool:
    try:
        return bool(_hasher.verify(key_hash, key))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _verify(key_hash: str, key: str) -> bool:
    """Whether ``key`` matches its Argon2 hash (one verification, on the Argon2 thread)."""
    return _ARGON2.submit(_check, key_hash, key).result()


def _verify_nothing(key: str) -> None:
    """One Argon2 verification that fails, as long as a real one."""
    _verify(_dummy_hash(), key)


def _digest(key: str) -> str:
    """What a key is remembered by (never the key itself)."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def principal_id_of(key: str) -> int | None:
    """The principal id a key names, or None when the key is not of our form."""
    if not key.startswith(KEY_PREFIX):
        return None
    head, _, secret = key[len(KEY_PREFIX) :].partition("_")
    if not head.isdigit() or len(head) > 12 or not secret:
        return None
    return int(head)


_PRINCIPAL = select(
    PrincipalRow.id,
    PrincipalRow.name,
    PrincipalRow.role,
    PrincipalRow.scope,
    PrincipalRow.key_hash,
    PrincipalRow.disabled,
).where(PrincipalRow.id == bindparam("pid"))


class Authenticator:
    """Checks API keys against their Argon2 hashes, remembering good ones.

    A verified key is remembered under its SHA-256 for ``ttl`` seconds, so Argon2 runs once per
    key and ``ttl``. Whether its principal was disabled meanwhile is read again from the store
    (one primary-key look-up, no Argon2) once the key was last checked ``recheck`` seconds ago:
    a disabled principal's key stops working within ``recheck`` seconds in every process.
    """

    def __init__(
        self, store: Store, ttl: float = 60.0, recheck: float = 1.0, guard: Guard | None = None
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.recheck = min(recheck, ttl)
        self.guard = guard or Guard()
        # digest -> (principal, its key hash, verified until, checked until), monotonic seconds.
        self._cache: dict[str, tuple[Principal, str, float, float]] = {}
        self._lock = threading.Lock()

    def remembered(self, key: str) -> Principal | None:
        """The principal of a key verified and checked lately, else None (cheap, no I/O)."""
        return self._cached(key, _CHECKED_UNTIL)

    def verified(self, key: str) -> Principal | None:
        """The principal of a key verified lately, even if its disabled-check is due (no I/O).

        Such a key may be used only after :meth:`confirm` (or :meth:`authenticate`) says so.
        """
        return self._cached(key, _VERIFIED_UNTIL)

    def _cached(self, key: str, until: Literal[2, 3]) -> Principal | None:
        """The remembered principal of a key while the entry's ``until`` field lies ahead."""
        with self._lock:
            hit = self._cache.get(_digest(key))
        if hit is not None and hit[until] > time.monotonic():
            return hit[0]
        return None

    def confirm(self, connection: Connection, key: str) -> Principal | None:
        """Whether a key verified lately is still good, read on the caller's connection.

        One primary-key look-up, no Argon2: the principal if it is still enabled with the same
        key hash (remembered as checked now), else None, and then only :meth:`authenticate` can
        tell (a disabled principal, a new key, a verification that ran out).
        """
        digest = _digest(key)
        now = time.monotonic()
        pid = principal_id_of(key)
        if pid is None:
            return None
        row = self._enabled(connection, digest, pid)
        if row is None:
            return None
        with self._lock:
            known = self._cache.get(digest)
        if known is None or known[2] <= now or known[1] != row.key_hash:
            return None
        self._remember(digest, known[0], row.key_hash, known[2], now)
        return known[0]

    def authenticate(self, key: str, address: str = "local") -> Principal | None:
        """The principal a key belongs to, or None (unknown, wrong, or disabled).

        Raises :class:`~credence.access.guard.Throttled` while the key's principal and ``address``
        (the client's) are blocked for failing too often; a key verified lately is not refused.
        """
        hit = self.remembered(key)
        if hit is not None:
            return hit
        digest = _digest(key)
        now = time.monotonic()
        pid = principal_id_of(key)
        with self._lock:
            known = self._cache.get(digest)
        verified = known is not None and known[2] > now
        if not verified:
            # Counted before the slow check, so that concurrent guesses cannot all get through
            # before the first of them fails; a good key takes its count back.
            self.guard.attempt(pid, address)
        if pid is None:
            _verify_nothing(key)
            return None
        # A Core look-up: every remembered key comes back here once per ``recheck`` seconds.
        with self.store.engine.connect() as connection:
            row = self._enabled(connection, digest, pid)
        if row is None:
            if not verified:
                _verify_nothing(key)
            return None
        if known is not None and verified and known[1] == row.key_hash:
            # Verified lately against the same stored hash and still enabled: no Argon2 again.
            principal, verified_until = known[0], known[2]
        else:
            if verified:
                self.guard.attempt(pid, address)  # a new key hash: checked, so counted
            if not _verify(row.key_hash, key):
                return None
            principal = Principal(row.id, row.name, row.role, row.scope)
            verified_until = now + self.ttl
            self.guard.succeeded(pid, address)
        self._remember(digest, principal, row.key_hash, verified_until, now)
        return principal

    def _enabled(self, connection: Connection, digest: str, pid: int) -> _PrincipalRow | None:
        """The principal's row while it is enabled; a disabled or missing one is forgotten."""
        row = connection.execute(_PRINCIPAL, {"pid": pid}).first()
        if row is None or row.disabled:
            with self._lock:
                self._cache.pop(digest, None)
            return None
        return row

    def _remember(
        self, digest: str, principal: Principal, key_hash: str, verified_until: float, now: float
    ) -> None:
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (
                principal,
                key_hash,
                verified_until,
                min(verified_until, now + self.recheck),
            )

    def forget(self) -> None:
        """Drop every remembered key (after disabling a principal, in tests)."""
        with self._lock:
            self._cache.clear()
