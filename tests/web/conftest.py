"""Fixtures: a populated store and a FastAPI app that includes the web router."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from credence.web import create_web_router
from tests.web.world import KEYS, World, build


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh populated store."""
    w = build(tmp_path / "data")
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


def sign_in(client: TestClient, name: str) -> str:
    """Sign in as ``name``; return the session's CSRF token (read from a form)."""
    r = client.post("/sign-in", data={"api_key": KEYS[name]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return ""
