"""What the fast paths must not change: grouped read logs, remembered explanations and keys."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, update

from credence.access import auth as auth_module
from credence.api import readlog as readlog_module
from credence.api.app import create_app
from credence.api.deps import ApiContext
from credence.api.explained import Explained, Explanations
from credence.api.problems import ApiProblem
from credence.api.readlog import Logged, Reads
from credence.api.reads import inputs_of, load_records, read_inputs
from credence.api.repeat import RepeatViews
from credence.api.routes_subject import SELF
from credence.audit import chain
from credence.audit.access import Access
from credence.audit.tables import AccessEvent, AuditEntry
from credence.ingest.corrections import correct
from credence.ingest.run import ingest_file
from credence.runs.reviews import review_measure
from credence.runs.state import decisions_of
from credence.store.records import revoke
from credence.store.schema import Notice, PrincipalRow, StoredRecord
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
        raw = read_inputs(s.connection(), w.alice, _ctx(w).policy.id)
    memory = Explanations(size=2)
    key = (w.alice, date(2026, 6, 2), date(2026, 6, 2))
    one, two, three = Explained({"score": 1}), Explained({"score": 2}), Explained({"score": 3})
    memory.put(key, raw, one)
    assert memory.get(key, tuple(raw)) is one
    # Any row that differs, in any of the four reads, or one row more or less: not the same.
    records = list(raw[0])
    changed = (*records[0][:-1], "other"), *records[1:]
    assert memory.get(key, (changed, *raw[1:])) is None
    assert memory.get(key, (tuple(records[:-1]), *raw[1:])) is None
    assert memory.get(key, (*raw[:2], (*raw[2], ("x@2026-01-01", None)), *raw[3:])) is None
    # Equal as numbers, printed differently (PostgreSQL's driver gives Decimals): not the same.
    assert memory.get(key, (*raw[:4], ("1.0",) * len(records))) is None
    # Bounded: the least recently used goes first.
    memory.put((w.bob, *key[1:]), raw, two)
    memory.put(("c" * 64, *key[1:]), raw, three)
    assert memory.get(key, raw) is None


def test_amount_texts_are_part_of_the_inputs(sqlite_world: World) -> None:
    w = sqlite_world
    policy_id = _ctx(w).policy.id
    with w.backend.store.session() as s:
        raw = read_inputs(s.connection(), w.alice, policy_id)
        record_id = raw[0][0][0]
        s.execute(
            update(StoredRecord)
            .where(StoredRecord.record_id == record_id)
            .values(amount=Decimal("1.0"))
        )
        one = read_inputs(s.connection(), w.alice, policy_id)
        s.execute(
            update(StoredRecord)
            .where(StoredRecord.record_id == record_id)
            .values(amount=Decimal("1.00"))
        )
        other = read_inputs(s.connection(), w.alice, policy_id)
        s.rollback()
    assert one != raw and one != other
    assert one[4][0] == "1.0" and other[4][0] == "1.00"


def test_a_write_by_any_other_path_is_seen_by_the_next_explanation(world: World) -> None:
    """Writes that do not go through this application (the CLI, another worker, due process)
    change the rows the next request reads, and the remembered explanation is not used."""
    w = world
    ctx = _ctx(w)
    memory = ctx.explanations
    assert memory is not None
    store, keys = w.backend.store, w.backend.keys
    later = datetime(2026, 6, 2, 13, tzinfo=UTC)

    def explain() -> tuple[int, bool]:
        misses = memory.misses
        r = w.call("alice", "GET", "/me/assessment")
        assert r.status_code == 200, r.text
        fresh = _fresh(w).get("/me/assessment", headers=w.headers("alice"))
        assert r.content == fresh.content
        return int(r.json()["score"]), memory.misses > misses

    score, _ = explain()
    assert score == 9  # two majors (3 each) and three minors (1 each)
    assert explain() == (9, False)  # remembered
    # A record ingested from a file by the CLI: one more minor.
    path = w.backend.folder / "more.csv"
    path.write_text(
        "source,source_record_id,subject_id,kind,occurred_on\nagency,A6,NID-1,minor,2026-05-20\n"
    )
    ingest_file(store, path, source="agency", policy=ctx.policy, actor="cli", now=later)
    assert explain() == (10, True)
    assert explain() == (10, False)
    # Its correction, through the store, by another process: minor -> major.
    with store.session() as s:
        correct(
            s,
            keys,
            "agency:A6",
            actor="cli",
            reason="wrong kind",
            changes={"kind": "major"},
            now=later,
        )
        s.commit()
    assert explain() == (12, True)
    # A revocation of one of the old minors.
    with store.session() as s:
        revoke(s, keys, "agency:A2", actor="cli", reason="in error", now=later)
        s.commit()
    assert explain() == (11, True)
    assert explain() == (11, False)
    # A due-process decision: the ban awaiting review is approved (the measure's body changes
    # in place), then a notice's service date is changed in place.
    with store.session() as s:
        review_measure(
            s, keys, w.measure_id, approve=True, reason="checked", actor="rev", on=date(2026, 6, 2)
        )
        s.commit()
    assert explain() == (11, True)
    with store.session() as s:
        s.execute(
            update(Notice).where(Notice.subject_id == w.alice).values(served_on=date(2026, 6, 1))
        )
        s.commit()
    assert explain() == (11, True)
    assert explain() == (11, False)


def _repeat_views(app: Any) -> RepeatViews:
    layer = app.middleware_stack
    while not isinstance(layer, RepeatViews):
        layer = layer.app
    return layer


def test_a_repeat_view_answers_as_the_route_does(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    first = w.call("alice", "GET", "/me/assessment")  # the key is verified by the application
    repeat = _repeat_views(w.app)
    before, events = repeat.answered, len(_events(w))
    again = w.call("alice", "GET", "/me/assessment")
    assert repeat.answered == before + 1  # answered before the router
    assert (again.status_code, again.headers.raw, again.content) == (
        first.status_code,
        first.headers.raw,
        first.content,
    )
    assert _events(w)[events:] == [(w.alice, "alice", "subject", SELF, "assessment")]
    # Parameters, another role, no key, a key not remembered: the application answers.
    for name, params in (("alice", {"as_of": "2026-06-02"}), ("bank", {}), (None, {})):
        r = w.call(name, "GET", "/me/assessment", params=params)
        assert r.status_code in (200, 401, 403)
    assert repeat.answered == before + 1
    monkeypatch.setattr(_ctx(w).authenticator, "remembered", lambda key: None)
    monkeypatch.setattr(_ctx(w).authenticator, "verified", lambda key: None)
    slow = w.call("alice", "GET", "/me/assessment")
    assert repeat.answered == before + 1
    assert (slow.headers.raw, slow.content) == (first.headers.raw, first.content)


def test_a_repeat_view_refused_by_the_policy_is_the_routes_problem(world: World) -> None:
    w = world
    app = create_app(
        w.backend.store, _ctx(w).policy, clock=lambda: datetime(2025, 6, 1, 12, tzinfo=UTC)
    )
    client = TestClient(app, raise_server_exceptions=False)
    first = client.get("/me/assessment", headers=w.headers("alice"))
    again = client.get("/me/assessment", headers=w.headers("alice"))
    assert _repeat_views(app).answered == 1
    assert first.status_code == again.status_code == 422
    assert (again.headers.raw, again.content) == (first.headers.raw, first.content)


def test_a_disabled_subject_is_refused_a_repeat_view_within_the_recheck_interval(
    world: World,
) -> None:
    w = world
    app = create_app(w.backend.store, _ctx(w).policy, clock=lambda: NOW, key_recheck=0.2)
    client = TestClient(app, raise_server_exceptions=False)
    alice = w.headers("alice")
    assert client.get("/me/assessment", headers=alice).status_code == 200
    time.sleep(0.3)
    # Due for its check: made in the read's batch; still enabled, so answered directly.
    assert client.get("/me/assessment", headers=alice).status_code == 200
    repeat = _repeat_views(app)
    assert repeat.answered == 1
    with w.backend.store.session() as s:
        s.execute(update(PrincipalRow).where(PrincipalRow.name == "alice").values(disabled=True))
        s.commit()
    events = len(_events(w))
    time.sleep(0.3)
    refused = client.get("/me/assessment", headers=alice)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["detail"] == "the API key is not valid"
    assert repeat.answered == 1 and len(_events(w)) == events  # nothing read, nothing logged
    assert client.get("/me/assessment", headers=alice).status_code == 401
