"""Running a simulation in a child process with a time and a memory limit.

The web lab lets any reviewer, agency or auditor start an impact run; a run over a large
population for many years could hold a server's core and memory for as long as it likes. Here
it runs in a child process whose address space is capped (``RLIMIT_AS``) and which is killed at
its deadline, so that the server's own memory never grows and a run that is too big ends with a
message saying which limit it hit. Children still running when the server stops are killed by
:func:`cancel_all`.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from credence.errors import CredenceError
from credence.sim.diff import diff_policies, resolve
from credence.sim.scenarios import Scenario

_CTX = multiprocessing.get_context("forkserver")
# Imported by a child before its memory is capped (see _child).
PRELOAD = (
    "pyarrow",
    "duckdb",
    "ibis",
    "credence.compute.batch",
    "credence.sim.grades",
    "credence.runs.run",
    "credence.ingest.run",
)
# The forkserver imports the simulator once; every run forks from it without re-importing, and
# without forking the server's own threads and open database connections.
_CTX.set_forkserver_preload(["credence.sim.limited"])
_LIVE: set[BaseProcess] = set()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Limits:
    """How long a run may take and how much memory it may use beyond its start."""

    seconds: float = 60.0
    memory_mib: int = 1024


class LimitExceeded(CredenceError):
    """A run was stopped because it hit its time or memory limit (the message says which)."""


def _address_space() -> int:
    """This process's current virtual size in bytes (Linux ``/proc``; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _child(
    send: Connection, memory_bytes: int, fn: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    """Cap this process's address space, run ``fn(*args)`` and send back its outcome."""
    # The libraries a lab run maps (Arrow, DuckDB, SQLAlchemy) are loaded before the cap: the
    # limit is on what the run itself takes, and a library refused its mapping would fail
    # with an ImportError rather than a MemoryError.
    for module in PRELOAD:
        importlib.import_module(module)
    cap = _address_space() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args))
    except (MemoryError, ImportError, SystemError):
        # Under the cap a C extension refused memory can also return an error without
        # setting one (CPython's SystemError), as seen in a loaded CI run.
        outcome = ("memory", None)
    except CredenceError as exc:
        outcome = ("error", str(exc))
    try:
        send.send(outcome)
    except MemoryError:
        send.send(("memory", None))
    finally:
        send.close()


def run_limited(fn: Callable[..., Any], args: tuple[Any, ...], limits: Limits) -> Any:
    """``fn(*args)`` run in a child process within ``limits``; raise :class:`LimitExceeded`.

    ``fn`` and ``args`` must be picklable; a :class:`CredenceError` raised by ``fn`` is raised
    here again with its message.
    """
    receive, send = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child, args=(send, limits.memory_mib * 2**20, fn, args))
    with _LOCK:
        proc.start()
        _LIVE.add(proc)
    send.close()
    try:
        if not receive.poll(limits.seconds):
            raise LimitExceeded(
                f"the run was stopped after {limits.seconds:g} seconds, its time limit: "
                "try a smaller population or fewer years"
            )
        try:
            status, value = receive.recv()
        except EOFError:
            proc.join(5)
            raise LimitExceeded(
                f"the run was stopped (its process ended with code {proc.exitcode}); it may "
                f"have needed more than its memory limit of {limits.memory_mib} MiB"
            ) from None
    finally:
        receive.close()
        _stop(proc)
    if status == "memory":
        raise LimitExceeded(
            f"the run was stopped when it needed more than {limits.memory_mib} MiB, its memory "
            "limit: try a smaller population or fewer years"
        )
    if status == "error":
        raise CredenceError(value)
    return value


def _stop(proc: BaseProcess) -> None:
    """End ``proc`` (politely, then by force) and forget it."""
    proc.join(0.5)
    if proc.is_alive():
        proc.terminate()
        proc.join(2)
    if proc.is_alive():
        proc.kill()
        proc.join(2)
    with _LOCK:
        _LIVE.discard(proc)


def cancel_all() -> int:
    """Kill every run still in progress (at shutdown); the number killed."""
    with _LOCK:
        live = list(_LIVE)
    for proc in live:
        if proc.is_alive():
            proc.kill()
    return sum(1 for _ in live)


def diff_refs(a: str, b: str, scenario: Scenario) -> dict[str, Any]:
    """The impact of moving from policy ``a`` to ``b`` (bundled refs), as a child runs it."""
    # Four-weekly due-process runs keep a web impact run within its limits.
    return diff_policies(resolve(a), resolve(b), scenario, step_days=28)
