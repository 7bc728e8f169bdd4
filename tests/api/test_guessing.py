"""Guessing API keys, as an attacker would: back-off, lockout, and no way to tell who exists.

Every request goes through the application (bearer keys on the API, the sign-in form on the
web); a guard with a clock the test moves stands in for waiting out the blocks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from credence.access import auth as auth_module
from credence.access.guard import Guard
from credence.audit.tables import AuditEntry
from credence.server import create_server
from tests.api.world import NOW, World

ATTACKER = ("203.0.113.9", 40000)
USER = ("198.51.100.7", 40000)


class Clock:
    """Monotonic seconds that the test moves on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app(w: World, clock: Clock) -> Any:
    app = create_server(
        w.backend.store,
        w.app.state.credence.policy,
        clock=lambda: NOW,
        guard=Guard(clock=clock),
    )
    app.state.credence.tarpit = 0.0
    return app


def _wrong(key: str) -> str:
    """A key of the same principal with a wrong secret."""
    return key[:-3] + ("bbb" if key.endswith("aaa") else "aaa")


def _lockouts(w: World) -> list[dict[str, Any]]:
    with w.backend.store.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.lockout"))
        return [json.loads(r.detail) for r in rows]


def test_wrong_keys_back_off_exponentially_then_lock_out_the_guessers_address(
    world: World,
) -> None:
    w, clock = world, Clock()
    app = _app(w, clock)
    attacker = TestClient(app, client=ATTACKER, raise_server_exceptions=False)
    user = TestClient(app, client=USER, raise_server_exceptions=False)
    bad = {"Authorization": f"Bearer {_wrong(w.keys['alice'])}"}
    # Five free failures: 401 each.
    assert [attacker.get("/me/records", headers=bad).status_code for _ in range(5)] == [401] * 5
    waits = []
    for _ in range(5):
        clock.now += waits[-1] if waits else 0  # the last block runs out
        r = attacker.get("/me/records", headers=bad)
        assert r.status_code == 401  # checked (the block had run out) and wrong
        refused = attacker.get("/me/records", headers=bad)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert "too many failed attempts" in refused.json()["detail"]
        waits.append(int(refused.headers["retry-after"]))
    assert waits == [1, 2, 4, 8, 16]
    # Locked out now: even alice's own key is refused from the guesser's address ...
    assert attacker.get("/me/records", headers=w.headers("alice")).status_code == 429
    # ... but alice, from her own address, is served.
    assert user.get("/me/records", headers=w.headers("alice")).status_code == 200
    # The lockout is in the audit chain, once, with who was guessed and from where.
    alice_id = auth_module.principal_id_of(w.keys["alice"])
    assert _lockouts(w) == [
        {"principal": alice_id, "address": ATTACKER[0], "failures": 10, "blocked_seconds": 16}
    ]
    # Alice sees it among who looked at her data: from where, how many wrong keys, how long.
    seen = user.get("/me/accesses", headers=w.headers("alice")).json()["items"]
    lockouts = [e for e in seen if e["what"] == "lockout"]
    assert [(e["actor"], e["role"], e["purpose"]) for e in lockouts] == [
        (
            f"address {ATTACKER[0]}",
            "unauthenticated",
            "10 wrong keys for your sign-in; refused for 16 s",
        )
    ]
    # A lockout is temporary: once it runs out, the right key works again.
    clock.now += 16
    assert attacker.get("/me/records", headers=w.headers("alice")).status_code == 200
    assert attacker.get("/me/records", headers=bad).status_code == 401


def test_sign_in_and_bearer_keys_share_one_count(sqlite_world: World) -> None:
    w, clock = sqlite_world, Clock()
    app = _app(w, clock)
    attacker = TestClient(app, client=ATTACKER, raise_server_exceptions=False)
    bad = _wrong(w.keys["rev"])
    for _ in range(3):
        assert (
            attacker.get("/whoami", headers={"Authorization": f"Bearer {bad}"}).status_code == 401
        )
    form = attacker.get("/sign-in").text
    token = form.split('name="csrf" value="')[1].split('"')[0]
    for _ in range(2):
        r = attacker.post("/sign-in", data={"api_key": bad, "csrf": token})
        assert r.status_code == 401 and "was not recognised" in r.text
    attacker.post("/sign-in", data={"api_key": bad, "csrf": token})  # the sixth: blocked after
    r = attacker.post("/sign-in", data={"api_key": w.keys["rev"], "csrf": token})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert "Wait 1 seconds" in r.text
    assert attacker.get("/whoami", headers=w.headers("rev")).status_code == 429


def test_one_address_guessing_many_principals_is_throttled(sqlite_world: World) -> None:
    w, clock = sqlite_world, Clock()
    attacker = TestClient(_app(w, clock), client=ATTACKER, raise_server_exceptions=False)
    # Twenty principals that do not exist, one guess each: each pair is within its allowance.
    for pid in range(1000, 1020):
        r = attacker.get("/whoami", headers={"Authorization": f"Bearer crd_{pid}_guess"})
        assert r.status_code == 401
    r = attacker.get("/whoami", headers={"Authorization": "Bearer crd_2000_guess"})
    assert r.status_code == 401  # the address's twenty-first failure: blocked from now on
    r = attacker.get("/whoami", headers={"Authorization": "Bearer crd_3000_guess"})
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    # Not of our form at all: counted (and refused) as well.
    assert attacker.get("/whoami", headers={"Authorization": "Bearer x"}).status_code == 429
    assert attacker.get("/whoami", headers=w.headers("aud")).status_code == 429
    clock.now += 1
    assert attacker.get("/whoami", headers=w.headers("aud")).status_code == 200


def test_an_unknown_principal_costs_an_argon2_verification_like_a_known_one(
    sqlite_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = sqlite_world
    real = auth_module._hasher
    calls: list[str] = []

    class Counting:
        def verify(self, h: str, k: str) -> bool:
            calls.append(k)
            return bool(real.verify(h, k))

        def hash(self, k: str) -> str:
            return str(real.hash(k))

    monkeypatch.setattr(auth_module, "_hasher", Counting())
    client = TestClient(_app(w, Clock()), raise_server_exceptions=False)
    with w.backend.store.session() as s:
        auth_module.disable_principal(s, w.backend.store.keys, "court-1", actor="admin")
        s.commit()
    guesses = [
        _wrong(w.keys["bank"]),  # a principal that exists, a wrong secret
        "crd_99999_nobody",  # no such principal
        w.keys["court-1"],  # a disabled principal's own key
        "not-a-key",  # not of our form
    ]
    for key in guesses:
        before = len(calls)
        r = client.get("/whoami", headers={"Authorization": f"Bearer {key}"})
        assert (r.status_code, r.json()["detail"]) == (401, "the API key is not valid")
        assert calls[before:] == [key], key  # one Argon2 verification each, no more, no less
