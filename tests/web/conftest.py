"""Fixtures: a populated store and a FastAPI app that includes the web router."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from credence.web import create_web_router
from tests.web.world import World, build, reopen


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The populated store, built once; tests work on copies."""
    w = build(tmp_path_factory.mktemp("template") / "data")
    w.close()
    yield w


@pytest.fixture
def world(template: World, tmp_path: Path) -> Iterator[World]:
    """A fresh copy of the populated store."""
    w = reopen(template, tmp_path / "data")
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """A client of an app that includes the web router, as the API app does."""
    app = FastAPI()
    app.include_router(create_web_router(world.store, world.policy))
    with TestClient(app) as c:
        yield c


def sign_in_token(client: TestClient) -> str:
    """The CSRF token of the sign-in form, as a browser gets it (with the form's cookie)."""
    return csrf_of(client.get("/sign-in").text)


def sign_in(client: TestClient, world: World, name: str) -> None:
    """Sign in as ``name`` (a fresh session)."""
    client.cookies.clear()
    data = {"api_key": world.keys[name], "csrf": sign_in_token(client)}
    r = client.post("/sign-in", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)
