"""The SQL foundation of the data layer: the declarative base and the column types.

Instants are stored in UTC: ``timestamptz`` on PostgreSQL, fixed-width ISO-8601 text on SQLite
(so that text order is time order and bulk loaders can write it); decimals exactly. The store's
tables (``credence.store.schema``) and the audit's (``credence.audit.tables``) are built on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def instant_text(moment: datetime) -> str:
    """The stored text of an instant: UTC, microseconds, ``Z`` (fixed width, sortable)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(INSTANT_FORMAT)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant; ``timestamptz`` on PostgreSQL, ISO text elsewhere."""

    impl = String(27)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the column type for the backend."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(String(27))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if dialect.name == "postgresql":
            return value.astimezone(UTC)
        return instant_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Read back an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, datetime):
            moment = value
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: ``numeric`` on PostgreSQL, its text on SQLite (which has no decimal)."""

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the column type for the backend."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric())
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """Store the decimal exactly."""
        if value is None:
            return None
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Read back a Decimal."""
        return None if value is None else Decimal(str(value))


class Base(DeclarativeBase):
    """Base of every table of the store (the system of record's and the audit's)."""
