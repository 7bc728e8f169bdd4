"""Small builders for tests: policies from dicts, records from a few fields."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from credence.policy.load import PolicySet
from credence.policy.model import PolicyVersion
from credence.records import Record, Status, StatusChange

SUBJECT = "subject-1"


def base_policy(**overrides: Any) -> dict[str, Any]:
    """A minimal lawful merit policy: base 100 on [0, 200], grades A/B/C, one category."""
    doc: dict[str, Any] = {
        "id": "t",
        "version": "1",
        "effective_from": date(2025, 1, 1),
        "scale": {"base": 100, "min": 0, "max": 200},
        "grades": [
            {"grade": "C", "min": 0, "max": 79},
            {"grade": "B", "min": 80, "max": 119},
            {"grade": "A", "min": 120, "max": 200},
        ],
        "categories": [{"id": "main"}],
        # Declared, as lint CR020 asks of every month or year period.
        "calendar": {"round": "down"},
        "rules": [
            rule("fine", -10, "P1Y"),
            rule("bonus", 5, None),
        ],
    }
    doc.update(copy.deepcopy(overrides))
    return doc


def rule(kind: str, points: Any, expires: str | None, **extra: Any) -> dict[str, Any]:
    """A rule with a legal basis and a lawful data category."""
    out: dict[str, Any] = {
        "kind": kind,
        "category": "main",
        "points": points,
        "legal_basis": f"Act s.{kind}",
        "data_category": "administrative",
        "sources": ["agency"],
    }
    if expires is not None:
        out["expires_after"] = expires
    out.update(extra)
    return out


def policy(*docs: dict[str, Any]) -> PolicySet:
    """A policy set from one or more version dicts."""
    return PolicySet.of(*(PolicyVersion.model_validate(d) for d in docs))


def at(day: date) -> datetime:
    """Midnight UTC of a day."""
    return datetime.combine(day, time(), tzinfo=UTC)


def rec(
    rid: str,
    kind: str,
    occurred: date,
    *,
    effective: date | None = None,
    recorded: date | datetime | None = None,
    amount: str | int | None = None,
    status: list[tuple[str, date]] | None = None,
    subject: str = SUBJECT,
) -> Record:
    """A record; dates default to the occurred date, history from (status, day) pairs."""
    eff = effective or occurred
    when = recorded if isinstance(recorded, datetime) else at(recorded or eff)
    return Record(
        record_id=rid,
        source="agency",
        source_record_id=rid,
        subject_id=subject,
        kind=kind,
        occurred_on=occurred,
        effective_on=eff,
        recorded_at=when,
        amount=Decimal(str(amount)) if amount is not None else None,
        history=tuple(StatusChange(Status(s), at(d)) for s, d in (status or [])),
    )
