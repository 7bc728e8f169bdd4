"""Ingesting a record file into the store: validate, pseudonymise, dedupe, quarantine, commit.

Rows are read in file order and committed in batches. Each batch is one transaction that holds
the audit chain's lock, skips records already stored (dedup on ``source:source_record_id``),
writes the new ones with the bulk path of the backend (``executemany`` on SQLite, ``COPY`` on
PostgreSQL), quarantines the rejected rows and appends one audit entry that names the lines and
a digest of the records written. A run that is killed loses at most its open batch, and
running it again completes it without duplicates.

A batch stays columnar (Arrow) from the parser to the database where it can: plain CSV rows are
checked by column, the policy is asked once per distinct (kind, version), the HMAC is computed
once per distinct national id, and the PostgreSQL ``COPY`` text is written by Arrow. Rows that
may fail a check are checked one by one, so every reason reads as the row reader words it.
A reader thread prepares the next batch while this one is written.

The steps live in their own modules: :mod:`~credence.ingest.reading` (the file into chunks),
:mod:`~credence.ingest.prepare` (checks, pseudonyms, in-batch repeats), :mod:`~credence.ingest.
writer` (the bulk write, quarantine and audit), :mod:`~credence.ingest.runs` (a run's row and
lock, and runs left behind) and :mod:`~credence.ingest.policies` (the stored policy versions).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from credence.audit import chain
from credence.errors import RecordError
from credence.ingest.formats import detect_format
from credence.ingest.policies import store_policy
from credence.ingest.prepare import Batch, prepare
from credence.ingest.pseudonyms import Pseudonyms
from credence.ingest.reading import ahead, chunks, file_digest
from credence.ingest.runs import (
    IngestError,
    IngestSummary,
    RunLock,
    close_run,
    mark_abandoned,
    resume_hint,
)
from credence.ingest.validate import Validator
from credence.ingest.writer import Writer
from credence.policy.load import PolicySet
from credence.store.db import Store, begin_bulk_load
from credence.store.schema import IngestRun

__all__ = ["IngestError", "IngestSummary", "file_digest", "ingest_file", "store_policy"]


def ingest_file(
    store: Store,
    path: str | Path,
    *,
    source: str,
    policy: PolicySet,
    actor: str,
    now: datetime | None = None,
    batch_size: int = 20_000,
    throttle: float = 0.0,
    fast: bool = True,
    bulk_load: bool = True,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest one record file reported by ``source``, validated against ``policy``.

    With ``bulk_load`` (the default), a run into an empty ``records`` table builds the
    table's secondary index (and, on PostgreSQL, checks its foreign key) once at the end
    instead of row by row; see :func:`credence.store.db.begin_bulk_load`.
    """
    p = Path(path)
    started = time.perf_counter()
    fixed_now = now
    clock = now or datetime.now(UTC)
    try:
        fmt = detect_format(p)
        sha, scan = file_digest(p)
    except RecordError as exc:
        raise IngestError(f"{p}: {exc.reason}") from None
    except OSError as exc:
        raise IngestError(f"{p}: cannot read: {exc}") from None
    if on_start is not None:
        on_start(max(scan.physical_lines - 1, 0) if fmt == "csv" else scan.physical_lines)
    interrupted = mark_abandoned(store, actor, clock)
    with store.session() as session:
        store_policy(session, policy, clock)
        run = IngestRun(
            file=str(p),
            file_sha256=sha,
            source=source,
            policy_id=policy.id,
            actor=actor,
            started_at=clock,
            status="running",
            rows=0,
            accepted=0,
            duplicates=0,
            rejected=0,
        )
        session.add(run)
        session.flush()
        # Under the chain's lock no other writer adds records until this commits.
        chain.lock(session)
        bulk = bulk_load and begin_bulk_load(session.connection())
        chain.append(
            session,
            store.keys,
            actor=actor,
            action="ingest.start",
            detail={
                "run": run.id,
                "file": p.name,
                "sha256": sha,
                "source": source,
                "policy": policy.id,
                **({"bulk_load": True} if bulk else {}),
            },
            at=clock,
        )
        session.commit()
        run_id = run.id
    lock = RunLock(store, run_id)
    summary = IngestSummary(
        run_id,
        str(p),
        source,
        policy.id,
        fast_path=fmt == "csv" and scan.fast,
        interrupted=interrupted,
    )
    writer = Writer(store, run_id, str(p), sha, source, actor, bulk)
    keys = store.keys
    pseudonyms = Pseudonyms(keys)

    def prepared() -> Iterator[Batch]:
        for chunk in chunks(p, fmt, scan, batch_size, fast):
            moment = fixed_now or datetime.now(UTC)
            validator = Validator(policy, source, moment)
            yield prepare(chunk, validator, keys, pseudonyms, moment)

    try:
        for batch in ahead(prepared()):
            result = writer.write(batch)
            summary.rows += batch.rows
            summary.accepted += result[0]
            summary.duplicates += result[1]
            summary.rejected += batch.rejected
            summary.quarantined += result[2]
            summary.batches += 1
            for f, count in batch.reasons.items():
                summary.reasons[f] = summary.reasons.get(f, 0) + count
            if on_progress is not None:
                on_progress(batch.rows)
            if throttle:
                time.sleep(throttle)
    except RecordError as exc:
        writer.restore()
        writer.fail(exc, clock)
        lock.release()
        raise IngestError(f"{p}: line {exc.line}: field {exc.field!r}: {exc.reason}") from None
    except BaseException as exc:
        # The run stops here; the store gets back what a bulk load set aside (if it can: the
        # next run, or the next opening of the store, rebuilds it otherwise), and the run is
        # closed as it ended. A process killed outright closes nothing: its run is found by
        # the next start (mark_abandoned).
        status = "failed" if isinstance(exc, Exception) else "interrupted"
        with contextlib.suppress(Exception):
            writer.restore()
        with contextlib.suppress(Exception):
            close_run(store, run_id, status, actor, fixed_now or datetime.now(UTC), repr(exc))
        lock.release()
        if isinstance(exc, Exception) and not isinstance(exc, IngestError):
            raise IngestError(
                f"{p}: ingest run {run_id} failed: {exc}; {resume_hint(str(p))}"
            ) from exc
        raise
    writer.restore()
    writer.finish(summary, fixed_now or datetime.now(UTC))
    lock.release()
    summary.seconds = time.perf_counter() - started
    return summary
