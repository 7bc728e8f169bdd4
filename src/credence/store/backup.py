"""Backup and restore of the embedded SQLite store (PostgreSQL: ``pg_dump``/``pg_restore``).

The backup uses SQLite's online backup API, so it is consistent while other processes read and
write. It holds the database only: the secret key stays in the data folder and must be backed
up separately (the vault and the audit chain cannot be read or verified without it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from credence.audit import chain
from credence.errors import CredenceError
from credence.store.db import DB_FILE, Store, make_engine
from credence.store.keys import load_keys


class BackupError(CredenceError):
    """A backup or restore cannot be done as asked."""


def _sqlite_path(store: Store) -> Path:
    if not store.is_sqlite or store.engine.url.database in (None, "", ":memory:"):
        raise BackupError(
            f"`credence backup` copies the embedded SQLite store; {store.url} is not one. "
            "For PostgreSQL use pg_dump (see docs/operations.md)."
        )
    return Path(str(store.engine.url.database))


def backup_sqlite(store: Store, dest: Path, *, actor: str, force: bool = False) -> int:
    """Log the backup in the chain, then copy the database online; returns the chain length."""
    source = _sqlite_path(store)
    if dest.exists() and not force:
        raise BackupError(f"{dest} exists; use --force to replace it")
    with store.session() as session:
        chain.append(
            session, store.keys, actor=actor, action="store.backup", detail={"dest": str(dest)}
        )
        session.commit()
        entries, _ = chain.head_of(session)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    src = sqlite3.connect(source)
    dst = sqlite3.connect(dest)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()
    return entries


def restore_sqlite(src: Path, folder: Path, *, actor: str, force: bool = False) -> chain.Verdict:
    """Copy a backup into ``folder``'s database, verify the chain, and log the restore."""
    if not src.is_file():
        raise BackupError(f"{src}: no such backup file")
    keys = load_keys(folder)
    target = folder / DB_FILE
    if target.exists() and not force:
        raise BackupError(f"{target} exists; use --force to replace it")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    dest = sqlite3.connect(target)
    try:
        with dest:
            source.backup(dest)
    finally:
        dest.close()
        source.close()
    engine = make_engine(f"sqlite:///{target.resolve()}")
    try:
        store = Store(engine=engine, keys=keys, folder=folder)
        with store.session() as session:
            verdict = chain.verify(session, keys)
            if verdict.ok:
                chain.append(
                    session, keys, actor=actor, action="store.restore", detail={"from": str(src)}
                )
                session.commit()
    finally:
        engine.dispose()
    return verdict
