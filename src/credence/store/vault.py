"""The identity vault: names and contact details, encrypted with AES-GCM, apart from records.

The ciphertext is bound to its subject (the subject id is the AES-GCM associated data), so a
row copied onto another subject does not decrypt. Every read is logged; values never reach the
audit log, only the names of the fields written.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.audit.access import Access, log_read
from credence.errors import CredenceError
from credence.store.keys import Keys
from credence.store.records import ensure_subject
from credence.store.schema import Identity


class VaultError(CredenceError):
    """An identity is missing or cannot be decrypted with this store's key."""


def put_identity(
    session: Session,
    keys: Keys,
    national_id: str,
    details: dict[str, str],
    *,
    actor: str,
    now: datetime | None = None,
) -> str:
    """Store (or replace) a subject's identity details; returns the subject id."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    when = now or datetime.now(UTC)
    chain.lock(session)
    subject_id = keys.subject_id(national_id)
    ensure_subject(session, subject_id, when)
    nonce = os.urandom(12)
    plaintext = json.dumps({"national_id": national_id, **details}, sort_keys=True).encode()
    sealed = AESGCM(keys.vault).encrypt(nonce, plaintext, subject_id.encode())
    existing = session.get(Identity, subject_id)
    if existing is None:
        session.add(
            Identity(
                subject_id=subject_id,
                key_id=keys.key_id,
                nonce=nonce,
                ciphertext=sealed,
                stored_at=when,
            )
        )
    else:
        existing.key_id, existing.nonce, existing.ciphertext = keys.key_id, nonce, sealed
        existing.stored_at = when
    session.flush()
    chain.append(
        session,
        keys,
        actor=actor,
        action="identity.write",
        subject_id=subject_id,
        detail={"fields": sorted(details)},
        at=when,
    )
    return subject_id


def get_identity(
    session: Session, keys: Keys, subject_id: str, *, access: Access, now: datetime | None = None
) -> dict[str, str]:
    """A subject's decrypted identity details (a logged read)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    row = session.get(Identity, subject_id)
    if row is None:
        raise VaultError(f"no identity stored for subject {subject_id}")
    try:
        plain = AESGCM(keys.vault).decrypt(row.nonce, row.ciphertext, subject_id.encode())
    except InvalidTag:
        raise VaultError(
            f"the identity of subject {subject_id} does not decrypt: wrong key or altered row"
        ) from None
    log_read(session, keys, access, subject_id, "identity", at=now)
    details: dict[str, str] = json.loads(plain)
    return details


def erase_identity(
    session: Session, keys: Keys, subject_id: str, *, actor: str, reason: str
) -> bool:
    """Delete a subject's identity details (erasure); records keep only the pseudonym."""
    chain.lock(session)
    result = session.execute(delete(Identity).where(Identity.subject_id == subject_id))
    erased = bool(getattr(result, "rowcount", 0))
    chain.append(
        session,
        keys,
        actor=actor,
        action="identity.erase",
        subject_id=subject_id,
        detail={"reason": reason, "erased": erased},
    )
    return erased
