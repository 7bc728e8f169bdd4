"""The status query's fast path answers exactly as the route does, and only when it may."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from credence.api.app import create_app
from credence.api.quick_status import QuickStatus
from tests.api.test_grouped import _events
from tests.api.world import NOW, World

QUERY = {"national_id": "NID-2", "purpose": "tenancy check"}


def _quick(app: Any) -> QuickStatus:
    layer = app.middleware_stack
    while not isinstance(layer, QuickStatus):
        layer = layer.app
    return layer


def test_a_remembered_relying_party_is_answered_as_the_route_answers(world: World) -> None:
    w = world
    first = w.call("bank", "POST", "/status", json=QUERY)  # the application verifies the key
    quick = _quick(w.app)
    assert first.status_code == 200 and quick.answered == 0
    events = len(_events(w))
    again = w.call("bank", "POST", "/status", json=QUERY)
    assert quick.answered == 1
    assert (again.status_code, again.headers.raw, again.content) == (
        first.status_code,
        first.headers.raw,
        first.content,
    )
    # Logged as the route logs it: who, role, purpose, what.
    assert _events(w)[events:] == [(w.bob, "bank", "relying_party", "tenancy check", "status")]


def test_what_the_fast_path_cannot_answer_goes_to_the_application(world: World) -> None:
    w = world
    assert w.call("bank", "POST", "/status", json=QUERY).status_code == 200
    quick = _quick(w.app)
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
    assert quick.answered == 0
