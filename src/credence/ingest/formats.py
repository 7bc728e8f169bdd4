"""Reading record files (CSV, JSONL, Parquet) row by row, with the line of every row.

Each row becomes either a :class:`~credence.records.Record` or a list of errors naming the
line, the field and the reason; nothing is dropped silently. Line numbers are physical lines
for CSV (the header is line 1) and JSONL, and 1-based row numbers for Parquet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from credence.dates import as_utc, parse_date, parse_instant
from credence.errors import RecordError
from credence.ingest.text import CONTROL, UNDECODED, control_fields, control_problem
from credence.records import Record, Status, StatusChange

COLUMNS = (
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
    "status",
    "status_at",
    "status_history",
)
REQUIRED = ("source", "source_record_id", "subject_id", "kind", "occurred_on")


@dataclass(frozen=True)
class Row:
    """One row of a record file: its line, and the record or the errors that reject it."""

    line: int
    record: Record | None
    errors: tuple[RecordError, ...] = field(default=())
    raw: Mapping[str, Any] = field(default_factory=dict)


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


def parse_row(line: int, raw: Mapping[str, Any], *, screened: bool = False) -> Row:
    """Validate one row's fields; every bad field is reported, not just the first.

    ``screened``: the caller has already found no control character in the row's text.
    """
    errors: list[RecordError] = []
    # A field with a control character is reported as such, and only so.
    refused: set[str] = set()
    for name, problem in () if screened else control_fields(raw):
        errors.append(RecordError(line, name, problem))
        refused.add(name)

    def text(name: str, required: bool = False) -> str | None:
        value = raw.get(name)
        if name in refused:
            return None
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                errors.append(RecordError(line, name, "is required"))
            return None
        return str(value).strip()

    def day(name: str, required: bool = False) -> date | None:
        value = raw.get(name)
        if name in refused:
            return None
        if value is None or value == "":
            if required:
                errors.append(RecordError(line, name, "is required"))
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return parse_date(str(value))
        except ValueError as exc:
            errors.append(RecordError(line, name, str(exc)))
            return None

    def instant(name: str) -> datetime | None:
        value = raw.get(name)
        if name in refused:
            return None
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return as_utc(value)
        if isinstance(value, date):
            return parse_instant(value.isoformat())
        try:
            return parse_instant(str(value))
        except ValueError as exc:
            errors.append(RecordError(line, name, str(exc)))
            return None

    source = text("source", True)
    source_record_id = text("source_record_id", True)
    subject_id = text("subject_id", True)
    kind = text("kind", True)
    occurred = day("occurred_on", True)
    effective = day("effective_on")
    recorded = instant("recorded_at")
    amount: Decimal | None = None
    if raw.get("amount") not in (None, "") and "amount" not in refused:
        try:
            amount = Decimal(str(raw["amount"]).strip())
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            errors.append(RecordError(line, "amount", f"{raw['amount']!r} is not a number"))
    if occurred and effective and effective < occurred:
        errors.append(
            RecordError(line, "effective_on", f"{effective} is before occurred_on {occurred}")
        )
    history = () if refused & {"status", "status_history"} else _history(line, raw, errors, instant)
    if errors:
        return Row(line, None, tuple(errors), raw)
    assert source and source_record_id and subject_id and kind and occurred
    effective = effective or occurred
    recorded = recorded or parse_instant(effective.isoformat())
    if history and history[0].at < recorded:
        history = tuple(StatusChange(c.status, max(c.at, recorded), c.ref) for c in history)
    record = Record(
        record_id=text("record_id") or f"{source}:{source_record_id}",
        source=source,
        source_record_id=source_record_id,
        subject_id=subject_id,
        kind=kind,
        occurred_on=occurred,
        effective_on=effective,
        recorded_at=recorded,
        amount=amount,
        evidence_ref=text("evidence_ref"),
        history=history,
    )
    return Row(line, record, (), raw)


def _history(
    line: int,
    raw: Mapping[str, Any],
    errors: list[RecordError],
    instant: Any,
) -> tuple[StatusChange, ...]:
    changes: list[StatusChange] = []
    listed = raw.get("status_history")
    if listed not in (None, ""):
        items = listed
        if isinstance(listed, str):
            try:
                items = json.loads(listed)
            except json.JSONDecodeError as exc:
                errors.append(RecordError(line, "status_history", f"invalid JSON: {exc.msg}"))
                return ()
        if not isinstance(items, list):
            errors.append(RecordError(line, "status_history", "must be a list of changes"))
            return ()
        for i, item in enumerate(items):
            ref = item.get("ref") if isinstance(item, dict) else None
            if isinstance(ref, str) and (problem := control_problem(ref)) is not None:
                errors.append(RecordError(line, f"status_history[{i}].ref", problem))
                continue
            try:
                changes.append(
                    StatusChange(
                        Status(item["status"]), parse_instant(str(item["at"])), item.get("ref")
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                errors.append(
                    RecordError(
                        line,
                        f"status_history[{i}]",
                        f"needs status (one of {', '.join(s.value for s in Status)}) and at: {exc}",
                    )
                )
    status = raw.get("status")
    if status not in (None, ""):
        try:
            parsed = Status(str(status).strip())
        except ValueError:
            errors.append(
                RecordError(
                    line, "status", f"{status!r} is not one of {', '.join(s.value for s in Status)}"
                )
            )
            return ()
        if parsed is not Status.ACTIVE or changes:
            at = instant("status_at") or instant("recorded_at") or instant("effective_on")
            if at is None:
                at = instant("occurred_on")
            if at is not None:
                changes.append(StatusChange(parsed, at))
    changes.sort(key=lambda c: c.at)
    return tuple(changes)
