"""One record row: the columns of a record file and the check of a row's fields into a record.

A row is a mapping of column names to values, whatever the file format or the API body it came
from; :func:`parse_row` turns it into a :class:`~credence.records.Record` or into errors naming
the line, the field and the reason. Reading files is ingest's; this module does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from credence.dates import as_utc, parse_date, parse_instant
from credence.errors import RecordError
from credence.records import Record, Status, StatusChange
from credence.rows.text import control_fields, control_problem

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
