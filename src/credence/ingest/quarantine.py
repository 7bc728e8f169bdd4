"""Quarantine: rejected rows with file, line, field and reason, never silently dropped.

A row's raw values are kept for the operator, but its national identifier is replaced by the
subject's pseudonym so that the clear identifier never reaches the database. A row rejected
twice (a re-run of the same file) is quarantined once: rows are keyed by the file's SHA-256,
the line, the field and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.store.keys import Keys
from credence.store.schema import QuarantinedRow


@dataclass(frozen=True)
class Rejection:
    """One reason one row was rejected."""

    line: int
    field: str
    reason: str
    raw: str


def redact(raw: Mapping[str, Any], keys: Keys) -> str:
    """The raw row as JSON, with the national identifier pseudonymised."""
    clean = dict(raw)
    nid = clean.get("subject_id")
    if nid not in (None, ""):
        clean["subject_id"] = "hmac:" + keys.subject_id(str(nid).strip())
    return json.dumps(clean, sort_keys=True, default=str, ensure_ascii=False)


def rejections(
    line: int, problems: Sequence[tuple[str, str]], raw: Mapping[str, Any], keys: Keys
) -> list[Rejection]:
    """One rejection per problem of a row."""
    text = redact(raw, keys)
    return [Rejection(line, field, reason[:500], text) for field, reason in problems]


def quarantined(session: Session, file_sha256: str | None = None) -> list[QuarantinedRow]:
    """The quarantined rows, of one file or of all, in file and line order."""
    stmt = select(QuarantinedRow).order_by(
        QuarantinedRow.file_sha256, QuarantinedRow.line, QuarantinedRow.field
    )
    if file_sha256 is not None:
        stmt = stmt.where(QuarantinedRow.file_sha256 == file_sha256)
    return list(session.scalars(stmt).all())
