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

from sqlalchemy import Connection, Engine, create_engine, event, inspect
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


SQLITE_POOL = {"pool_size": 10, "max_overflow": 40}
"""Pooled connections of a SQLite file store (kept, and more on demand)."""


def make_engine(url: str) -> Engine:
    """An engine with the settings the store relies on (WAL, foreign keys, UTC)."""
    if url.startswith("sqlite"):
        # A server runs up to 40 request threads: with fewer pooled connections, requests wait
        # for a connection (30 s, then fail) rather than for SQLite's own lock. A file
        # database only (an in-memory one has a pool of its own kind).
        sizes = {} if url in ("sqlite://", "sqlite:///:memory:") else SQLITE_POOL
        engine = create_engine(url, connect_args={"timeout": 60}, **sizes)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # psycopg takes libpq options; the URL may add a search_path of its own.
        connect_args = {"options": "-c timezone=UTC"} if "options=" not in url else {}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Only a new, empty database takes it (a WAL database keeps its page size): 16 KiB pages
    # make shallower B-trees and a quarter of the WAL frames and writes of 4 KiB pages.
    cursor.execute("PRAGMA page_size=16384")
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
    if check:
        # A bulk load that was killed leaves its set-aside index behind: rebuild it now.
        with engine.connect() as connection:
            if bulk_load_pending(connection):
                connection.commit()
                with engine.begin() as writing:
                    end_bulk_load(writing)
    return Store(engine=engine, keys=keys, folder=where)


# What a bulk load into an empty ``records`` table sets aside and rebuilds at its end: the index
# on subject_id (keyed by random HMACs, the costliest index to keep up row by row) and the
# row-by-row check of the foreign key to subjects (on PostgreSQL a trigger per row, and the
# constraint is dropped and re-added, which checks every row; on SQLite the loading connection
# turns the check off and the end of the load checks every row).
BULK_INDEX = "ix_records_subject_id"
BULK_INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {BULK_INDEX} ON records (subject_id)"
BULK_FK = "records_subject_id_fkey"


def begin_bulk_load(connection: Connection) -> bool:
    """Set the subject index (and foreign key) of an empty ``records`` table aside.

    Call it in the transaction that holds the audit chain's lock, before the first batch.
    Returns False (and sets nothing aside) when the table holds records; it then rebuilds
    whatever an earlier, interrupted bulk load left out. Nothing is lost either way: the index
    and the constraint are rebuilt (and the constraint checked against every row) by
    :func:`end_bulk_load`, which the ingest calls at its end, the next ingest calls at its start,
    and :func:`open_store` calls whenever it finds them missing.
    """
    if connection.exec_driver_sql("SELECT 1 FROM records LIMIT 1").first() is not None:
        end_bulk_load(connection)
        return False
    connection.exec_driver_sql(f"DROP INDEX IF EXISTS {BULK_INDEX}")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ALTER TABLE records DROP CONSTRAINT IF EXISTS {BULK_FK}")
    return True


def bulk_load_pending(connection: Connection) -> bool:
    """True when a bulk load's set-aside index or constraint is missing."""
    if connection.dialect.name == "postgresql":
        found = connection.exec_driver_sql(
            "SELECT (SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'records' AND indexname = %s), "
            "(SELECT count(*) FROM pg_constraint WHERE conrelid = 'records'::regclass "
            "AND conname = %s)",
            (BULK_INDEX, BULK_FK),
        ).one()
        return not (found[0] and found[1])
    found = connection.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", (BULK_INDEX,)
    ).scalar_one()
    return not found


def end_bulk_load(connection: Connection, *, check: bool = False) -> None:
    """Rebuild what :func:`begin_bulk_load` set aside (a no-op when nothing is missing).

    With ``check``, SQLite's foreign key is checked even when the index is there already (the
    bulk load's own end: someone may have rebuilt the index while it was loading).
    """
    sqlite = connection.dialect.name != "postgresql"
    if not bulk_load_pending(connection) and not (check and sqlite):
        return
    if connection.dialect.name == "postgresql":
        # A sort in memory builds the index and checks the foreign key with one join.
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        connection.exec_driver_sql(BULK_INDEX_SQL)
        has_fk = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'records'::regclass "
            "AND conname = %s",
            (BULK_FK,),
        ).scalar_one()
        if not has_fk:
            connection.exec_driver_sql(
                f"ALTER TABLE records ADD CONSTRAINT {BULK_FK} "
                "FOREIGN KEY (subject_id) REFERENCES subjects (subject_id)"
            )
        return
    connection.exec_driver_sql(BULK_INDEX_SQL)
    # SQLite cannot drop a foreign key, so a bulk load writes with the check off (on its own
    # connection) and the check is made here, set-wise: each distinct subject once, in index
    # order, as PostgreSQL does when it re-adds the constraint.
    orphan = connection.exec_driver_sql(
        "SELECT r.subject_id FROM (SELECT DISTINCT subject_id FROM records) AS r "
        "WHERE NOT EXISTS (SELECT 1 FROM subjects AS s WHERE s.subject_id = r.subject_id) "
        "LIMIT 1"
    ).first()
    if orphan is not None:
        raise StoreError(f"records refer to a subject that does not exist: {orphan[0]}")


def initialise(folder: Path, url: str | None = None, *, actor: str) -> tuple[Store, bool]:
    """Create or update a store: key (mode 0600), schema, audit chain; True if a key was made."""
    from credence.audit import chain
    from credence.audit.tables import AuditHead
    from credence.store.keys import KEY_ENV, KEY_FILE, create_key_file

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = not os.environ.get(KEY_ENV) and not (folder / KEY_FILE).exists()
    if made:
        create_key_file(folder)
    keys = load_keys(folder)
    engine = make_engine(url or database_url(folder))
    migrate(engine)
    with Session(engine) as session:
        fresh = session.get(AuditHead, 1) is None
        chain.initialise(session, keys)
        if fresh:
            chain.append(session, keys, actor=actor, action="store.init", detail={"schema": "head"})
        session.commit()
    return Store(engine=engine, keys=keys, folder=folder), made
