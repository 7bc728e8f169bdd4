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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.errors import CredenceError, RecordError
from credence.ingest.fast import FAST_SCHEMA, Chunk, Item, Prescan, csv_chunks
from credence.ingest.formats import detect_format, read_rows
from credence.ingest.quarantine import Rejection, rejections
from credence.ingest.validate import Candidate, Validator
from credence.policy.load import PolicySet
from credence.records import StatusChange
from credence.store.db import Store, begin_bulk_load, end_bulk_load
from credence.store.keys import Keys
from credence.store.schema import IngestRun, StoredPolicy, instant_text

T = TypeVar("T")


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


def _chunks(path: Path, fmt: str, scan: Prescan, batch: int, fast: bool) -> Iterator[Chunk]:
    rows = read_rows(path)
    if fmt == "csv" and fast and scan.fast:
        from pyarrow import ArrowInvalid

        # Reading the first row checks the header with the reader's own rules.
        next(rows, None)
        done = 0
        try:
            for chunk in csv_chunks(path, batch):
                yield chunk
                done = chunk.last
        except ArrowInvalid:
            # Arrow refused a row (say, a short one): the reader takes over where it stopped.
            yield from _slow_chunks(read_rows(path), batch, after=done)
        return
    yield from _slow_chunks(rows, batch)


def _slow_chunks(rows: Iterator[Any], batch: int, after: int = 0) -> Iterator[Chunk]:
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
            yield Chunk(pending[0][0], pending[-1][0], None, pending)
            pending = []
    if pending:
        yield Chunk(pending[0][0], pending[-1][0], None, pending)


@dataclass
class _Batch:
    """A chunk validated and pseudonymised, ready to be written."""

    first: int
    last: int
    rows: int
    moment: datetime
    good: Any  # pyarrow.Table (GOOD_SCHEMA): accepted rows, sorted by key, one per key
    good_rows: int  # accepted rows before in-batch repeats were dropped
    history: dict[int, tuple[StatusChange, ...]]  # by line
    bad: list[Rejection]
    reasons: dict[str, int]
    # Subjects of accepted rows that no earlier batch of this run had (sorted): the earlier
    # batches are written first, and a run stops at the first batch that fails to write.
    subjects: list[str] = field(default_factory=list)
    digest: str = ""  # SHA-256 of the accepted record ids, one per line, in key order

    @property
    def rejected(self) -> int:
        """Rows rejected (a row may have several reasons)."""
        return len({r.line for r in self.bad})


class _Pseudonyms:
    """Subject ids (:meth:`Keys.subject_id`) for many national ids, each computed once per run.

    The HMAC's inner and outer SHA-256 states are keyed once; an id then costs two hash copies,
    a fifth of a one-shot ``hmac.digest`` here. The first id is checked against the store's own
    function, so the two can never differ silently.
    """

    def __init__(self, keys: Keys) -> None:
        import pyarrow as pa

        block = keys.subject.ljust(64, b"\0") if len(keys.subject) <= 64 else b""
        self.keys = keys
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self.ready = bool(block) and self._hmac("0") == keys.subject_id("0")
        # National ids hashed so far in this run, and their subject ids (same order).
        self.nids = pa.array([], pa.string())
        self.sids = pa.array([], pa.string())

    def _hmac(self, national_id: str) -> str:
        inner = self.inner.copy()
        inner.update(national_id.encode())
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def many(self, distinct: Any) -> tuple[Any, list[str]]:
        """The subject ids of distinct national ids (Arrow), and those first asked for here.

        The known ones are found by an Arrow hash join (no Python object per id; a dict look-up
        per id cost more than the HMAC itself), and only the new ones are hashed.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        where = pc.index_in(distinct, value_set=self.nids)
        missing = pc.is_null(where)
        found = pc.take(self.sids, where)
        if not pc.any(missing).as_py():
            return found, []
        unknown = pc.filter(distinct, missing)
        subject_id = self._hmac if self.ready else self.keys.subject_id
        new = [subject_id(nid) for nid in unknown.to_pylist()]
        hashed = pa.array(new, pa.string())
        # Past the cap an id is hashed (and reported new) again: harmless, the subjects are
        # written with INSERT OR IGNORE / ON CONFLICT DO NOTHING.
        if len(self.nids) < 2_000_000:
            self.nids = pa.concat_arrays([self.nids, unknown])
            self.sids = pa.concat_arrays([self.sids, hashed])
        return pc.replace_with_mask(found, missing, hashed), new


def _prepare(
    chunk: Chunk,
    validator: Validator,
    keys: Keys,
    pseudonyms: _Pseudonyms,
    moment: datetime,
) -> _Batch:
    """Validate a chunk (by column where possible), pseudonymise it and drop repeated keys.

    What the writer needs besides the table is computed here, on the reader thread: the
    batch's new subjects and the digest of its record ids. The rows SQLite binds are not: the
    writer makes them itself (see :meth:`_Writer._records`).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tables: list[Any] = []
    checks: list[Item] = list(chunk.items)
    if chunk.table is not None and chunk.table.num_rows:
        table = chunk.table
        clean = validator.passes(table)
        if pc.all(clean).as_py():
            tables.append(table)
        else:
            tables.append(table.filter(clean))
            # Rows that may have a problem are checked one by one, for the exact reasons.
            for r in table.filter(pc.invert(clean)).to_pylist():
                row = Candidate(
                    r["line"],
                    r["record_id"],
                    r["source"],
                    r["source_record_id"],
                    r["national_id"],
                    r["kind"],
                    r["occurred_on"],
                    r["effective_on"],
                    r["recorded_at"],
                    r["amount"],
                    r["evidence_ref"],
                    (),
                )
                checks.append((row.line, row, (), {}))
        checks.sort(key=lambda item: item[0])
    good: list[Candidate] = []
    bad: list[Rejection] = []
    reasons: dict[str, int] = {}
    for line, cand, problems, raw in checks:
        if cand is not None:
            problems = validator.check(cand)
            if not problems:
                good.append(cand)
                continue
            # One form for a parsed row, whichever path parsed it.
            raw = _raw_of(cand)
        for f, _reason in problems:
            reasons[f] = reasons.get(f, 0) + 1
        bad.extend(rejections(line, problems, raw, keys))
    if good:
        tables.append(_table_of(pa, good))
    history = {c.line: c.history for c in good if c.history}
    table = (
        pa.concat_tables([t.cast(FAST_SCHEMA) for t in tables])
        if tables
        else FAST_SCHEMA.empty_table()
    )
    good_rows = table.num_rows
    # Pseudonymise: one HMAC per distinct national id; the clear id goes no further.
    nid = table.column("national_id")
    distinct = pc.unique(nid)
    sids, new_sids = pseudonyms.many(distinct)
    subject = pc.take(sids, pc.index_in(nid, value_set=distinct))
    table = table.set_column(table.schema.get_field_index("national_id"), "subject_id", subject)
    # Key order (then file order): the first row of a key wins, and index inserts stay local.
    order = pc.sort_indices(table, sort_keys=[("record_id", "ascending"), ("line", "ascending")])
    table = table.take(order).combine_chunks()
    n = table.num_rows
    if n > 1:
        key = table.column("record_id")
        repeat = pc.equal(key.slice(1), key.slice(0, n - 1))
        if pc.any(repeat).as_py():
            first = pa.concat_arrays([pa.array([True]), pc.invert(repeat).combine_chunks()])
            table = table.filter(first)
    if table.num_rows and not pc.all(pc.equal(table.column("source"), validator.source)).as_py():
        # Validator.check rejects any other source; the writers rely on it (a constant).
        raise AssertionError("an accepted row names another source")
    return _Batch(
        chunk.first,
        chunk.last,
        chunk.rows,
        moment,
        table,
        good_rows,
        history,
        bad,
        reasons,
        sorted(new_sids),
        _digest(pa, pc, table.column("record_id")),
    )


def _digest(pa: Any, pc: Any, ids: Any) -> str:
    """SHA-256 of the ids, one per line (no newline after the last), joined by Arrow."""
    values = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    values = values.cast(pa.large_string())
    one = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    joined = pc.binary_join(one, pa.scalar("\n", pa.large_string()))[0]
    return hashlib.sha256(joined.as_buffer() or b"").hexdigest()


# What SQLite binds per record: the record id is source:source_record_id and the source is the
# run's own (the validator rejects any other), so both come from the statement (see _records).
SQLITE_BOUND = (
    "source_record_id",
    "subject_id",
    "kind",
    "occurred_on",
    "effective_on",
    "recorded_at",
    "amount",
    "evidence_ref",
)
# Optional columns, bound as '' for a null and stored as NULLIF(?, ''): the driver adapts each
# None it binds through a slow protocol look-up, a '' it binds as it is. Neither ever holds ''
# (the readers read a blank field as absent, and an amount is a Decimal's text).
SQLITE_OPTIONAL = ("amount", "evidence_ref")


# Rows per SQLite INSERT statement. One statement per row pays SQLite's per-statement work
# (step, reset, a B-tree descent from the root for each index) and the driver's per-call work
# once per row; a multi-row VALUES list pays it once per group, and its inserts, in key order,
# find the cursor already on the right leaf. 100 rows bind 801 values, 400 subjects 401 (SQLite
# allows 999 before 3.32, 32,766 since).
SQLITE_GROUP = 100


def _sqlite_insert(prefix: str, source: str, run_id: int, rows: int) -> str:
    """An INSERT of ``rows`` records whose values come column by column (see _sqlite_columns).

    Row ``k`` binds ``?{k+1}`` (the source record id), ``?{rows+k+1}`` (the subject id) and so
    on, one block of ``rows`` numbers per column of :data:`SQLITE_BOUND`; the last number is
    the ingest stamp, shared by every row.
    """
    width = len(SQLITE_BOUND)
    stamp = f"?{width * rows + 1}"
    values = []
    for k in range(rows):
        sri = f"?{k + 1}"
        rest = ", ".join(
            f"NULLIF(?{j * rows + k + 1}, '')"
            if SQLITE_BOUND[j] in SQLITE_OPTIONAL
            else f"?{j * rows + k + 1}"
            for j in range(1, width)
        )
        values.append(f"({prefix} || {sri}, {source}, {sri}, {rest}, {run_id}, {stamp})")
    return f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) VALUES {', '.join(values)}"


def _sqlite_subjects(rows: int) -> str:
    """An INSERT of ``rows`` new subjects (``?1`` to ``?rows``; then the stamp)."""
    values = ", ".join(f"(?{k + 1}, 'person', ?{rows + 1})" for k in range(rows))
    return f"INSERT OR IGNORE INTO subjects (subject_id, kind, created_at) VALUES {values}"


def _sqlite_columns(table: Any) -> list[list[Any]]:
    """The values of a batch as :func:`_sqlite_insert` binds them, one list per column."""
    import pyarrow.compute as pc

    return [
        (pc.fill_null(table.column(c), "") if c in SQLITE_OPTIONAL else table.column(c)).to_pylist()
        for c in SQLITE_BOUND
    ]


def _insert_grouped(
    conn: Connection,
    columns: list[list[Any]],
    stamp: str,
    group: int,
    statement: Callable[[int], str],
) -> None:
    """Insert the rows of ``columns`` ``group`` a statement (``statement(n)`` inserts ``n``)."""
    groups, rest = _grouped(columns, stamp, group)
    if groups:
        conn.exec_driver_sql(statement(group), groups)
    if rest:
        conn.exec_driver_sql(statement(len(columns[0]) % group), tuple(rest))


def _grouped(
    columns: list[list[Any]], stamp: str, group: int
) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Values for statements of ``group`` rows each: per statement, the slice of every column
    in turn, then the stamp (no object per row). The full groups, and the values of the last,
    shorter group (empty when there is none).
    """
    n = len(columns[0]) if columns else 0
    full = n - n % group
    groups = []
    for start in range(0, full, group):
        values: list[Any] = []
        for column in columns:
            values += column[start : start + group]
        values.append(stamp)
        groups.append(tuple(values))
    rest: list[Any] = []
    if full < n:
        for column in columns:
            rest += column[full:]
        rest.append(stamp)
    return groups, rest


def _table_of(pa: Any, cands: list[Candidate]) -> Any:
    return pa.table(
        [
            pa.array([c.line for c in cands], pa.int64()),
            pa.array([c.key for c in cands], pa.string()),
            pa.array([c.source for c in cands], pa.string()),
            pa.array([c.source_record_id for c in cands], pa.string()),
            pa.array([c.national_id for c in cands], pa.string()),
            pa.array([c.kind for c in cands], pa.string()),
            pa.array([c.occurred_on for c in cands], pa.string()),
            pa.array([c.effective_on for c in cands], pa.string()),
            pa.array([c.recorded_at for c in cands], pa.string()),
            pa.array([c.amount for c in cands], pa.string()),
            pa.array([c.evidence_ref for c in cands], pa.string()),
        ],
        schema=FAST_SCHEMA,
    )


def _ahead(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run an iterator in a thread, ``depth`` items ahead of the consumer (order kept).

    Parsing and checking the next batch overlaps with writing this one (Arrow and the database
    release the GIL). An exception in the thread is raised here, where its item would have been.
    """
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in source:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))

    thread = threading.Thread(target=work, name="credence-ingest-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join()


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
    summary = IngestSummary(run_id, str(p), source, policy.id, fast_path=fmt == "csv" and scan.fast)
    writer = _Writer(store, run_id, str(p), sha, source, actor, bulk)
    keys = store.keys
    pseudonyms = _Pseudonyms(keys)

    def prepared() -> Iterator[_Batch]:
        for chunk in _chunks(p, fmt, scan, batch_size, fast):
            moment = fixed_now or datetime.now(UTC)
            validator = Validator(policy, source, moment)
            yield _prepare(chunk, validator, keys, pseudonyms, moment)

    try:
        for batch in _ahead(prepared()):
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
        raise IngestError(f"{p}: line {exc.line}: field {exc.field!r}: {exc.reason}") from None
    except BaseException:
        # The run stops here; the store gets back what a bulk load set aside (if it can: the
        # next run, or the next opening of the store, rebuilds it otherwise).
        with contextlib.suppress(Exception):
            writer.restore()
        raise
    writer.restore()
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
        self, store: Store, run_id: int, file: str, sha: str, source: str, actor: str, bulk: bool
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.file = file
        self.sha = sha
        self.source = source
        self.actor = actor
        self.bulk = bulk
        self.pg = store.engine.dialect.name == "postgresql"
        self.mark = "%s" if self.pg else "?"
        # Subject ids are hex digits and the stamp is fixed ISO text: COPY text needs no escapes.
        self.copy_subjects = self.pg and bulk
        self._binary_order: bool | None = None

    def write(self, batch: _Batch) -> tuple[int, int, int]:
        """Store one batch; returns (records written, duplicates, rows newly quarantined)."""
        stamp = instant_text(batch.moment)
        relaxed = self.bulk and not self.pg
        with self.store.engine.connect() as conn:
            if relaxed:
                # A bulk load checks the subjects of its records once, at its end (see
                # end_bulk_load), not row by row; every batch writes its subjects first.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with Session(bind=conn, expire_on_commit=False) as session:
                    return self._write(session, conn, batch, stamp)
            finally:
                if relaxed:
                    conn.rollback()
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    if not conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one():
                        conn.invalidate()  # never back to the pool without its checks
                    conn.commit()

    def _write(
        self, session: Session, conn: Connection, batch: _Batch, stamp: str
    ) -> tuple[int, int, int]:
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = self.store.keys
        chain.lock(session)
        new = batch.good
        existing = self._existing(conn, new.column("record_id"))
        digest = batch.digest
        if existing:
            stored = pc.is_in(new.column("record_id"), value_set=pa.array(existing, pa.string()))
            new = new.filter(pc.invert(stored))
            digest = _digest(pa, pc, new.column("record_id"))
        duplicates = batch.good_rows - new.num_rows
        accepted = new.num_rows
        # A subject of a stored record is stored: writing it again is a no-op.
        self._subjects(conn, batch.subjects, stamp)
        self._records(conn, new, stamp)
        statuses = []
        if batch.history:
            ids: list[str] = new.column("record_id").to_pylist()
            for rid, line in zip(ids, new.column("line").to_pylist(), strict=True):
                for h in batch.history.get(line, ()):
                    statuses.append(
                        (
                            rid,
                            h.status.value,
                            instant_text(h.at),
                            h.ref,
                            "reported by source",
                            self.source,
                            stamp,
                        )
                    )
        if statuses:
            self._many(conn, "record_status", STATUS_COLUMNS, statuses)
        quarantined = self._quarantine(conn, batch.bad, batch.first, batch.last, stamp)
        session.execute(
            update(IngestRun)
            .where(IngestRun.id == self.run_id)
            .values(
                rows=IngestRun.rows + batch.rows,
                accepted=IngestRun.accepted + accepted,
                duplicates=IngestRun.duplicates + duplicates,
                rejected=IngestRun.rejected + batch.rejected,
            )
        )
        if accepted or quarantined:
            chain.append(
                session,
                keys,
                actor=self.actor,
                action="ingest.batch",
                detail={
                    "run": self.run_id,
                    "lines": [batch.first, batch.last],
                    "records": accepted,
                    "records_sha256": digest,
                    "quarantined": quarantined,
                    "duplicates": duplicates,
                },
                at=batch.moment,
            )
        session.commit()
        return accepted, duplicates, quarantined

    def _existing(self, conn: Connection, ids: Any) -> list[str]:
        """The stored ones among a batch's record ids (sorted, distinct)."""
        n = len(ids)
        if not n:
            return []
        # One look at the key range first: a load of new keys finds nothing there, and then
        # needs no look-up per row.
        if self.pg and not self._pg_binary_order(conn):
            lo, hi = conn.exec_driver_sql(
                "SELECT min(k), max(k) FROM unnest(%s::text[]) AS k", (ids.to_pylist(),)
            ).one()
        else:
            lo, hi = ids[0].as_py(), ids[n - 1].as_py()
        m = self.mark
        hit = conn.exec_driver_sql(
            f"SELECT 1 FROM records WHERE record_id >= {m} AND record_id <= {m} LIMIT 1", (lo, hi)
        ).first()
        if hit is None:
            return []
        listed: list[str] = ids.to_pylist()
        if self.pg:
            result = conn.exec_driver_sql(
                "SELECT record_id FROM records WHERE record_id = ANY(%s)", (listed,)
            )
            return [r[0] for r in result]
        found: list[str] = []
        for i in range(0, len(listed), 900):
            part = listed[i : i + 900]
            marks = ",".join("?" * len(part))
            result = conn.exec_driver_sql(
                f"SELECT record_id FROM records WHERE record_id IN ({marks})", tuple(part)
            )
            found.extend(r[0] for r in result)
        return found

    def _pg_binary_order(self, conn: Connection) -> bool:
        """True when PostgreSQL orders record ids as Python does (code points, i.e. bytes)."""
        if self._binary_order is None:
            collation = conn.exec_driver_sql(
                "SELECT coalesce(c.collname, 'default'), d.datcollate "
                "FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation "
                "CROSS JOIN pg_database d "
                "WHERE a.attrelid = 'records'::regclass AND a.attname = 'record_id' "
                "AND d.datname = current_database()"
            ).one()
            name = collation[1] if collation[0] == "default" else collation[0]
            self._binary_order = name.split(".")[0] in ("C", "POSIX", "ucs_basic")
        return self._binary_order

    def _subjects(self, conn: Connection, sids: list[str], stamp: str) -> None:
        if not sids:
            return
        if self.pg:
            if self.copy_subjects and self._copy_subjects(conn, sids, stamp):
                return
            conn.exec_driver_sql(
                "INSERT INTO subjects (subject_id, kind, created_at) "
                "SELECT s, 'person', %s::timestamptz FROM unnest(%s::text[]) AS s "
                "ON CONFLICT (subject_id) DO NOTHING",
                (stamp, sorted(sids)),
            )
            return
        # Many rows a statement, as for the records (see SQLITE_GROUP).
        _insert_grouped(conn, [sorted(sids)], stamp, SQLITE_GROUP * 4, _sqlite_subjects)

    def _copy_subjects(self, conn: Connection, sids: list[str], stamp: str) -> bool:
        """``COPY`` new subjects; False (and nothing written) when one of them is stored already.

        A bulk load's subjects are usually all new, and ``COPY`` costs about half of
        ``INSERT ... ON CONFLICT DO NOTHING``. The first conflict rolls back to a savepoint and
        turns this off for the rest of the run.
        """
        from psycopg.errors import UniqueViolation

        raw = conn.connection.driver_connection
        assert raw is not None
        rows = "".join(f"{s}\tperson\t{stamp}\n" for s in sorted(sids))
        with raw.cursor() as cur:
            cur.execute("SAVEPOINT credence_subjects")
            try:
                with cur.copy("COPY subjects (subject_id, kind, created_at) FROM STDIN") as copy:
                    copy.write(rows)
            except UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT credence_subjects")
                self.copy_subjects = False
                return False
            cur.execute("RELEASE SAVEPOINT credence_subjects")
        return True

    def _records(self, conn: Connection, new: Any, stamp: str) -> None:
        """Load the new records: ``COPY`` of Arrow-written CSV, or ``executemany``."""
        n = new.num_rows
        if not n:
            return
        if self.pg:
            import pyarrow as pa
            import pyarrow.csv as pv

            table = pa.table(
                [
                    *(new.column(c) for c in RECORD_COLUMNS[:-2]),
                    pa.array([self.run_id] * n, pa.int64()),
                    pa.array([stamp] * n, pa.string()),
                ],
                names=list(RECORD_COLUMNS),
            )
            out = pa.BufferOutputStream()
            # Every value quoted and nulls left bare: PostgreSQL reads them back exactly.
            pv.write_csv(
                table, out, pv.WriteOptions(include_header=False, quoting_style="all_valid")
            )
            raw = conn.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cur,
                cur.copy(
                    f"COPY records ({', '.join(RECORD_COLUMNS)}) FROM STDIN (FORMAT csv)"
                ) as copy,
            ):
                copy.write(memoryview(out.getvalue()))
            return
        # Made here, not on the reader thread: executemany gives up the GIL for every statement,
        # and a reader holding it to build these objects stalls the writer each time (this way
        # was faster in 5 of 6 alternating 1M-row runs on the shared machine, one row a
        # statement). Many rows a statement (SQLITE_GROUP), bound column by column.
        prefix = _sql_text(self.source + ":")
        source = _sql_text(self.source)
        _insert_grouped(
            conn,
            _sqlite_columns(new),
            stamp,
            SQLITE_GROUP,
            partial(_sqlite_insert, prefix, source, int(self.run_id)),
        )

    def _many(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        marks = ", ".join([self.mark] * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def restore(self) -> None:
        """End a bulk load: build what it set aside (a no-op for other runs)."""
        if not self.bulk:
            return
        with self.store.session() as session:
            chain.lock(session)
            end_bulk_load(session.connection(), check=True)
            session.commit()
        self.bulk = False

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


def _sql_text(value: str) -> str:
    """A string as an SQL literal (constants inlined so that each row binds fewer values)."""
    return "'" + value.replace("'", "''") + "'"


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
