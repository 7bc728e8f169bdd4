"""A columnar fast path for CSV files: Arrow parses and checks whole batches at once.

Only rows whose every field has the plain form (ISO dates, ``...Z`` instants, plain decimals, no
surrounding spaces, no status columns) are taken here; every other row goes through
:func:`credence.ingest.formats.parse_row`, so errors and edge cases keep exactly the reader's
meaning. Arrow cannot report physical line numbers, so the fast path is only used for files in
which a row is a line: no quote characters, no carriage returns, no blank lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from credence.ingest.formats import parse_row
from credence.ingest.validate import Candidate

DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
INSTANT_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
AMOUNT_RE = r"^-?(0|[1-9]\d{0,17})(\.\d{1,6})?$"
TEXT = ("record_id", "source", "source_record_id", "subject_id", "kind", "evidence_ref")
EMPTY_ONLY = ("status", "status_at", "status_history")
_BLANK_LINE = re.compile(rb"\n[ \t]*\n")

Item = tuple[int, Candidate | None, Sequence[tuple[str, str]], dict[str, Any]]


class Prescan:
    """Watches a file's bytes as they are hashed, for what rules out the fast path."""

    def __init__(self) -> None:
        self.lines = 0
        self.quote = False
        self.cr = False
        self.blank = False
        self._tail = b""
        self._last = b""

    def feed(self, chunk: bytes) -> None:
        """Look at the next chunk of the file."""
        if not chunk:
            return
        self.lines += chunk.count(b"\n")
        self.quote = self.quote or b'"' in chunk
        self.cr = self.cr or b"\r" in chunk
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
        return not (self.quote or self.cr or self.blank)


def csv_items(path: Path, batch_rows: int, start_line: int = 0) -> Iterator[list[Item]]:
    """Batches of parsed rows of a CSV file (header already checked), skipping lines <= start."""
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
    line = 1
    pending: list[Item] = []
    for batch in reader:
        n = batch.num_rows
        cols = {name: batch.column(i) for i, name in enumerate(names)}
        ok = _fast_mask(pa, pc, cols, n)
        lines = range(line + 1, line + 1 + n)
        line += n
        fast_rows = _fast_candidates(pc, cols, ok, lines)
        slow_idx = [i for i, good in enumerate(ok.to_pylist()) if not good]
        slow = {lines[i]: _slow_item(lines[i], batch.slice(i, 1).to_pylist()[0]) for i in slow_idx}
        merged: list[Item] = []
        fi = iter(fast_rows)
        for i, good in enumerate(ok.to_pylist()):
            ln = lines[i]
            item = next(fi) if good else slow[ln]
            if ln > start_line:
                merged.append(item)
        pending.extend(merged)
        while len(pending) >= batch_rows:
            yield pending[:batch_rows]
            pending = pending[batch_rows:]
    if pending:
        yield pending


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

    def roundtrip(name: str, fmt: str, regex: str) -> Any:
        arr = cols[name]
        shaped = pc.match_substring_regex(arr, regex)
        parsed = pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
        same = pc.equal(pc.strftime(parsed, format=fmt), arr)
        return pc.and_(shaped, pc.fill_null(same, False))

    for name in cols:
        if name in TEXT or name in ("occurred_on", "effective_on", "recorded_at", "amount"):
            arr = cols[name]
            ok = both(ok, pc.equal(pc.utf8_trim_whitespace(arr), arr))
    for name in ("source", "source_record_id", "subject_id", "kind", "occurred_on"):
        ok = both(ok, pc.invert(empty(name)))
    ok = both(ok, roundtrip("occurred_on", "%Y-%m-%d", DATE_RE))
    if "effective_on" in cols:
        eff = roundtrip("effective_on", "%Y-%m-%d", DATE_RE)
        later = pc.greater_equal(cols["effective_on"], cols["occurred_on"])
        ok = both(ok, pc.or_(empty("effective_on"), pc.and_(eff, later)))
    if "recorded_at" in cols:
        rec = roundtrip("recorded_at", "%Y-%m-%dT%H:%M:%SZ", INSTANT_RE)
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


def _fast_candidates(pc: Any, cols: dict[str, Any], ok: Any, lines: range) -> list[Item]:
    def pick(name: str) -> Any:
        return pc.filter(cols[name], ok)

    source = pick("source")
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

    def optional(name: str) -> list[str | None]:
        if name not in cols:
            return [None] * len(source)
        arr = pick(name)
        return list(pc.if_else(pc.equal(arr, ""), None, arr).to_pylist())

    line_list = [ln for ln, good in zip(lines, ok.to_pylist(), strict=True) if good]
    columns = zip(
        line_list,
        source.to_pylist(),
        pick("source_record_id").to_pylist(),
        pick("subject_id").to_pylist(),
        pick("kind").to_pylist(),
        occurred.to_pylist(),
        eff.to_pylist(),
        rec.to_pylist(),
        optional("amount"),
        optional("evidence_ref"),
        optional("record_id"),
        strict=True,
    )
    return [
        (ln, Candidate(ln, rid, s, sr, nid, k, o, e, r, a, ev, ()), (), {})
        for ln, s, sr, nid, k, o, e, r, a, ev, rid in columns
    ]
