"""A columnar fast path for CSV files: Arrow parses and checks whole batches at once.

Only rows whose every field has the plain form (ISO dates, ``...Z`` instants, plain decimals, no
surrounding spaces, no status columns) are taken here; every other row goes through
:func:`credence.rows.fields.parse_row`, so errors and edge cases keep exactly the reader's
meaning. Arrow cannot report physical line numbers, so the fast path is only used for files in
which a row is a line: no quote characters, no carriage returns, no blank lines. A file with a
control character anywhere (:mod:`credence.rows.text`) is read row by row too, where the
field and line of each are reported; one with invalid UTF-8 is handed to the row reader at the
first batch Arrow refuses.

The rows taken here stay columnar: a :class:`Chunk` holds them as an Arrow table in the
normalised text form of :class:`~credence.ingest.validate.Candidate` (see :data:`COLUMNS`), and
the other rows as items parsed one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from credence.ingest.validate import Candidate
from credence.rows.fields import parse_row
from credence.rows.text import has_control_bytes

DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The time of day as datetime.fromisoformat takes it (the date part is checked apart).
INSTANT_RE = r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ$"
AMOUNT_RE = r"^-?(0|[1-9]\d{0,17})(\.\d{1,6})?$"
TEXT = ("record_id", "source", "source_record_id", "subject_id", "kind", "evidence_ref")
EMPTY_ONLY = ("status", "status_at", "status_history")
_BLANK_LINE = re.compile(rb"\n[ \t]*\n")

Item = tuple[int, Candidate | None, Sequence[tuple[str, str]], dict[str, Any]]

# The columns of a chunk's table, in the order (and text form) of a Candidate's fields; the
# record id is always ``source:source_record_id`` and ``national_id`` is the clear identifier.
COLUMNS = (
    "line",
    "record_id",
    "source",
    "source_record_id",
    "national_id",
    "kind",
    "occurred_on",
    "effective_on",
    "recorded_at",
    "amount",
    "evidence_ref",
)


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("line", pa.int64())] + [(name, pa.string()) for name in COLUMNS[1:]])


FAST_SCHEMA = _schema()


@dataclass
class Chunk:
    """One batch of consecutive rows: lines ``first..last``, columnar where possible."""

    first: int
    last: int
    table: Any = None  # pyarrow.Table with COLUMNS, or None
    items: list[Item] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows in the chunk."""
        return self.last - self.first + 1


class Prescan:
    """Watches a file's bytes as they are hashed, for what rules out the fast path."""

    def __init__(self) -> None:
        self.lines = 0
        self.quote = False
        self.cr = False
        self.blank = False
        self.control = False
        self._tail = b""
        self._last = b""

    def feed(self, chunk: bytes) -> None:
        """Look at the next chunk of the file."""
        if not chunk:
            return
        self.lines += chunk.count(b"\n")
        self.quote = self.quote or b'"' in chunk
        self.cr = self.cr or b"\r" in chunk
        self.control = (
            self.control or has_control_bytes(chunk) or has_control_bytes(self._last + chunk[:1])
        )
        window = self._tail + chunk
        # A line of only spaces is skipped by the reader but is a short row to Arrow.
        self.blank = self.blank or _BLANK_LINE.search(window) is not None
        cut = window.rfind(b"\n")
        self._tail = window[cut:] if cut >= 0 else window
        self._last = chunk[-1:]

    def finish(self) -> None:
        """Look at the end of the file (a last line of only spaces)."""
        if self._tail.startswith(b"\n") and self._tail[1:] and not self._tail[1:].strip(b" \t"):
            self.blank = True

    @property
    def physical_lines(self) -> int:
        """Physical lines in the file."""
        return self.lines + (1 if self._last and self._last != b"\n" else 0)

    @property
    def fast(self) -> bool:
        """True when rows can be numbered by position (one row per line)."""
        return not (self.quote or self.cr or self.blank or self.control)


def csv_chunks(path: Path, batch_rows: int) -> Iterator[Chunk]:
    """Chunks of ``batch_rows`` rows of a CSV file whose header was already checked."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv

    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8").rstrip("\n").split(",")
    reader = pv.open_csv(
        path,
        read_options=pv.ReadOptions(block_size=8 << 20),
        parse_options=pv.ParseOptions(newlines_in_values=False),
        convert_options=pv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    names = [n.strip() for n in reader.schema.names]
    line = 1  # the header
    tables: list[Any] = []
    items: list[Item] = []
    first = 2
    for batch in reader:
        n = batch.num_rows
        start = 0
        while start < n:
            # Cut the Arrow batch where the chunks end, so that a chunk is exactly batch_rows rows.
            take = min(n - start, batch_rows - (line + 1 - first))
            part = batch.slice(start, take)
            fast, slow = _columnar(pa, pc, names, part, line + 1)
            if fast is not None and fast.num_rows:
                tables.append(fast)
            items.extend(slow)
            line += take
            start += take
            if line + 1 - first == batch_rows:
                yield _chunk(pa, first, line, tables, items)
                tables, items, first = [], [], line + 1
    if line >= first:
        yield _chunk(pa, first, line, tables, items)


def _chunk(pa: Any, first: int, last: int, tables: list[Any], items: list[Item]) -> Chunk:
    table = None
    if tables:
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()
    return Chunk(first, last, table, items)


def _columnar(
    pa: Any, pc: Any, names: list[str], batch: Any, first_line: int
) -> tuple[Any, list[Item]]:
    """The plain rows of a batch as a table, the others parsed one by one."""
    n = batch.num_rows
    cols = {name: batch.column(i) for i, name in enumerate(names)}
    ok = _fast_mask(pa, pc, cols, n)
    lines = pa.array(range(first_line, first_line + n), pa.int64())
    slow: list[Item] = []
    bad = pc.invert(ok)
    if pc.any(bad).as_py():
        idx = pc.indices_nonzero(bad).to_pylist()
        slow = [_slow_item(first_line + i, batch.slice(i, 1).to_pylist()[0]) for i in idx]
        if len(idx) == n:
            return None, slow
    return _fast_table(pa, pc, cols, ok, lines, n), slow


def _is_date(text: str) -> bool:
    if DATE_RE.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _slow_item(line: int, values: dict[str, Any]) -> Item:
    raw = {
        k.strip(): (v if isinstance(v, str) and v.strip() != "" else None)
        for k, v in values.items()
    }
    row = parse_row(line, raw)
    if row.record is None:
        return (line, None, [(e.field, e.reason) for e in row.errors], dict(raw))
    return (line, Candidate.of_record(line, row.record), (), dict(raw))


def _fast_mask(pa: Any, pc: Any, cols: dict[str, Any], n: int) -> Any:
    ok = pa.array([True] * n, pa.bool_())

    def both(a: Any, b: Any) -> Any:
        return pc.and_(a, pc.fill_null(b, False))

    def empty(name: str) -> Any:
        return pc.equal(cols[name], "")

    def day(arr: Any) -> Any:
        # A calendar date exactly as the row reader reads it; dates repeat, so each distinct
        # text is checked once, by date.fromisoformat itself.
        distinct = pc.unique(arr).to_pylist()
        valid = pa.array([d for d in distinct if _is_date(d)], pa.string())
        return pc.is_in(arr, value_set=valid)

    def instant(arr: Any) -> Any:
        shaped = pc.match_substring_regex(arr, INSTANT_RE)
        return pc.and_(shaped, day(pc.utf8_slice_codeunits(arr, 0, 10)))

    for name in cols:
        if name in TEXT or name in ("occurred_on", "effective_on", "recorded_at", "amount"):
            arr = cols[name]
            ok = both(ok, pc.equal(pc.utf8_trim_whitespace(arr), arr))
    for name in ("source", "source_record_id", "subject_id", "kind", "occurred_on"):
        ok = both(ok, pc.invert(empty(name)))
    ok = both(ok, day(cols["occurred_on"]))
    if "effective_on" in cols:
        eff = day(cols["effective_on"])
        later = pc.greater_equal(cols["effective_on"], cols["occurred_on"])
        ok = both(ok, pc.or_(empty("effective_on"), pc.and_(eff, later)))
    if "recorded_at" in cols:
        rec = instant(cols["recorded_at"])
        ok = both(ok, pc.or_(empty("recorded_at"), rec))
    if "amount" in cols:
        amount = pc.match_substring_regex(cols["amount"], AMOUNT_RE)
        ok = both(ok, pc.or_(empty("amount"), amount))
    for name in EMPTY_ONLY:
        if name in cols:
            ok = both(ok, empty(name))
    if "record_id" in cols:
        key = pc.binary_join_element_wise(cols["source"], cols["source_record_id"], ":")
        ok = both(ok, pc.or_(empty("record_id"), pc.equal(cols["record_id"], key)))
    return ok


def _fast_table(pa: Any, pc: Any, cols: dict[str, Any], ok: Any, lines: Any, n: int) -> Any:
    """The plain rows in the text form a Candidate has (defaults filled in, instants padded)."""
    every = bool(pc.all(ok).as_py())

    def pick(name: str) -> Any:
        return cols[name] if every else pc.filter(cols[name], ok)

    source = pick("source")
    sr = pick("source_record_id")
    occurred = pick("occurred_on")
    if "effective_on" in cols:
        eff = pick("effective_on")
        eff = pc.if_else(pc.equal(eff, ""), occurred, eff)
    else:
        eff = occurred
    midnight = pc.binary_join_element_wise(eff, "T00:00:00.000000Z", "")
    if "recorded_at" in cols:
        rec = pick("recorded_at")
        stamped = pc.binary_join_element_wise(pc.utf8_slice_codeunits(rec, 0, 19), ".000000Z", "")
        rec = pc.if_else(pc.equal(rec, ""), midnight, stamped)
    else:
        rec = midnight
    m = len(source)

    def optional(name: str) -> Any:
        if name not in cols:
            return pa.nulls(m, pa.string())
        arr = pick(name)
        return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)

    return pa.table(
        [
            lines if every else pc.filter(lines, ok),
            pc.binary_join_element_wise(source, sr, ":"),
            source,
            sr,
            pick("subject_id"),
            pick("kind"),
            occurred,
            eff,
            rec,
            optional("amount"),
            optional("evidence_ref"),
        ],
        names=list(COLUMNS),
    )
