"""What the fast paths must not change: grouped read logs, remembered explanations and keys."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, update

from credence.api import auth as auth_module
from credence.api import readlog as readlog_module
from credence.api.app import create_app
from credence.api.deps import ApiContext
from credence.api.explained import Explanations
from credence.api.problems import ApiProblem
from credence.api.readlog import Logged, Reads
from credence.api.reads import inputs_of, load_records
from credence.audit import chain
from credence.audit.access import Access
from credence.process.state import decisions_of
from credence.store.schema import AccessEvent, AuditEntry, PrincipalRow
from tests.api.world import NOW, World


def _ctx(w: World) -> ApiContext:
    ctx: ApiContext = w.app.state.credence
    return ctx


def _fresh(w: World) -> TestClient:
    """A client of a new application on the same store: nothing remembered."""
    app = create_app(w.backend.store, _ctx(w).policy, clock=lambda: NOW)
    return TestClient(app, raise_server_exceptions=False)


def _events(w: World) -> list[tuple[str, str, str, str, str]]:
    with w.backend.store.session() as s:
        return [
            (e.subject_id, e.actor, e.role, e.purpose, e.what)
            for e in s.scalars(select(AccessEvent).order_by(AccessEvent.id))
        ]


def test_inputs_of_reads_what_load_records_and_decisions_of_read(world: World) -> None:
    w, policy_id = world, _ctx(world).policy.id
    with w.backend.store.session() as s:
        for sid in (w.alice, w.bob, "0" * 64):
            expected = (load_records(s, sid), decisions_of(s, sid, policy_id))
            assert inputs_of(s.connection(), sid, policy_id) == expected
            assert [r.history for r in expected[0]] == [
                r.history for r in inputs_of(s.connection(), sid, policy_id)[0]
            ]


def test_a_remembered_explanation_is_what_a_fresh_evaluation_gives(world: World) -> None:
    w = world
    explanations = _ctx(w).explanations
    assert explanations is not None

    def mine(**params: Any) -> Any:
        r = w.call("alice", "GET", "/me/assessment", params=params)
        assert r.status_code == 200
        fresh = _fresh(w).get("/me/assessment", headers=w.headers("alice"), params=params)
        assert fresh.content == r.content
        return r.json()

    first = mine()
    hits = explanations.hits
    assert mine() == first and explanations.hits == hits + 1
    # Other dates are other entries.
    assert mine(as_of="2026-03-01") != first
    # A new record changes the inputs: the remembered explanation is not used.
    added = w.call(
        "agency-1",
        "POST",
        "/agency/records",
        json={
            "source_record_id": "A9",
            "national_id": "NID-1",
            "kind": "major",
            "occurred_on": "2026-05-25",
        },
    )
    assert added.status_code == 201, added.text
    after_record = mine()
    assert after_record != first
    # So does a correction, and a revocation.
    corrected = w.call(
        "agency-1",
        "POST",
        "/agency/records/agency:A9/correct",
        json={"reason": "wrong kind", "changes": {"kind": "minor"}},
    )
    assert corrected.status_code == 201, corrected.text
    after_correction = mine()
    assert after_correction != after_record
    revoked = w.call(
        "agency-1", "POST", "/agency/records/agency:A2/revoke", json={"reason": "in error"}
    )
    assert revoked.status_code == 200, revoked.text
    assert mine() != after_correction


def test_concurrent_reads_share_a_commit_and_each_is_logged(world: World) -> None:
    w = world
    before = len(_events(w))
    # A log with a running clock, to see that the chain's times follow its order.
    reads = Reads(w.backend.store.engine, w.backend.keys, lambda: datetime.now(UTC))

    def job(i: int) -> Any:
        def read(connection: Connection) -> tuple[int, Logged | None]:
            connection.execute(select(AccessEvent.id).limit(1)).all()
            if i == 7:
                raise ApiProblem(404, "nothing here")
            return i, Logged(Access(f"reader-{i}", "relying_party", "tenancy"), w.bob, "status")

        return read

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(*(reads.run(job(i)) for i in range(30)), return_exceptions=True)

    outcomes = asyncio.run(all_at_once())
    # One batch: thirty reads, one commit; the job that failed is answered with its error.
    assert reads.batches == 1 and reads.committed == 29
    assert isinstance(outcomes[7], ApiProblem)
    assert [o for i, o in enumerate(outcomes) if i != 7] == [i for i in range(30) if i != 7]
    events = _events(w)[before:]
    assert [e[1] for e in events] == [f"reader-{i}" for i in range(30) if i != 7]
    with w.backend.store.session() as s:
        assert chain.verify(s, w.backend.keys).ok
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    mine = [e for e in entries if e.actor.startswith("reader-")]
    assert [e.actor for e in mine] == [e[1] for e in events]
    assert [e.at for e in mine] == sorted(e.at for e in mine)


def test_a_read_whose_log_is_not_committed_is_not_answered(
    sqlite_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = sqlite_world
    before = len(_events(w))

    def broken(*_: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(readlog_module, "log_reads", broken)
    r = w.call("bank", "POST", "/status", json={"national_id": "NID-2", "purpose": "tenancy"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "lists" not in r.json()
    r = w.call("alice", "GET", "/me/assessment")
    assert r.status_code == 500 and "score" not in r.json()
    assert len(_events(w)) == before
    monkeypatch.undo()
    # The log recovers: the next reads are answered and logged.
    r = w.call("bank", "POST", "/status", json={"national_id": "NID-2", "purpose": "tenancy"})
    assert r.status_code == 200
    assert _events(w)[before:] == [(w.bob, "bank", "relying_party", "tenancy", "status")]
    with w.backend.store.session() as s:
        assert chain.verify(s, w.backend.keys).ok


def test_a_disabled_key_stops_working_within_the_recheck_interval(world: World) -> None:
    w = world
    app = create_app(w.backend.store, _ctx(w).policy, clock=lambda: NOW, key_recheck=0.2)
    client = TestClient(app, raise_server_exceptions=False)
    bank = w.headers("bank")
    assert client.get("/whoami", headers=bank).status_code == 200
    with w.backend.store.session() as s:
        s.execute(update(PrincipalRow).where(PrincipalRow.name == "bank").values(disabled=True))
        s.commit()
    time.sleep(0.3)
    assert client.get("/whoami", headers=bank).status_code == 401
    body = {"national_id": "NID-2", "purpose": "tenancy"}
    assert client.post("/status", headers=bank, json=body).status_code == 401


def test_a_remembered_key_skips_argon2_but_not_the_disabled_check(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    auth = _ctx(w).authenticator
    key = w.keys["bank"]
    auth.recheck = 0.0
    assert auth.authenticate(key) is not None
    real = auth_module._hasher
    calls: list[str] = []

    class Counting:
        def verify(self, h: str, k: str) -> bool:
            calls.append(k)
            return bool(real.verify(h, k))

    monkeypatch.setattr(auth_module, "_hasher", Counting())
    # Due for its check: the store is read again, Argon2 is not run again.
    assert auth.remembered(key) is None
    assert auth.authenticate(key) is not None
    assert calls == []
    wrong = key[:-3] + ("bbb" if key.endswith("aaa") else "aaa")
    assert auth.authenticate(wrong) is None
    assert calls == [wrong]


def test_an_explanation_is_reused_only_for_the_very_same_inputs(sqlite_world: World) -> None:
    w = sqlite_world
    with w.backend.store.session() as s:
        records, decisions = inputs_of(s.connection(), w.alice, _ctx(w).policy.id)
    memory = Explanations(size=2)
    key = (w.alice, date(2026, 6, 2), date(2026, 6, 2))
    one = [dataclasses.replace(records[0], amount=Decimal("1.0")), *records[1:]]
    memory.put(key, one, decisions, {"score": 1})
    assert memory.get(key, list(one), decisions) == {"score": 1}
    # Equal as numbers, printed differently: not the same input.
    same_value = [dataclasses.replace(records[0], amount=Decimal("1.00")), *records[1:]]
    assert memory.get(key, same_value, decisions) is None
    assert memory.get(key, one[:-1], decisions) is None
    other = dataclasses.replace(decisions, served={**decisions.served, "x@2026-01-01": None})
    assert memory.get(key, one, other) is None
    # Bounded: the least recently used goes first.
    memory.put((w.bob, *key[1:]), one, decisions, {"score": 2})
    memory.put(("c" * 64, *key[1:]), one, decisions, {"score": 3})
    assert memory.get(key, one, decisions) is None
