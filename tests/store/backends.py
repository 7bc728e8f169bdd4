"""Test stores on both backends: SQLite files and PostgreSQL schemas, fresh for each test.

PostgreSQL is found at ``$CREDENCE_TEST_PG_URL`` (default: the CI server on 127.0.0.1:5432,
database ``test``, trust auth). Each test gets its own schema, dropped afterwards. When the
server is unreachable the PostgreSQL tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from credence.audit import chain
from credence.policy.load import PolicySet, load_policy
from credence.store.db import Store, make_engine, migrate
from credence.store.keys import KEY_FILE, Keys, create_key_file, load_keys

SECRET = "5e" * 32
PG_URL = os.environ.get("CREDENCE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POLICY_FILE = Path(__file__).parent / "data" / "policy.yaml"
BACKENDS = ["sqlite", "postgresql"]


def policy_set() -> PolicySet:
    """The tests' two-version policy."""
    return load_policy(POLICY_FILE)


_pg_state: dict[str, str | None] = {}


def require_postgres() -> None:
    """Skip (or, under CI=true, fail) when the PostgreSQL server cannot be reached."""
    if "error" not in _pg_state:
        try:
            engine = create_engine(PG_URL)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["error"] = None
        except Exception as exc:  # any connection failure means "no server"
            _pg_state["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    error = _pg_state["error"]
    if error is not None:
        message = f"PostgreSQL at {PG_URL} is unreachable ({error})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; under CI=true the PostgreSQL tests must run")
        pytest.skip(message)


@dataclass
class Backend:
    """A fresh, initialised store and the environment a subprocess needs to reach it."""

    name: str
    store: Store
    folder: Path
    url: str

    @property
    def keys(self) -> Keys:
        """The store's keys."""
        return self.store.keys

    def env(self) -> dict[str, str]:
        """Environment for a ``credence`` subprocess on this store."""
        env = dict(os.environ)
        env["CREDENCE_DATA"] = str(self.folder)
        if self.name == "postgresql":
            env["CREDENCE_DATABASE_URL"] = self.url
        else:
            env.pop("CREDENCE_DATABASE_URL", None)
        env.pop("CREDENCE_SECRET_KEY", None)
        return env

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query, as plain tuples."""
        with self.store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def execute(self, sql: str, **params: Any) -> None:
        """Run a statement directly on the database (to tamper with it)."""
        with self.store.engine.begin() as conn:
            conn.execute(text(sql), params)


def _initialise(folder: Path, url: str, secret: str | None = None) -> Store:
    folder.mkdir(parents=True, exist_ok=True)
    if secret is not None:
        (folder / KEY_FILE).write_text(secret)
    elif not (folder / KEY_FILE).exists():
        create_key_file(folder)
    keys = load_keys(folder)
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine=engine, keys=keys, folder=folder)
    with store.session() as session:
        chain.initialise(session, keys)
        session.commit()
    return store


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh store on each backend."""
    yield from open_backend(request.param, tmp_path / "data", SECRET)


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    """A fresh SQLite store (for what only the embedded store does)."""
    yield from open_backend("sqlite", tmp_path / "data", SECRET)


def open_backend(name: str, folder: Path, secret: str | None = None) -> Iterator[Backend]:
    """A fresh store on one backend (a generator: close it to drop the store)."""
    if name == "sqlite":
        url = f"sqlite:///{folder / 'credence.db'}"
        folder.mkdir(parents=True, exist_ok=True)
        store = _initialise(folder, url, secret)
        try:
            yield Backend(name, store, folder, url)
        finally:
            store.close()
        return
    require_postgres()
    schema = "credence_test_" + secrets.token_hex(6)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        store = _initialise(folder, url, secret)
        try:
            yield Backend(name, store, folder, url)
        finally:
            store.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
