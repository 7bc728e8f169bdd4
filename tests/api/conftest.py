"""Fixtures: a world on SQLite and on PostgreSQL, and a SQLite-only one for the fuzzer."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.world import World, build
from tests.store.backends import Backend, backend, open_backend, sqlite_backend

__all__ = ["backend", "sqlite_backend"]


@pytest.fixture
def world(backend: Backend, tmp_path: Path) -> World:
    """A world on each backend."""
    return build(backend, tmp_path)


@pytest.fixture
def sqlite_world(sqlite_backend: Backend, tmp_path: Path) -> World:
    """A world on SQLite only (for what does not depend on the backend)."""
    return build(sqlite_backend, tmp_path)


@pytest.fixture(scope="module")
def module_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One SQLite world shared by a module's read-only or order-free tests."""
    tmp = tmp_path_factory.mktemp("api")
    gen = open_backend("sqlite", tmp / "data", "5e" * 32)
    b = next(gen)
    yield build(b, tmp)
    gen.close()
