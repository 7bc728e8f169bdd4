"""Storing the policy an ingest validates against: every version kept, none changed in place."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.ingest.runs import IngestError
from credence.policy.load import PolicySet
from credence.store.schema import StoredPolicy


def store_policy(session: Session, policy: PolicySet, now: datetime) -> None:
    """Keep every version of the policy used; refuse one that differs under the same version."""
    # One query for every version already kept (this runs on every ingest and due-process run).
    ids = {v.id for v in policy.versions}
    kept = {
        (policy_id, version): digest
        for policy_id, version, digest in session.execute(
            select(StoredPolicy.policy_id, StoredPolicy.version, StoredPolicy.sha256).where(
                StoredPolicy.policy_id.in_(ids)
            )
        )
    }
    for v in policy.versions:
        body = v.model_dump_json()
        sha = hashlib.sha256(body.encode()).hexdigest()
        stored = kept.get((v.id, v.version))
        if stored is None:
            session.add(
                StoredPolicy(
                    policy_id=v.id,
                    version=v.version,
                    effective_from=v.effective_from,
                    sha256=sha,
                    body=body,
                    stored_at=now,
                )
            )
            kept[(v.id, v.version)] = sha
        elif stored != sha:
            raise IngestError(
                f"policy {v.id} version {v.version} differs from the version already stored; "
                "a changed policy needs a new version"
            )
    session.flush()
