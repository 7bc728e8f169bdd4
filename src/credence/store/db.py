"""Opening the store: where it lives, the engine, migrations.

The embedded default is SQLite in WAL mode at ``<data>/credence.db``; ``CREDENCE_DATABASE_URL``
points to PostgreSQL instead (e.g. ``postgresql+psycopg://user@host/db``). The data folder
always holds the secret key, whichever database is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from credence.errors import CredenceError
from credence.store.keys import Keys, load_keys

DATA_ENV = "CREDENCE_DATA"
URL_ENV = "CREDENCE_DATABASE_URL"
DB_FILE = "credence.db"
MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(CredenceError):
    """The store cannot be opened or used as asked."""


def data_dir(given: Path | None = None) -> Path:
    """The data folder: the given one, ``$CREDENCE_DATA``, or ``./credence-data``."""
    if given is not None:
        return given
    return Path(os.environ.get(DATA_ENV) or "credence-data")


def database_url(folder: Path) -> str:
    """``$CREDENCE_DATABASE_URL`` if set, else the SQLite file in the data folder."""
    return os.environ.get(URL_ENV) or f"sqlite:///{(folder / DB_FILE).resolve()}"


def make_engine(url: str) -> Engine:
    """An engine with the settings the store relies on (WAL, foreign keys, UTC)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # psycopg takes libpq options; the URL may add a search_path of its own.
        connect_args = {"options": "-c timezone=UTC"} if "options=" not in url else {}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while an ingest writes; NORMAL sync is durable at checkpoints and
    # never corrupts the file on a crash, which is what a killed ingest needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Bulk ingest inserts into indexes keyed by random HMACs; a larger page cache keeps those
    # B-trees in memory instead of re-reading pages for every row (256 MiB, allocated lazily).
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


@dataclass
class Store:
    """An opened store: its engine, its keys and where it lives."""

    engine: Engine
    keys: Keys
    folder: Path

    @property
    def url(self) -> str:
        """The database URL, without a password."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite store."""
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        """A new session (use as a context manager; commit explicitly)."""
        return sessionmaker(self.engine, expire_on_commit=False)()

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest migration (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_store(folder: Path | None = None, url: str | None = None, *, check: bool = True) -> Store:
    """Open an initialised store; with ``check``, refuse one that was never migrated."""
    where = data_dir(folder)
    keys = load_keys(where)
    engine = make_engine(url or database_url(where))
    if check and not inspect(engine).has_table("audit_head"):
        engine.dispose()
        raise StoreError(
            f"no Credence store at {engine.url.render_as_string(hide_password=True)} "
            "(run `credence init` first)"
        )
    return Store(engine=engine, keys=keys, folder=where)
