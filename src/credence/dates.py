"""Dates and ISO-8601 durations: the arithmetic behind expiry, deadlines and periods.

A duration is calendar-based: years and months move the calendar month, keeping the day when
it exists and otherwise taking the last day of the month; weeks and days are added after.

>>> parse_duration("P3Y")
Duration(years=3, months=0, days=0)
>>> parse_duration("P1Y6M")
Duration(years=1, months=6, days=0)
>>> parse_duration("P2W")
Duration(years=0, months=0, days=14)
>>> parse_duration("P30D").days
30
>>> parse_duration("3 years")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
credence.errors.DurationError: '3 years' is not an ISO-8601 date duration such as P3Y, ...
>>> parse_duration("PT5H")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
credence.errors.DurationError: 'PT5H' is not an ISO-8601 date duration such as P3Y, P6M, ...

>>> from datetime import date
>>> add_duration(date(2024, 2, 29), parse_duration("P1Y"))
datetime.date(2025, 2, 28)
>>> add_duration(date(2026, 1, 31), parse_duration("P1M"))
datetime.date(2026, 2, 28)
>>> add_duration(date(2026, 3, 15), parse_duration("P1Y6M10D"))
datetime.date(2027, 9, 25)
>>> str(parse_duration("P1Y6M10D"))
'P1Y6M10D'
>>> str(parse_duration("P0D"))
'P0D'
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from credence.errors import DurationError

_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


@dataclass(frozen=True, order=True)
class Duration:
    """A calendar duration of years, months and days (weeks are stored as days)."""

    years: int = 0
    months: int = 0
    days: int = 0

    def __str__(self) -> str:
        parts = "".join(
            f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if n
        )
        return "P" + (parts or "0D")

    def after(self, start: date) -> date:
        """The date this duration after ``start``."""
        return add_duration(start, self)

    def before(self, end: date) -> date:
        """The date this duration before ``end`` (the start of a look-back window).

        >>> Duration(years=1).before(date(2025, 2, 28))
        datetime.date(2024, 2, 28)
        """
        return add_months(end, -(self.years * 12 + self.months)) - timedelta(days=self.days)


def parse_duration(text: str) -> Duration:
    """Parse an ISO-8601 date duration (``PnYnMnWnD``); time parts are refused."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or text.strip() == "P":
        raise DurationError(
            f"{text!r} is not an ISO-8601 date duration such as P3Y, P6M, P30D or P1Y6M"
        )
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return Duration(years=years, months=months, days=weeks * 7 + days)


@lru_cache(maxsize=65_536)
def add_months(start: date, months: int) -> date:
    """Move ``start`` by whole calendar months, clamping the day to the month's end.

    >>> add_months(date(2026, 5, 31), -3)
    datetime.date(2026, 2, 28)
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last))


@lru_cache(maxsize=65_536)
def add_duration(start: date, duration: Duration) -> date:
    """The date ``duration`` after ``start``: calendar months first, then days."""
    return add_months(start, duration.years * 12 + duration.months) + timedelta(days=duration.days)


def parse_date(text: str) -> date:
    """Parse an ISO date (``YYYY-MM-DD``).

    >>> parse_date("2026-02-30")
    Traceback (most recent call last):
    ...
    ValueError: '2026-02-30' is not a valid date (YYYY-MM-DD): day is out of range for month
    """
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date (YYYY-MM-DD): {exc}") from None


def parse_instant(text: str) -> datetime:
    """Parse an ISO date or date-time into an aware UTC datetime (a date means 00:00 UTC).

    >>> parse_instant("2026-03-01")
    datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_instant("2026-03-01T10:30:00+02:00")
    datetime.datetime(2026, 3, 1, 8, 30, tzinfo=datetime.timezone.utc)
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
        return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date or date-time (ISO 8601): {exc}") from None


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be in UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@lru_cache(maxsize=65_536)
def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` ends (exclusive bound for "known by the end of day").

    >>> end_of_day(date(2026, 3, 1))
    datetime.datetime(2026, 3, 2, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
