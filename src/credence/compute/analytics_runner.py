"""The analytics computation in the background: a child process, its progress, its cancellation.

A server must answer its pages while the figures are computed, and must stop within seconds of
SIGTERM even in the middle of a computation that takes minutes. So the computation runs in a
child process (its Python work never holds the server's GIL; stopping it is ending it), which
reports its steps through a pipe and writes its results to the store itself. Of the processes
of one store (``serve --workers N``) only one computes at a time: the child takes an exclusive
``flock`` on ``analytics.lock`` in the data folder, and the others just wait for its result.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import ModuleType

from credence.audit.access import Access
from credence.policy.load import PolicySet
from credence.store.db import Store

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # no flock (Windows): each process computes on its own
    fcntl = None

# A fresh interpreter: the server's threads and open connections are not forked into it.
_CTX = multiprocessing.get_context("spawn")
LOCK_FILE = "analytics.lock"
STOP_S = 5.0
"""Seconds a child gets to end after it is told to stop, before it is killed."""

NICE = 10
"""How much lower the computation's CPU priority is than the server's."""

_LIVE: weakref.WeakSet[Refresher] = weakref.WeakSet()


@dataclass(frozen=True)
class Status:
    """Where a background computation stands."""

    running: bool
    step: str
    share: float
    error: str | None = None
    elsewhere: bool = False


class Refresher:
    """At most one background computation of one store's analytics at a time, per process."""

    def __init__(self, store: Store, policy: PolicySet) -> None:
        self.store = store
        self.policy = policy
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._status: Status | None = None
        _LIVE.add(self)

    def start(self, today: date, access: Access) -> bool:
        """Start computing the figures as of ``today`` unless a computation is running."""
        with self._lock:
            if self._proc is not None and self._proc.is_alive():
                return False
            receive, send = _CTX.Pipe(duplex=False)
            url = self.store.engine.url.render_as_string(hide_password=False)
            proc = _CTX.Process(
                target=_child,
                args=(send, str(self.store.folder), url, self.policy, today, access),
                name="credence-analytics",
                daemon=True,
            )
            self._status = Status(True, "starting", 0.0)
            proc.start()
            send.close()
            self._proc = proc
            threading.Thread(
                target=self._follow, args=(proc, receive), name="analytics-follow", daemon=True
            ).start()
            return True

    def _follow(self, proc: BaseProcess, receive: Connection) -> None:
        """Keep the child's last reported step until it ends."""
        error: str | None = None
        elsewhere = False
        try:
            while True:
                kind, text, share = receive.recv()
                if kind == "step":
                    with self._lock:
                        self._status = Status(True, text, share)
                elif kind == "error":
                    error = text
                elif kind == "elsewhere":
                    elsewhere = True
        except (EOFError, OSError):
            pass
        finally:
            receive.close()
        proc.join()
        if error is None and proc.exitcode not in (0, None):
            error = f"the computation ended with code {proc.exitcode}"
        with self._lock:
            if self._proc is proc:
                self._status = Status(False, "done", 1.0, error, elsewhere)

    def status(self) -> Status | None:
        """Where the last computation started here stands (None: none was started)."""
        with self._lock:
            return self._status

    def running(self) -> bool:
        """Whether a computation started here is still running."""
        with self._lock:
            return self._proc is not None and self._proc.is_alive()

    def cancel(self, wait: float = STOP_S) -> bool:
        """Stop a running computation (SIGTERM, then SIGKILL after ``wait`` s); True if one ran."""
        with self._lock:
            proc = self._proc
        if proc is None or not proc.is_alive():
            return False
        proc.terminate()
        proc.join(wait)
        if proc.is_alive():
            proc.kill()
            # SIGKILL cannot be refused; only the exit itself (unmapping a large DuckDB
            # process) may take more than a second on a loaded machine, so wait for it.
            proc.join()
        return True


def cancel_all() -> int:
    """Stop every computation running in this process's background; how many were running."""
    return sum(r.cancel() for r in list(_LIVE))


def _child(
    send: Connection, folder: str, url: str, policy: PolicySet, today: date, access: Access
) -> None:
    """Compute and keep the figures, telling the parent each step (runs in the child)."""
    import signal

    from credence.compute.analytics import compute
    from credence.store.db import open_store

    # The parent's SIGTERM (cancel) ends the child at once: what it kept so far stays kept.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal: the server decides
    if hasattr(os, "nice"):
        # Figures can wait; people's pages cannot: the cores go to the server's requests first.
        os.nice(NICE)
    try:
        lock = _exclusive(Path(folder))
        if lock is False:
            send.send(("elsewhere", "", 0.0))
            return
        store = open_store(Path(folder), url)
        try:
            compute(
                store,
                policy,
                today,
                access,
                progress=lambda step, share: send.send(("step", step, share)),
            )
        finally:
            store.close()
    except Exception as exc:  # reported to the page; the kept figures stay as they were
        send.send(("error", f"{type(exc).__name__}: {exc}", 0.0))
    finally:
        send.close()


def _exclusive(folder: Path) -> int | bool:
    """The analytics lock of the data folder (held until this process ends), or False if taken."""
    if fcntl is None:
        return True
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return True  # a read-only folder: compute without the lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    return fd
