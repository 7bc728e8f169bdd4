"""Group commit of logged reads: many requests' access events in one transaction.

Every read of a subject's data writes an access event and its audit-chain entry, and the answer
must not leave before they are committed. One transaction per read makes the chain's lock (one
writer at a time, on either backend) the bottleneck of the whole API. :class:`Reads` lets async
routes hand their reads over as jobs: one thread at a time takes every job queued so far, runs
their reads and commits all their logs in one transaction (entries hashed in queue order), and
only then are those requests answered. If the commit fails, every request of that batch fails
with it, and none of them answers with data.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from anyio.to_thread import run_sync
from sqlalchemy import Connection, Engine

from credence.audit.access import Access, Read, log_reads
from credence.errors import CredenceError
from credence.store.keys import Keys

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows has no flock: there the processes meet at SQLite's own lock
    fcntl = None


class WriteLock:
    """SQLite's one-writer-at-a-time as an explicit queue: this process's threads, then processes.

    Waiting here is an immediate hand-over, where SQLite's own busy handler sleeps in growing
    steps (tens of milliseconds) and turns contention into tail latency. The threads of a process
    queue on a lock; the processes of one store (``credence serve --workers N``) on an exclusive
    ``flock`` of ``api-write.lock`` in the data folder. Other writers (an ingest) still meet at
    SQLite's own lock, as before.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._thread = threading.Lock()
        self._fd: int | None = None
        if folder is not None and fcntl is not None:
            try:
                self._fd = os.open(folder / "api-write.lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                self._fd = None  # a read-only folder: the processes meet at SQLite's lock
            else:
                weakref.finalize(self, os.close, self._fd)

    def acquire(self) -> None:
        """Wait for the write lock."""
        self._thread.acquire()
        if self._fd is not None and fcntl is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread.release()
                raise

    def release(self) -> None:
        """Let the next writer in."""
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread.release()

    def locked(self) -> bool:
        """Whether a thread of this process holds it."""
        return self._thread.locked()


class ReadLogError(CredenceError):
    """The batch that held this read could not be committed (the read must not be answered)."""


@dataclass(frozen=True)
class Logged:
    """The read a job made, to log: :class:`Read` without its instant (stamped in order)."""

    access: Access
    subject_id: str
    what: str
    detail: dict[str, object] | None = None


T = TypeVar("T")
# A job reads on the connection it is given and returns its answer and the read to log (None
# when it read nothing of anyone, e.g. it found nothing); raising answers its request with that.
Job = Callable[[Connection], tuple[T, Logged | None]]


class _Queue:
    __slots__ = ("draining", "pending", "task")

    def __init__(self) -> None:
        self.pending: list[tuple[Job[Any], asyncio.Future[Any]]] = []
        self.draining = False
        self.task: asyncio.Task[None] | None = None


class Reads:
    """Logged reads for async routes: the reads of many requests, then one commit of their logs.

    A request hands over a job; jobs queue on the event loop, and one thread at a time takes
    every queued job, runs them one after the other on one pooled connection, and commits all
    their access events and chain entries in one transaction (hashed in queue order). Only then
    are the requests answered, each with its own job's result. One thread hop per batch rather
    than per request, and no thread parked waiting: the event loop never blocks on the store.
    """

    def __init__(
        self,
        engine: Engine,
        keys: Keys,
        clock: Callable[[], datetime],
        serial: WriteLock | None = None,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.clock = clock
        self.serial = serial
        # One queue per event loop (a test client may run each request on a loop of its own).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )
        self.batches = 0
        self.committed = 0

    async def run(self, job: Job[T]) -> T:
        """Run a job's reads and return its result once the read it made is committed."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues.setdefault(loop, _Queue())
        future: asyncio.Future[T] = loop.create_future()
        queue.pending.append((job, future))
        if not queue.draining:
            queue.draining = True
            queue.task = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                batch, queue.pending = queue.pending, []
                try:
                    outcomes = await run_sync(self._run, [job for job, _ in batch])
                except BaseException as exc:
                    # Whatever it was, no request may hang, and none may answer with data.
                    failed = _Failed(ReadLogError("the access log could not be written"))
                    failed.error.__cause__ = exc
                    if not isinstance(exc, Exception):  # cancelled: the server is stopping
                        batch, queue.pending = batch + queue.pending, []
                        _settle(batch, [failed] * len(batch))
                        raise
                    outcomes = [failed] * len(batch)
                _settle(batch, outcomes)
        finally:
            queue.draining = False

    def _run(self, jobs: list[Job[Any]]) -> list[Any]:
        outcomes: list[Any] = []
        reads: list[tuple[int, Read]] = []
        with self.engine.connect() as connection:
            for i, job in enumerate(jobs):
                try:
                    value, logged = job(connection)
                except Exception as exc:  # this request's own answer (a 404, a 422, ...)
                    connection.rollback()
                    outcomes.append(_Failed(exc))
                    continue
                outcomes.append(value)
                if logged is not None:
                    # Restamped under the chain's lock by log_reads.
                    at = self.clock()
                    reads.append(
                        (i, Read(logged.access, logged.subject_id, logged.what, at, logged.detail))
                    )
            # The reads' transaction ends (PostgreSQL) before the write lock is queued for.
            connection.commit()
            if reads:
                try:
                    self._write(connection, [r for _, r in reads])
                except Exception as exc:
                    connection.rollback()
                    failed = _Failed(ReadLogError("the access log could not be written"))
                    failed.error.__cause__ = exc
                    for i, _ in reads:
                        outcomes[i] = failed
                else:
                    self.committed += len(reads)
        self.batches += 1
        return outcomes

    def _write(self, connection: Connection, reads: list[Read]) -> None:
        if self.serial is not None:
            self.serial.acquire()
        try:
            log_reads(connection, self.keys, reads, clock=self.clock)
            connection.commit()
        finally:
            if self.serial is not None:
                self.serial.release()


def _settle(batch: list[tuple[Job[Any], asyncio.Future[Any]]], outcomes: list[Any]) -> None:
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        if future.done():
            continue  # its request was cancelled (the client went away)
        if isinstance(outcome, _Failed):
            future.set_exception(outcome.error)
        else:
            future.set_result(outcome)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
