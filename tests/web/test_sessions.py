"""Sessions, tried as an attacker would: a cookie saved before signing out is replayed, forms
come without their tokens, and the cookie's flags are read off the answer."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient

from credence.access.auth import disable_principal, rotate_key
from credence.web import create_web_router
from credence.web.app import COOKIE
from tests.web.conftest import csrf_of, sign_in, sign_in_token
from tests.web.world import World


def _replay(client: TestClient, cookie: str) -> int:
    """The status of ``/portal`` opened by another browser holding only the saved cookie."""
    thief = TestClient(client.app, cookies={COOKIE: cookie})
    return thief.get("/portal", follow_redirects=False).status_code


def test_a_cookie_saved_before_signing_out_opens_nothing_afterwards(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "alice")
    saved = client.cookies[COOKIE]
    assert _replay(client, saved) == 200
    token = csrf_of(client.get("/portal").text)
    assert client.post("/sign-out", data={"csrf": token}, follow_redirects=False).status_code == 303
    r = TestClient(client.app, cookies={COOKIE: saved}).get("/portal", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/sign-in?next=/portal")
    # Another session of the same principal is not ended by this one's sign-out.
    other = TestClient(client.app)
    sign_in(other, world, "alice")
    assert other.get("/portal", follow_redirects=False).status_code == 200


def test_disabling_the_principal_ends_its_sessions_at_once(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "alice")
    saved = client.cookies[COOKIE]
    with world.store.session() as s:
        disable_principal(s, world.store.keys, "alice", actor="operator")
        s.commit()
    assert _replay(client, saved) == 303
    assert client.get("/portal", follow_redirects=False).status_code == 303


def test_a_new_key_ends_the_sessions_of_the_old_one(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    saved = client.cookies[COOKIE]
    with world.store.session() as s:
        new = rotate_key(s, world.store.keys, "alice", actor="operator")
        s.commit()
    assert _replay(client, saved) == 303
    # The old key stops working once its remembered check runs out (one second).
    time.sleep(1.1)
    client.cookies.clear()
    data = {"api_key": world.keys["alice"], "csrf": sign_in_token(client)}
    assert client.post("/sign-in", data=data).status_code == 401  # the old key
    data = {"api_key": new, "csrf": sign_in_token(client)}
    assert client.post("/sign-in", data=data, follow_redirects=False).status_code == 303


def test_sign_out_without_the_sessions_token_is_refused(client: TestClient, world: World) -> None:
    sign_in(client, world, "alice")
    for data in ({}, {"csrf": "forged"}):
        r = client.post("/sign-out", data=data, follow_redirects=False)
        assert r.status_code == 400 and "did not come from this site" in r.text
    assert client.get("/portal", follow_redirects=False).status_code == 200  # still signed in


def test_sign_in_without_the_forms_token_is_refused(client: TestClient, world: World) -> None:
    key = world.keys["alice"]
    r = client.post("/sign-in", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 400 and "did not come from this site" in r.text
    # A token taken from another browser's form does not match this browser's form cookie.
    other = TestClient(client.app)
    stolen = sign_in_token(other)
    client.cookies.clear()
    sign_in_token(client)
    r = client.post("/sign-in", data={"api_key": key, "csrf": stolen}, follow_redirects=False)
    assert r.status_code == 400
    assert COOKIE not in client.cookies


def _session_cookie(client: TestClient, world: World) -> str:
    data = {"api_key": world.keys["alice"], "csrf": sign_in_token(client)}
    r = client.post("/sign-in", data=data, follow_redirects=False)
    assert r.status_code == 303
    found = [c for c in r.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")]
    assert len(found) == 1
    return found[0].lower()


def test_cookies_are_secure_over_https_or_when_forced(world: World) -> None:
    def app(secure: bool) -> FastAPI:
        a = FastAPI()
        a.include_router(create_web_router(world.store, world.policy, secure_cookies=secure))
        return a

    plain = _session_cookie(TestClient(app(False)), world)
    assert "secure" not in TestClient(app(False)).get("/sign-in").headers["set-cookie"].lower()
    assert "httponly" in plain and "samesite=lax" in plain and "secure" not in plain
    https = _session_cookie(TestClient(app(False), base_url="https://testserver"), world)
    assert "; secure" in https
    # Forced (behind a proxy that ends TLS): even the sign-in form's cookie is Secure, which a
    # browser then sends only over HTTPS.
    form = TestClient(app(True)).get("/sign-in").headers["set-cookie"].lower()
    assert "; secure" in form
    forced = _session_cookie(TestClient(app(True), base_url="https://testserver"), world)
    assert "; secure" in forced
