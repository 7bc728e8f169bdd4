"""Preparing a chunk for the writer: policy checks by column, pseudonyms, repeats dropped."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from credence.ingest.fast import FAST_SCHEMA, Chunk, Item
from credence.ingest.pseudonyms import Pseudonyms
from credence.ingest.quarantine import Rejection, rejections
from credence.ingest.validate import Candidate, Validator
from credence.records import StatusChange
from credence.store.keys import Keys


@dataclass
class Batch:
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


def prepare(
    chunk: Chunk,
    validator: Validator,
    keys: Keys,
    pseudonyms: Pseudonyms,
    moment: datetime,
) -> Batch:
    """Validate a chunk (by column where possible), pseudonymise it and drop repeated keys.

    What the writer needs besides the table is computed here, on the reader thread: the
    batch's new subjects and the digest of its record ids. The rows SQLite binds are not: the
    writer makes them itself (see :meth:`credence.ingest.writer.Writer._records`).
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
    return Batch(
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
        digest_ids(pa, pc, table.column("record_id")),
    )


def digest_ids(pa: Any, pc: Any, ids: Any) -> str:
    """SHA-256 of the ids, one per line (no newline after the last), joined by Arrow."""
    values = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    values = values.cast(pa.large_string())
    one = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    joined = pc.binary_join(one, pa.scalar("\n", pa.large_string()))[0]
    return hashlib.sha256(joined.as_buffer() or b"").hexdigest()


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
