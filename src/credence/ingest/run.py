"""Ingesting a record file into the store: validate, pseudonymise, dedupe, quarantine, commit.

Rows are read in file order and committed in batches. Each batch is one transaction that holds
the audit chain's lock, skips records already stored (dedup on ``source:source_record_id``),
writes the new ones with the bulk path of the backend (``executemany`` on SQLite, ``COPY`` on
PostgreSQL), quarantines the rejected rows and appends one audit entry that names the lines and
a digest of the records written. A run that is killed loses at most its open batch, and
running it again completes it without duplicates.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.errors import CredenceError, RecordError
from credence.ingest.fast import Item, Prescan, csv_items
from credence.ingest.formats import detect_format, read_rows
from credence.ingest.quarantine import Rejection, rejections
from credence.ingest.validate import Candidate, Validator
from credence.policy.load import PolicySet
from credence.store.db import Store
from credence.store.schema import IngestRun, StoredPolicy, instant_text


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

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def file_digest(path: Path) -> tuple[str, Prescan]:
    """SHA-256 of a file and what its bytes say about the fast path."""
    digest = hashlib.sha256()
    scan = Prescan()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            scan.feed(chunk)
    scan.finish()
    return digest.hexdigest(), scan


def store_policy(session: Session, policy: PolicySet, now: datetime) -> None:
    """Keep every version of the policy used; refuse one that differs under the same version."""
    for v in policy.versions:
        body = v.model_dump_json()
        sha = hashlib.sha256(body.encode()).hexdigest()
        stored = session.scalars(
            select(StoredPolicy).where(
                StoredPolicy.policy_id == v.id, StoredPolicy.version == v.version
            )
        ).one_or_none()
        if stored is None:
            session.add(
                StoredPolicy(
                    policy_id=v.id,
                    version=v.version,
                    effective_from=v.effective_from,
                    sha256=sha,
                    body=body,
                    stored_at=now,
                )
            )
        elif stored.sha256 != sha:
            raise IngestError(
                f"policy {v.id} version {v.version} differs from the version already stored; "
                "a changed policy needs a new version"
            )
    session.flush()


def _items(path: Path, fmt: str, scan: Prescan, batch: int, fast: bool) -> Iterator[list[Item]]:
    rows = read_rows(path)
    if fmt == "csv" and fast and scan.fast:
        from pyarrow import ArrowInvalid

        # Reading the first row checks the header with the reader's own rules.
        next(rows, None)
        done = 0
        try:
            for items in csv_items(path, batch):
                yield items
                done = items[-1][0]
        except ArrowInvalid:
            # Arrow refused a row (say, a short one): the reader takes over where it stopped.
            yield from _slow_items(read_rows(path), batch, after=done)
        return
    yield from _slow_items(rows, batch)


def _slow_items(rows: Iterator[Any], batch: int, after: int = 0) -> Iterator[list[Item]]:
    pending: list[Item] = []
    for row in rows:
        if row.line <= after:
            continue
        raw = dict(row.raw)
        if row.record is None:
            pending.append((row.line, None, [(e.field, e.reason) for e in row.errors], raw))
        else:
            pending.append((row.line, Candidate.of_record(row.line, row.record), (), raw))
        if len(pending) >= batch:
            yield pending
            pending = []
    if pending:
        yield pending


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
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest one record file reported by ``source``, validated against ``policy``."""
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
            },
            at=clock,
        )
        session.commit()
        run_id = run.id
    summary = IngestSummary(run_id, str(p), source, policy.id, fast_path=fmt == "csv" and scan.fast)
    writer = _Writer(store, run_id, str(p), sha, source, actor)
    try:
        for items in _items(p, fmt, scan, batch_size, fast):
            moment = fixed_now or datetime.now(UTC)
            validator = Validator(policy, source, moment)
            good: list[Candidate] = []
            bad: list[Rejection] = []
            for line, cand, problems, raw in items:
                if cand is not None:
                    problems = validator.check(cand)
                    if not problems:
                        good.append(cand)
                        continue
                    # One form for a parsed row, whichever path parsed it.
                    raw = _raw_of(cand)
                for f, _reason in problems:
                    summary.reasons[f] = summary.reasons.get(f, 0) + 1
                bad.extend(rejections(line, problems, raw, store.keys))
            result = writer.write(good, bad, len(items), items[0][0], items[-1][0], moment)
            summary.rows += len(items)
            summary.accepted += result[0]
            summary.duplicates += result[1]
            summary.rejected += len({r.line for r in bad})
            summary.quarantined += result[2]
            summary.batches += 1
            if on_progress is not None:
                on_progress(len(items))
            if throttle:
                time.sleep(throttle)
    except RecordError as exc:
        writer.fail(exc, clock)
        raise IngestError(f"{p}: line {exc.line}: field {exc.field!r}: {exc.reason}") from None
    writer.finish(summary, fixed_now or datetime.now(UTC))
    summary.seconds = time.perf_counter() - started
    return summary


def _raw_of(c: Candidate) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "source": c.source,
        "source_record_id": c.source_record_id,
        "subject_id": c.national_id,
        "kind": c.kind,
        "occurred_on": c.occurred_on,
        "effective_on": c.effective_on,
        "recorded_at": c.recorded_at,
        "amount": c.amount,
        "evidence_ref": c.evidence_ref,
    }
    if c.history:
        raw["status_history"] = [
            {"status": h.status.value, "at": h.at.isoformat(), "ref": h.ref} for h in c.history
        ]
    return raw


class _Writer:
    """Writes batches with the backend's bulk path, in one transaction per batch."""

    def __init__(
        self, store: Store, run_id: int, file: str, sha: str, source: str, actor: str
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.file = file
        self.sha = sha
        self.source = source
        self.actor = actor
        self.pg = store.engine.dialect.name == "postgresql"
        self.mark = "%s" if self.pg else "?"

    def write(
        self,
        good: list[Candidate],
        bad: list[Rejection],
        rows: int,
        first: int,
        last: int,
        now: datetime,
    ) -> tuple[int, int, int]:
        """Store one batch; returns (records written, duplicates, rows newly quarantined)."""
        keys = self.store.keys
        stamp = instant_text(now)
        with self.store.session() as session:
            chain.lock(session)
            conn = session.connection()
            existing = self._existing(conn, [c.key for c in good])
            new: list[Candidate] = []
            seen: set[str] = set()
            for c in good:
                k = c.key
                if k in existing or k in seen:
                    continue
                seen.add(k)
                new.append(c)
            duplicates = len(good) - len(new)
            # Key order keeps the primary-key index inserts local (fewer pages touched).
            new.sort(key=lambda c: c.key)
            sids = [keys.subject_id(c.national_id) for c in new]
            self._subjects(conn, sids, stamp)
            records = [
                (
                    c.key,
                    c.source,
                    c.source_record_id,
                    sid,
                    c.kind,
                    c.occurred_on,
                    c.effective_on,
                    c.recorded_at,
                    c.amount,
                    c.evidence_ref,
                    self.run_id,
                    stamp,
                )
                for c, sid in zip(new, sids, strict=True)
            ]
            self._load(conn, "records", RECORD_COLUMNS, records)
            statuses = [
                (
                    c.key,
                    h.status.value,
                    instant_text(h.at),
                    h.ref,
                    "reported by source",
                    self.source,
                    stamp,
                )
                for c in new
                for h in c.history
            ]
            if statuses:
                self._many(conn, "record_status", STATUS_COLUMNS, statuses)
            fresh = self._quarantine(conn, bad, first, last, stamp)
            session.execute(
                update(IngestRun)
                .where(IngestRun.id == self.run_id)
                .values(
                    rows=IngestRun.rows + rows,
                    accepted=IngestRun.accepted + len(new),
                    duplicates=IngestRun.duplicates + duplicates,
                    rejected=IngestRun.rejected + len({r.line for r in bad}),
                )
            )
            if new or fresh:
                digest = hashlib.sha256("\n".join(r[0] for r in records).encode()).hexdigest()
                chain.append(
                    session,
                    keys,
                    actor=self.actor,
                    action="ingest.batch",
                    detail={
                        "run": self.run_id,
                        "lines": [first, last],
                        "records": len(new),
                        "records_sha256": digest,
                        "quarantined": fresh,
                        "duplicates": duplicates,
                    },
                    at=now,
                )
            session.commit()
        return len(new), duplicates, fresh

    def _existing(self, conn: Connection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        if not ids:
            return found
        if self.pg:
            result = conn.exec_driver_sql(
                "SELECT record_id FROM records WHERE record_id = ANY(%s)", (list(ids),)
            )
            return {r[0] for r in result}
        for i in range(0, len(ids), 900):
            part = ids[i : i + 900]
            marks = ",".join("?" * len(part))
            result = conn.exec_driver_sql(
                f"SELECT record_id FROM records WHERE record_id IN ({marks})", tuple(part)
            )
            found.update(r[0] for r in result)
        return found

    def _subjects(self, conn: Connection, sids: Sequence[str], stamp: str) -> None:
        unique = sorted(set(sids))
        if not unique:
            return
        if self.pg:
            result = conn.exec_driver_sql(
                "SELECT subject_id FROM subjects WHERE subject_id = ANY(%s)", (unique,)
            )
        else:
            result = None
        known: set[str] = {r[0] for r in result} if result is not None else set()
        if not self.pg:
            for i in range(0, len(unique), 900):
                part = unique[i : i + 900]
                marks = ",".join("?" * len(part))
                rows = conn.exec_driver_sql(
                    f"SELECT subject_id FROM subjects WHERE subject_id IN ({marks})", tuple(part)
                )
                known.update(r[0] for r in rows)
        fresh = [(s, "person", stamp) for s in unique if s not in known]
        self._load(conn, "subjects", ("subject_id", "kind", "created_at"), fresh)

    def _load(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        if not self.pg:
            self._many(conn, table, columns, rows)
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _many(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        marks = ", ".join([self.mark] * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def _quarantine(
        self, conn: Connection, bad: list[Rejection], first: int, last: int, stamp: str
    ) -> int:
        if not bad:
            return 0
        m = self.mark
        result = conn.exec_driver_sql(
            f"SELECT line, field, reason FROM quarantine WHERE file_sha256 = {m} "
            f"AND line BETWEEN {m} AND {m}",
            (self.sha, first, last),
        )
        known = {(r[0], r[1], r[2]) for r in result}
        rows = []
        for r in bad:
            if (r.line, r.field, r.reason) in known:
                continue
            known.add((r.line, r.field, r.reason))
            rows.append(
                (
                    self.run_id,
                    self.file,
                    self.sha,
                    self.source,
                    r.line,
                    r.field,
                    r.reason,
                    r.raw,
                    stamp,
                )
            )
        if rows:
            self._many(conn, "quarantine", QUARANTINE_COLUMNS, rows)
        return len({r[4] for r in rows})

    def finish(self, summary: IngestSummary, now: datetime) -> None:
        """Close the run and log its totals."""
        with self.store.session() as session:
            session.execute(
                update(IngestRun)
                .where(IngestRun.id == self.run_id)
                .values(status="done", finished_at=now)
            )
            chain.append(
                session,
                self.store.keys,
                actor=self.actor,
                action="ingest.finish",
                detail={
                    "run": self.run_id,
                    "rows": summary.rows,
                    "accepted": summary.accepted,
                    "duplicates": summary.duplicates,
                    "rejected": summary.rejected,
                },
                at=now,
            )
            session.commit()

    def fail(self, exc: RecordError, now: datetime) -> None:
        """Quarantine a file-level error and close the run as failed."""
        rejection = Rejection(exc.line, exc.field, exc.reason[:500], json.dumps({}))
        with self.store.session() as session:
            chain.lock(session)
            conn = session.connection()
            self._quarantine(conn, [rejection], exc.line, exc.line, instant_text(now))
            session.execute(
                update(IngestRun)
                .where(IngestRun.id == self.run_id)
                .values(status="failed", finished_at=now)
            )
            chain.append(
                session,
                self.store.keys,
                actor=self.actor,
                action="ingest.fail",
                detail={
                    "run": self.run_id,
                    "line": exc.line,
                    "field": exc.field,
                    "reason": exc.reason,
                },
                at=now,
            )
            session.commit()


RECORD_COLUMNS = (
    "record_id",
    "source",
    "source_record_id",
    "subject_id",
    "kind",
    "occurred_on",
    "effective_on",
    "recorded_at",
    "amount",
    "evidence_ref",
    "ingest_run_id",
    "ingested_at",
)
STATUS_COLUMNS = ("record_id", "status", "at", "ref", "reason", "actor", "logged_at")
QUARANTINE_COLUMNS = (
    "ingest_run_id",
    "file",
    "file_sha256",
    "source",
    "line",
    "field",
    "reason",
    "raw",
    "quarantined_at",
)
