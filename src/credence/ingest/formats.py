"""Reading record files (CSV, JSONL, Parquet) row by row, with the line of every row.

Each row becomes either a :class:`~credence.records.Record` or a list of errors naming the
line, the field and the reason; nothing is dropped silently. Line numbers are physical lines
for CSV (the header is line 1) and JSONL, and 1-based row numbers for Parquet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from credence.errors import RecordError
from credence.rows.fields import COLUMNS, REQUIRED, Row, parse_row
from credence.rows.text import CONTROL, UNDECODED


def detect_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file's extension."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise RecordError(0, "file", f"unknown format {suffix!r}: use .csv, .jsonl or .parquet")


def read_rows(path: str | Path) -> Iterator[Row]:
    """Yield every row of a record file, valid or not, in file order."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "csv":
        yield from _csv_rows(p)
    elif fmt == "jsonl":
        yield from _jsonl_rows(p)
    else:
        yield from _parquet_rows(p)


def _utf8_error(path: Path, first: int, last: int) -> RecordError:
    """Where the first byte of lines ``first..last`` that is not UTF-8 is (lines split as
    ``open(newline="")`` splits them). Only rows that hold one come here: the file is read again.
    """
    number = 0
    offset = 0
    with path.open("rb") as handle:
        for chunk in handle:
            for piece in chunk.splitlines(keepends=True) if b"\r" in chunk else (chunk,):
                number += 1
                if first <= number <= last:
                    try:
                        piece.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        return RecordError(
                            number,
                            "row",
                            f"is not valid UTF-8: byte 0x{piece[exc.start]:02x} at byte offset "
                            f"{offset + exc.start} of the file ({exc.reason})",
                        )
                offset += len(piece)
    return RecordError(first, "row", "is not valid UTF-8")


def _open_text(path: Path) -> TextIO:
    # Undecodable bytes become lone surrogates (U+DC80-U+DCFF) instead of ending the read: the
    # row that holds one is rejected with its byte offset, and the rest of the file is read.
    return path.open(newline="", encoding="utf-8", errors="surrogateescape")


def _csv_rows(path: Path) -> Iterator[Row]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        if UNDECODED.search("".join(header)):
            raise _utf8_error(path, 1, reader.line_num)
        header = [h.strip() for h in header]
        _check_header(header)
        start = reader.line_num + 1
        while True:
            try:
                for values in reader:
                    line, start = start, reader.line_num + 1
                    joined = "".join(values)
                    # One search of the row for a bad byte or a control character (rare).
                    suspect = CONTROL.search(joined) is not None
                    if suspect and UNDECODED.search(joined):
                        yield Row(line, None, (_utf8_error(path, line, start - 1),), {})
                        continue
                    if not any(v.strip() for v in values):
                        continue
                    if len(values) != len(header):
                        err = RecordError(
                            line, "row", f"has {len(values)} fields, the header has {len(header)}"
                        )
                        yield Row(line, None, (err,), {})
                        continue
                    raw = {
                        k: (v if v.strip() != "" else None)
                        for k, v in zip(header, values, strict=True)
                    }
                    yield parse_row(line, raw, screened=not suspect)
                return
            except csv.Error as exc:  # a field over the csv module's size limit, say
                line, start = start, reader.line_num + 1
                yield Row(line, None, (RecordError(line, "row", f"is not valid CSV: {exc}"),), {})


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with _open_text(path) as handle:
        for line, text in enumerate(handle, start=1):
            if UNDECODED.search(text):
                yield Row(line, None, (_utf8_error(path, line, line),))
                continue
            if not text.strip():
                continue
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Row(line, None, (RecordError(line, "row", f"invalid JSON: {exc.msg}"),))
                continue
            if not isinstance(raw, dict):
                yield Row(line, None, (RecordError(line, "row", "a row must be a JSON object"),))
                continue
            unknown = [k for k in raw if k not in COLUMNS]
            if unknown:
                errs = tuple(RecordError(line, k, "unknown field") for k in unknown)
                yield Row(line, None, errs, raw)
                continue
            yield parse_row(line, raw)


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    _check_header(list(table.schema_arrow.names))
    line = 0
    for batch in table.iter_batches(batch_size=65_536):
        for raw in batch.to_pylist():
            line += 1
            yield parse_row(line, raw)


def _check_header(header: list[str]) -> None:
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise RecordError(1, unknown[0], f"unknown column (known columns: {', '.join(COLUMNS)})")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RecordError(1, missing[0], "required column is missing")
