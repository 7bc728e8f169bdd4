"""Every page carries its security headers, and no page needs inline code the CSP refuses."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from credence.server import create_server
from tests.web.conftest import sign_in
from tests.web.world import World

PAGES = {
    "alice": ["/portal"],
    "rita": ["/queue"],
    "audrey": ["/analytics", "/lab"],
}
# Inline code a CSP without 'unsafe-inline' would refuse: scripts without src, style
# elements and attributes, event-handler attributes, javascript: links.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE
)


def _check(r: object, *, personal: bool) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"
    if personal:
        assert headers["cache-control"] == "no-store"


def test_every_page_carries_the_headers_and_no_inline_code(
    client: TestClient, world: World
) -> None:
    for path in ("/sign-in", "/static/nothing-here"):
        _check(client.get(path), personal=False)
    for name, paths in PAGES.items():
        sign_in(client, world, name)
        for path in paths:
            r = client.get(path)
            assert r.status_code == 200, path
            _check(r, personal=True)
            found = INLINE.findall(r.text)
            assert found == [], (path, found)
    # The error page too (a page this role may not open).
    r = client.get("/portal")
    assert r.status_code == 403
    _check(r, personal=True)
    # Static files may be cached, and are not sniffed.
    css = client.get("/static/credence.css")
    assert css.headers["cache-control"] == "public, max-age=3600"
    assert css.headers["x-content-type-options"] == "nosniff"


def test_the_served_app_sets_them_on_the_api_too(world: World) -> None:
    app = create_server(world.store, world.policy)
    client = TestClient(app)
    key = {"Authorization": f"Bearer {world.keys['alice']}"}
    r = client.get("/me/records", headers=key)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # A page keeps its own policy (scripts from the site), not the API's "nothing at all".
    page = client.get("/sign-in")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/openapi.json").headers["x-content-type-options"] == "nosniff"
