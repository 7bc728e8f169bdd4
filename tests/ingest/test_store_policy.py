"""The policy an ingest validates against is kept once per version and never changed in place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from credence.ingest.policies import store_policy
from credence.ingest.runs import IngestError
from tests.store.backends import Backend, policy_set

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def test_each_version_is_stored_once_and_a_changed_body_is_refused(
    sqlite_backend: Backend,
) -> None:
    policy = policy_set()
    with sqlite_backend.store.session() as session:
        store_policy(session, policy, NOW)
        store_policy(session, policy, NOW)  # the same versions again: nothing new
        session.commit()
    stored = sqlite_backend.rows("SELECT policy_id, version FROM policies ORDER BY version")
    assert stored == sorted((v.id, v.version) for v in policy.versions)
    first = policy.versions[0]
    changed = first.model_copy(update={"title": f"{first.title} (edited)"})
    with sqlite_backend.store.session() as session, pytest.raises(IngestError) as err:
        store_policy(session, replace(policy, versions=(changed, *policy.versions[1:])), NOW)
    assert str(err.value) == (
        f"policy {first.id} version {first.version} differs from the version already stored; "
        "a changed policy needs a new version"
    )
