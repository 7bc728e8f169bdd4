"""WAL checkpoints from a thread of their own: the WAL stays short and nothing is lost."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from credence.store.checkpoints import WalCheckpointer
from credence.store.db import make_engine

PAGE = 16384 + 24  # a WAL frame: a page of the store and its header
BOUND = 512  # frames


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, who TEXT, what TEXT)"))
        conn.execute(text("CREATE INDEX ix_events_who ON events (who)"))
    return engine


def _write(engine: Engine, lock: threading.Lock, commits: int) -> int:
    """Commit ``commits`` small transactions under the lock; the WAL's largest size seen.

    A pause after each commit stands in for a server's reads between its writes (and lets the
    checkpoint thread have the GIL and the lock).
    """
    largest = 0
    wal = Path(str(engine.url.database) + "-wal")
    with engine.connect() as conn:
        for i in range(commits):
            with lock:
                conn.execute(
                    text("INSERT INTO events (who, what) VALUES (:who, :what)"),
                    [{"who": os.urandom(16).hex(), "what": "read"} for _ in range(4)],
                )
                conn.commit()
            time.sleep(0.0005)
            if i % 10 == 0:
                largest = max(largest, wal.stat().st_size)
    return largest


def _unchecked(engine: Engine) -> Engine:
    engine.dispose()
    event.listen(engine, "connect", lambda c, _: c.execute("PRAGMA wal_autocheckpoint=0"))
    return engine


def test_without_checkpoints_the_wal_outgrows_the_bound(tmp_path: Path) -> None:
    """The control: automatic checkpoints off and no thread, the WAL grows past the bound."""
    engine = _unchecked(_engine(tmp_path))
    assert _write(engine, threading.Lock(), 600) > BOUND * PAGE
    engine.dispose()


def test_the_thread_keeps_the_wal_short_and_loses_nothing(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    lock = threading.Lock()
    checkpointer = WalCheckpointer.serving(engine, lock=lock, interval=0.005, restart_frames=64)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        largest = _write(engine, lock, 600)
    finally:
        checkpointer.stop()
    assert largest < BOUND * PAGE
    assert checkpointer.passes > 0 and checkpointer.restarts > 0
    engine.dispose()
    fresh = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with fresh.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 2400
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    fresh.dispose()


def test_without_a_lock_a_long_wal_is_restarted(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    checkpointer = WalCheckpointer(Path(str(engine.url.database)), restart_frames=8)
    _unchecked(engine)
    _write(engine, threading.Lock(), 20)
    frames, done = checkpointer.checkpoint()
    assert checkpointer.restarts == 1
    assert frames == done
    # The WAL was wholly copied and no reader holds it: the next commit starts it afresh.
    _write(engine, threading.Lock(), 1)
    assert checkpointer.checkpoint()[0] < 8
    engine.dispose()


def test_only_a_sqlite_file_takes_a_checkpointer() -> None:
    engine = make_engine("sqlite://")
    with pytest.raises(ValueError, match="SQLite file"):
        WalCheckpointer.serving(engine)


def test_a_failing_pass_does_not_end_the_thread(tmp_path: Path) -> None:
    """Nothing else would checkpoint the server's WAL: the thread logs the error and goes on."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 512)
    checkpointer = WalCheckpointer(broken, interval=0.005)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while checkpointer.failures < 3:
            assert time.monotonic() < deadline, "the thread stopped checkpointing"
            time.sleep(0.01)
    finally:
        checkpointer.stop()
    assert checkpointer.passes == 0
