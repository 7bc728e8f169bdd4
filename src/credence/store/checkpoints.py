"""WAL checkpoints of the SQLite store from a thread of their own (for a serving process).

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 frames: that
commit copies the pages into the database file and waits for the disk. Under the API's load
(every read logs an access event and an audit entry, several frames a request) that happened
about ten times a second, and every request queued behind such a commit: it was most of the
latency tail. A serving process instead turns automatic checkpoints off on its own connections
and lets this thread copy the WAL in the background (PASSIVE: it never blocks a reader or a
writer). A passive checkpoint rarely catches up with a busy writer, and a WAL is only rewound by a
commit that finds it wholly copied, so past ``restart_frames`` the thread runs a few more
passes, each copying what came in during the last, and then one under the serving process's own
write lock, which copies the few frames left; the next commit then starts the WAL from its
beginning again. (SQLite's RESTART
checkpoint does the same, but its writers wait in the busy handler's sleeps of growing length,
which put the tail back; it remains the fallback when the WAL keeps growing anyway.)
Durability is unchanged: a commit is as safe as before (``synchronous=NORMAL``), and a
checkpoint never loses a committed transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)


class Lock(Protocol):
    """The serving process's write lock (what its writers hold while they commit)."""

    def acquire(self) -> None:
        """Wait for the lock."""

    def release(self) -> None:
        """Let the next writer in."""


class WalCheckpointer:
    """A thread that checkpoints one SQLite database's WAL every ``interval`` seconds."""

    def __init__(
        self,
        path: Path,
        *,
        lock: Lock | None = None,
        interval: float = 0.05,
        restart_frames: int = 4096,
    ) -> None:
        self.path = path
        self.lock = lock
        self.interval = interval
        self.restart_frames = restart_frames
        self.passes = 0
        self.restarts = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def serving(cls, engine: Engine, **settings: Any) -> WalCheckpointer:
        """Turn automatic checkpoints off on the engine's connections and start the thread."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database:
            raise ValueError("WAL checkpoints are for a SQLite file")
        event.listen(engine, "connect", _no_automatic_checkpoints)
        # Connections already pooled were opened with automatic checkpoints on.
        engine.dispose()
        checkpointer = cls(Path(database), **settings)
        checkpointer.start()
        return checkpointer

    def start(self) -> None:
        """Start the thread (a daemon: a checkpoint cut short by exit is safe in SQLite)."""
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current checkpoint and one last passive one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                self._guarded(connection)
            self._guarded(connection)
        finally:
            connection.close()

    def _guarded(self, connection: sqlite3.Connection) -> None:
        # A pass that fails (a disk error, a lock held past the timeout) must not end the
        # thread: without it nothing would checkpoint the server's WAL again.
        try:
            self.checkpoint(connection)
        except sqlite3.Error as exc:
            self.failures += 1
            log.warning("WAL checkpoint of %s failed: %s", self.path, exc)

    def checkpoint(self, connection: sqlite3.Connection | None = None) -> tuple[int, int]:
        """One pass, and a catch-up under the lock when the WAL is long; (frames, copied)."""
        own = connection is None
        conn = connection or sqlite3.connect(self.path, timeout=60)
        try:
            frames, done = _passive(conn)
            self.passes += 1
            if frames < self.restart_frames:
                return frames, done
            self.restarts += 1
            if self.lock is None or frames >= 4 * self.restart_frames:
                row = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                return int(row[1]), int(row[2])
            # Each pass copies what the writers added during the last one; a few passes leave
            # little for the one under the lock, whose copying and syncing writers wait for.
            for _ in range(4):
                before = frames
                frames, done = _passive(conn)
                if frames - before <= 32:
                    break
            self.lock.acquire()
            try:
                return _passive(conn)
            finally:
                self.lock.release()
        finally:
            if own:
                conn.close()


def _passive(connection: sqlite3.Connection) -> tuple[int, int]:
    _, frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames), int(done)


def _no_automatic_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
