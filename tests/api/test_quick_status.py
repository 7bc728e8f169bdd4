"""The status query answers the same the first time and again, and refuses what it must."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from credence.api.app import create_app
from tests.api.test_grouped import _events
from tests.api.world import NOW, World

QUERY = {"national_id": "NID-2", "purpose": "tenancy check"}


def test_a_remembered_relying_party_is_answered_as_the_route_answers(world: World) -> None:
    w = world
    first = w.call("bank", "POST", "/status", json=QUERY)  # the key is verified
    assert first.status_code == 200
    events = len(_events(w))
    again = w.call("bank", "POST", "/status", json=QUERY)  # the key is remembered
    assert (again.status_code, again.headers.raw, again.content) == (
        first.status_code,
        first.headers.raw,
        first.content,
    )
    # Logged as the route logs it: who, role, purpose, what.
    assert _events(w)[events:] == [(w.bob, "bank", "relying_party", "tenancy check", "status")]


def test_a_remembered_key_gets_the_same_refusals_as_a_fresh_one(world: World) -> None:
    w = world
    assert w.call("bank", "POST", "/status", json=QUERY).status_code == 200
    fresh = TestClient(create_app(w.backend.store, w.app.state.credence.policy, clock=lambda: NOW))
    bank = w.headers("bank")
    cases: list[dict[str, Any]] = [
        {"json": {"national_id": "NID-2"}},  # no purpose
        {"json": {**QUERY, "extra": 1}},  # a field the route forbids
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"content": b'{"national_id": "NID-2"}', "headers": {"Content-Type": "text/plain"}},
    ]
    for case in cases:
        headers = {**bank, **case.pop("headers", {})}
        got = w.client.post("/status", headers=headers, **case)
        want = fresh.post("/status", headers=headers, **case)
        assert got.status_code == want.status_code, case
        assert got.status_code in (400, 422), case
        assert got.json() == want.json(), case
    # Another role, and no key: the application refuses them.
    assert w.call("alice", "POST", "/status", json=QUERY).status_code == 403
    assert w.call(None, "POST", "/status", json=QUERY).status_code == 401
