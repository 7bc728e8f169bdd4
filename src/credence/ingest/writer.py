"""Writing prepared batches: the backend's bulk path, quarantine and audit, one transaction each.

SQLite gets multi-row ``INSERT`` statements bound column by column, PostgreSQL ``COPY`` of
Arrow-written CSV. Each batch holds the audit chain's lock, skips records already stored and
appends one audit entry naming its lines and a digest of the records written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from credence.audit import chain
from credence.errors import RecordError
from credence.ingest.prepare import Batch, digest_ids
from credence.ingest.quarantine import Rejection
from credence.ingest.runs import end_run
from credence.sql.columns import instant_text
from credence.store.db import Store, end_bulk_load
from credence.store.schema import IngestRun

if TYPE_CHECKING:
    from credence.ingest.runs import IngestSummary


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


class Writer:
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

    def write(self, batch: Batch) -> tuple[int, int, int]:
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
        self, session: Session, conn: Connection, batch: Batch, stamp: str
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
            digest = digest_ids(pa, pc, new.column("record_id"))
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
            end_run(
                session,
                self.store,
                self.run_id,
                "done",
                actor=self.actor,
                now=now,
                action="ingest.finish",
                detail={
                    "run": self.run_id,
                    "rows": summary.rows,
                    "accepted": summary.accepted,
                    "duplicates": summary.duplicates,
                    "rejected": summary.rejected,
                },
            )
            session.commit()

    def fail(self, exc: RecordError, now: datetime) -> None:
        """Quarantine a file-level error and close the run as failed."""
        rejection = Rejection(exc.line, exc.field, exc.reason[:500], json.dumps({}))
        with self.store.session() as session:
            chain.lock(session)
            conn = session.connection()
            self._quarantine(conn, [rejection], exc.line, exc.line, instant_text(now))
            end_run(
                session,
                self.store,
                self.run_id,
                "failed",
                actor=self.actor,
                now=now,
                action="ingest.fail",
                detail={
                    "run": self.run_id,
                    "line": exc.line,
                    "field": exc.field,
                    "reason": exc.reason,
                },
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
