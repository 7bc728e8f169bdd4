"""Who is signing in: an API key checked against the ``principals`` table (Argon2 hashes).

This is the web's one seam with the API's principals. A key is checked against every enabled
principal's hash (there are few principals: one per agency, reviewer, auditor, party and
signed-up subject); :func:`lookup` re-reads a signed-in principal on every request, so that a
disabled principal is signed out at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.store.schema import PrincipalRow

_HASHER = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """A signed-in principal: name, role and scope (a subject principal's scope is its id)."""

    name: str
    role: str
    scope: str | None


def authenticate(session: Session, api_key: str) -> Principal | None:
    """The enabled principal whose key this is, or None."""
    key = api_key.strip()
    if not key:
        return None
    rows = session.scalars(
        select(PrincipalRow).where(PrincipalRow.disabled.is_(False)).order_by(PrincipalRow.id)
    ).all()
    for row in rows:
        try:
            if _HASHER.verify(row.key_hash, key):
                return Principal(row.name, row.role, row.scope)
        except (VerificationError, InvalidHashError):
            continue
    return None


def lookup(session: Session, name: str) -> Principal | None:
    """The enabled principal of that name as it stands now, or None."""
    row = session.scalar(
        select(PrincipalRow).where(PrincipalRow.name == name, PrincipalRow.disabled.is_(False))
    )
    return None if row is None else Principal(row.name, row.role, row.scope)


def hash_key(api_key: str) -> str:
    """The Argon2 hash stored for a key (for tests and tools that create principals)."""
    return _HASHER.hash(api_key)
