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
from typing import Any, Literal, Protocol, TypeVar

from credence.calendars import Calendar
from credence.errors import DurationError

Rounding = Literal["down", "up"]
"""Where a month or year step that lands on a missing day goes: ``down`` to the month's last
day (31 January + 1 month = 28 February), ``up`` to the next month's first (1 March)."""

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

    @property
    def can_miss_a_day(self) -> bool:
        """True when some start day has no counterpart in the month it moves to (a month step
        from the 29th to the 31st, a year step from 29 February)."""
        return bool(self.years or self.months)

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


D = TypeVar("D")


class DateOps(Protocol[D]):
    """The calendar arithmetic a backend provides: Python dates, or an Ibis column."""

    def add_months(self, day: D, months: int) -> D:
        """``day`` moved by whole months, the day clamped to the month's end."""
        ...

    def add_days(self, day: D, days: int) -> D:
        """``day`` moved by ``days`` days."""
        ...

    def landed_short(self, moved: D, start: D) -> Any:
        """True (a value or a column) where ``moved`` has another day of the month than
        ``start``: the day did not exist in the target month and was clamped."""
        ...

    def where(self, condition: Any, then: D, otherwise: D) -> D:
        """``then`` where ``condition`` holds, else ``otherwise``."""
        ...


class _PythonDates:
    """:class:`DateOps` on :class:`datetime.date` values."""

    def add_months(self, day: date, months: int) -> date:
        return add_months(day, months)

    def add_days(self, day: date, days: int) -> date:
        return day + timedelta(days=days)

    def landed_short(self, moved: date, start: date) -> bool:
        return moved.day != start.day

    def where(self, condition: Any, then: date, otherwise: date) -> date:
        return then if condition else otherwise


PYTHON_DATES: DateOps[date] = _PythonDates()


def step(day: D, duration: Duration, rounding: Rounding | None, ops: DateOps[D]) -> D:
    """``day`` moved by one ISO duration: its years and months first (a missing day rounded as
    declared; undeclared rounds down, the month's last day), then its days.

    This is the one definition of calendar arithmetic: the reference evaluator applies it to
    dates and the batch plan to columns.

    >>> step(date(2026, 1, 31), Duration(months=1), "up", PYTHON_DATES)
    datetime.date(2026, 3, 1)
    >>> step(date(2024, 2, 29), Duration(years=1), "down", PYTHON_DATES)
    datetime.date(2025, 2, 28)
    """
    months = duration.years * 12 + duration.months
    if months:
        moved = ops.add_months(day, months)
        if rounding == "up":
            moved = ops.where(ops.landed_short(moved, day), ops.add_days(moved, 1), moved)
        day = moved
    if duration.days:
        day = ops.add_days(day, duration.days)
    return day


@dataclass(frozen=True)
class Period(Duration):
    """A period of a policy: ISO steps applied in a stated order, then working days, with the
    declared rounding and (for a deadline) the move of a day off to the next working day.

    ``years``, ``months`` and ``days`` hold the sum of the steps (for display and estimates);
    what a period means is :meth:`after`.

    >>> fcra = Period(years=7, days=180, steps=(Duration(days=180), Duration(years=7)))
    >>> fcra.after(date(2019, 10, 1)), Period(years=7, days=180).after(date(2019, 10, 1))
    (datetime.date(2027, 3, 29), datetime.date(2027, 3, 30))
    >>> str(fcra), str(Period(working_days=10, calendar=Calendar("DE-BY")))
    ('P180D then P7Y', '10 working days (DE-BY)')
    """

    steps: tuple[Duration, ...] = ()
    working_days: int = 0
    round: Rounding | None = None
    next_working_day: bool = False
    calendar: Calendar | None = None

    def __str__(self) -> str:
        parts = [str(s) for s in self.ordered]
        if self.working_days or not parts:
            n = self.working_days
            parts.append(f"{n} working day{'s' if n != 1 else ''}" if n else "P0D")
        text = " then ".join(parts)
        if self.next_working_day:
            text += ", moved off a day off"
        if self.working_days or self.next_working_day:
            text += f" ({self.calendar or Calendar()})"
        return text

    @property
    def ordered(self) -> tuple[Duration, ...]:
        """The ISO steps in the order they apply."""
        if self.steps:
            return self.steps
        plain = Duration(self.years, self.months, self.days)
        return (plain,) if plain != Duration() else ()

    @property
    def can_miss_a_day(self) -> bool:
        """True when a step can land on a day its target month lacks."""
        return any(s.can_miss_a_day for s in self.ordered)

    @property
    def in_calendar_days(self) -> bool:
        """True when the period needs no working-day calendar (the batch plan can run it)."""
        return not (self.working_days or self.next_working_day)

    @property
    def span_days(self) -> int:
        """An upper bound on how many days the period can span (for searching inverses)."""
        days = sum(s.years * 366 + s.months * 31 + s.days + 1 for s in self.ordered)
        # A working week holds at least one working day even in the longest holiday season.
        return days + (self.working_days + 1) * 21 + (21 if self.next_working_day else 0)

    def after(self, start: date) -> date:
        """The day this period after ``start`` (a deadline's last day, an expiry's first)."""
        return period_after(self, start)

    def before(self, end: date) -> date:
        """The earliest start whose period ends on or after ``end``'s start (look-back)."""
        if not self.steps and self.in_calendar_days and self.round is None:
            return Duration.before(self, end)
        raise DurationError(f"{self} cannot be counted backwards")

    def on(self, day: D, ops: DateOps[D]) -> D:
        """The calendar-day steps applied to ``day`` with ``ops`` (values or columns)."""
        if not self.in_calendar_days:
            raise DurationError(f"{self} counts working days: only dates can be moved by it")
        for s in self.ordered:
            day = step(day, s, self.round, ops)
        return day


@lru_cache(maxsize=262_144)
def period_after(period: Period, start: date) -> date:
    """The day ``period`` after ``start``: the ISO steps in order, then the working days, then
    (when the period says so) a day off moved to the next working day."""
    day = start
    for s in period.ordered:
        day = step(day, s, period.round, PYTHON_DATES)
    cal = period.calendar or Calendar()
    if period.working_days:
        day = cal.add_working_days(day, period.working_days)
    if period.next_working_day:
        day = cal.next_working_day(day)
    return day
