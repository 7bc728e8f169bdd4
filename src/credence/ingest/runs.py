"""The bookkeeping of ingest runs: opening one, its lock while it runs, closing it as it ended.

A run is ``running`` while its process holds an exclusive lock on ``ingest-runs/<id>.lock`` in
the data folder. A process that is killed (SIGKILL, a power cut) cannot close its run, but the
lock goes with it: the next ingest from the same data folder finds the run ``running`` with
its lock free and marks it ``interrupted``. A run whose lock file is not in this folder (one
started from another machine's data folder against a shared PostgreSQL) is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.errors import CredenceError
from credence.store.db import Store
from credence.store.schema import IngestRun

LOCK_FOLDER = "ingest-runs"


class IngestError(CredenceError):
    """The file as a whole cannot be ingested (unreadable, bad header, policy clash)."""


@dataclass
class IngestSummary:
    """What one run did."""

    run_id: int
    file: str
    source: str
    policy_id: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantined: int = 0
    batches: int = 0
    seconds: float = 0.0
    fast_path: bool = False
    reasons: dict[str, int] = field(default_factory=dict)
    # Earlier runs found ``running`` with their process gone, marked interrupted by this one.
    interrupted: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def resume_hint(file: str) -> str:
    """How to finish a run that stopped: the same command again (stored rows are skipped)."""
    return (
        f"run `credence ingest {file}` again with the same --source and --policy to resume: "
        "rows already stored are skipped and none is stored twice"
    )


def _lock_path(store: Store, run_id: int) -> Path:
    return store.folder / LOCK_FOLDER / f"{run_id}.lock"


class RunLock:
    """The exclusive lock a running run holds on its lock file (released when its process ends)."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.path = _lock_path(store, run_id)
        self.handle: IO[bytes] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("wb")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            handle.write(f"{os.getpid()}\n".encode())
            handle.flush()
            self.handle = handle
        except OSError:
            # Without a lock file the run cannot be found abandoned; it is still closed as it
            # ends whenever the process lives to do it.
            self.handle = None

    def release(self) -> None:
        """Remove the lock file and let go of the lock."""
        if self.handle is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        self.handle.close()
        self.handle = None


def _abandoned(path: Path) -> bool:
    """True when the lock file exists and no process holds its lock."""
    try:
        handle = path.open("rb+")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        with contextlib.suppress(OSError):
            path.unlink()
        return True


def mark_abandoned(store: Store, actor: str, now: datetime) -> list[int]:
    """Mark ``interrupted`` every run left ``running`` by a process that is gone; their ids."""
    with store.session() as session:
        running = session.scalars(
            select(IngestRun.id).where(IngestRun.status == "running").order_by(IngestRun.id)
        ).all()
        gone = [run_id for run_id in running if _abandoned(_lock_path(store, run_id))]
        for run_id in gone:
            _close(store, session, run_id, "interrupted", actor, now, "its process is gone")
        session.commit()
    return gone


def close_run(store: Store, run_id: int, status: str, actor: str, now: datetime, why: str) -> None:
    """Mark a run that stopped early ``failed`` or ``interrupted``, with why, in the audit log."""
    with store.session() as session:
        _close(store, session, run_id, status, actor, now, why)
        session.commit()


def _close(
    store: Store, session: Session, run_id: int, status: str, actor: str, now: datetime, why: str
) -> None:
    end_run(
        session,
        store,
        run_id,
        status,
        actor=actor,
        now=now,
        action=f"ingest.{status}",
        detail={"run": run_id, "reason": why[:500]},
    )


def end_run(
    session: Session,
    store: Store,
    run_id: int,
    status: str,
    *,
    actor: str,
    now: datetime,
    action: str,
    detail: dict[str, object],
) -> None:
    """Close a ``running`` run as ``status`` and log ``action`` (in the caller's transaction).

    A run already closed (by its own process or as abandoned) is left as it is and logs nothing.
    """
    chain.lock(session)
    changed = session.execute(
        update(IngestRun)
        .where(IngestRun.id == run_id, IngestRun.status == "running")
        .values(status=status, finished_at=now)
    )
    if changed.rowcount:  # type: ignore[attr-defined]
        chain.append(session, store.keys, actor=actor, action=action, detail=detail, at=now)
