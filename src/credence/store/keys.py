"""The store's secret and what is derived from it: subject ids, the vault key, the audit key.

One 32-byte master secret is made at ``credence init`` (file ``secret.key``, mode 0600) or taken
from ``CREDENCE_SECRET_KEY`` (64 hex digits). Separate keys are derived from it with HKDF so
that the subject-id HMAC, the identity vault and the audit chain never share a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from credence.errors import CredenceError

KEY_FILE = "secret.key"
KEY_ENV = "CREDENCE_SECRET_KEY"


class KeyError_(CredenceError):
    """The store's secret key is missing, unreadable or malformed."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    # Imported here so that pseudonymisation works without the optional package.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


@dataclass(frozen=True)
class Keys:
    """The derived keys of one store."""

    subject: bytes
    vault: bytes
    audit: bytes
    key_id: str
    _cache: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_master(cls, master: bytes) -> Keys:
        """Derive every key from the master secret."""
        if len(master) != 32:
            raise KeyError_("the master secret must be 32 bytes")
        return cls(
            subject=_derive(master, b"credence subject-id v1"),
            vault=_derive(master, b"credence identity-vault v1"),
            audit=_derive(master, b"credence audit-chain v1"),
            key_id=hashlib.sha256(b"credence key id" + master).hexdigest()[:12],
        )

    def subject_id(self, national_id: str) -> str:
        """HMAC-SHA256 (hex) of a national identifier: the only subject key the store keeps."""
        cached = self._cache.get(national_id)
        if cached is None:
            cached = hmac.digest(self.subject, national_id.encode(), "sha256").hex()
            if len(self._cache) < 5_000_000:
                self._cache[national_id] = cached
        return cached


def create_key_file(data_dir: Path) -> Path:
    """Write a new random master secret to ``data_dir/secret.key`` with mode 0600."""
    path = data_dir / KEY_FILE
    if path.exists():
        raise KeyError_(f"{path} exists already; refusing to replace a store's key")
    # O_EXCL and the mode at creation: the secret is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path


def load_keys(data_dir: Path) -> Keys:
    """The store's keys, from ``CREDENCE_SECRET_KEY`` or ``data_dir/secret.key``."""
    text = os.environ.get(KEY_ENV)
    origin = KEY_ENV
    if not text:
        path = data_dir / KEY_FILE
        origin = str(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise KeyError_(
                f"no secret key: {path} does not exist and {KEY_ENV} is not set "
                "(run `credence init` first)"
            ) from None
    try:
        master = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyError_(f"{origin}: the secret must be 64 hexadecimal digits") from None
    if len(master) != 32:
        raise KeyError_(f"{origin}: the secret must be 64 hexadecimal digits")
    return Keys.from_master(master)
