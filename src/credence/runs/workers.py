"""Parallel workers of a process run on PostgreSQL, and the per-subject locks that keep runs apart.

A run with ``--workers N`` plans once, then forks N processes. Each opens its own connection and
claims the run's chunks one at a time from a shared queue, until none is left; the parent sums
what they report. Whatever run it belongs to, a worker first takes a PostgreSQL advisory lock
on every subject of its chunk (in ascending order, in one statement, so that two runs cannot
deadlock) and holds them until the chunk is committed: two runs started at the same time never
act on one subject at once, and the later one reads what the earlier one committed, so it has
nothing left to do for that subject.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.orm import Session

from credence.errors import CredenceError
from credence.store.db import open_store

if TYPE_CHECKING:
    from credence.runs.run import Job, Tally

# Subjects ids are 64 hex digits (HMACs): their first 15 make a 60-bit lock key, unique enough
# (two subjects sharing a key only wait for each other).
_LOCK = text(
    "SELECT count(pg_advisory_lock(k)) FROM (SELECT DISTINCT unnest(:keys) AS k ORDER BY k) s"
).bindparams(bindparam("keys", type_=ARRAY(BIGINT)))
_UNLOCK = text("SELECT pg_advisory_unlock_all()")
# A policy's lock (the two-key form: its own key space), taken by a run's plan and its end.
_POLICY = text("SELECT pg_advisory_xact_lock(1129465156, hashtext(:policy))")


class WorkerError(CredenceError):
    """A worker process failed; its chunk was rolled back (run again to finish)."""


def lock_key(subject_id: str) -> int:
    """The advisory lock key of a subject."""
    return int(subject_id[:15], 16)


def lock_policy(session: Session, policy_id: str) -> None:
    """On PostgreSQL, wait for and take the policy's lock until the transaction ends: runs of
    one policy started at once plan, and store their marks, one after the other."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_POLICY, {"policy": policy_id})


def lock_subjects(session: Session, subject_ids: list[str]) -> None:
    """Wait for, and take, the lock of every subject (held by the session's connection until
    :func:`unlock_subjects`, across its commits)."""
    session.execute(_LOCK, {"keys": sorted({lock_key(s) for s in subject_ids})})


def unlock_subjects(session: Session) -> None:
    """Release every subject lock the session's connection holds."""
    session.execute(_UNLOCK)
    session.commit()


def spread(job: Job, chunks: list[list[str]], n: int) -> Iterator[Tally]:
    """Advance ``chunks`` in ``n`` forked processes; yield each chunk's tally as it is done."""
    context = multiprocessing.get_context("fork")
    claims: Any = context.Value("i", 0)  # the next chunk to claim
    results: Any = context.Queue()
    # The children open their own connections; none of the parent's may be shared with them.
    job.store.engine.dispose()
    procs = [
        context.Process(target=_work, args=(job, chunks, claims, results), daemon=True)
        for _ in range(min(n, len(chunks)))
    ]
    for p in procs:
        p.start()
    try:
        running = len(procs)
        while running:
            kind, value = results.get()
            if kind == "done":
                running -= 1
            elif kind == "error":
                raise WorkerError(f"a worker of the process run failed: {value}")
            else:
                yield value
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()


def serial(job: Job, chunks: list[list[str]], claims: Any = None) -> Iterator[Tally]:
    """Advance chunks one after the other on one connection, each under its subjects' locks:
    all of them, or (with a shared counter ``claims``) those this process claims first."""
    with job.store.engine.connect() as connection:
        # One connection throughout: the subject locks live on it.
        session = Session(bind=connection, expire_on_commit=False)
        try:
            turn = 0
            while True:
                if claims is None:
                    i, turn = turn, turn + 1
                else:
                    with claims.get_lock():
                        i = claims.value
                        claims.value = i + 1
                if i >= len(chunks):
                    break
                yield job.chunk(session, chunks[i], exclusive=True)
        finally:
            session.close()
            # A chunk that failed left its locks on the connection, which goes back to the pool.
            with suppress(Exception):
                connection.rollback()
                connection.execute(_UNLOCK)
                connection.commit()


def _work(job: Job, chunks: list[list[str]], claims: Any, results: Any) -> None:
    """One worker: claim chunks until none is left, report each, then say it is done."""
    try:
        job.store.engine.dispose(close=False)
        url = job.store.engine.url.render_as_string(hide_password=False)
        store = open_store(job.store.folder, url, check=False)
        mine = replace(job, store=store)
        for tally in serial(mine, chunks, claims):
            results.put(("chunk", tally))
        store.close()
    except Exception as exc:  # reported to the parent, which fails the run
        results.put(("error", f"{exc}\n{traceback.format_exc()}"))
    results.put(("done", None))
