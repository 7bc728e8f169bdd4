"""Who is signing in: an API key checked by the API's authenticator, re-read on every request.

The web's one seam with the API's principals (``credence.access.auth``): signing in checks the
key exactly as the API does (``crd_<id>_<secret>``, one Argon2 verification, the same guard
against guessing); afterwards the session (``web_sessions``) is read with its principal on every
request, so that a disabled principal is signed out at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.access.auth import Authenticator
from credence.store.schema import PrincipalRow


@dataclass(frozen=True)
class Principal:
    """A signed-in principal: name, role and scope (a subject principal's scope is its id)."""

    name: str
    role: str
    scope: str | None


def authenticate(authenticator: Authenticator, api_key: str, address: str) -> Principal | None:
    """The enabled principal whose key this is, or None (``Throttled`` when guessing)."""
    key = api_key.strip()
    if not key:
        return None
    found = authenticator.authenticate(key, address)
    return None if found is None else Principal(found.name, found.role, found.scope)


def lookup(session: Session, name: str) -> Principal | None:
    """The enabled principal of that name as it stands now, or None."""
    row = session.scalar(
        select(PrincipalRow).where(PrincipalRow.name == name, PrincipalRow.disabled.is_(False))
    )
    return None if row is None else Principal(row.name, row.role, row.scope)
