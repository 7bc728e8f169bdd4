"""What the audit needs of a store's keys: the chain's HMAC key and the id of the master key.

A protocol, so that the audit layer stays below the store: `credence.store.keys.Keys` has both.
"""

from __future__ import annotations

from typing import Protocol


class AuditKeys(Protocol):
    """The keys the chain and its checkpoints are authenticated with."""

    @property
    def audit(self) -> bytes:
        """The HMAC key of the chain (derived from the store's master secret)."""
        ...

    @property
    def key_id(self) -> str:
        """A short public id of the master secret, written into checkpoints."""
        ...
