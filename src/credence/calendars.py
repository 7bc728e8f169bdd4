"""Working-day calendars: a jurisdiction's public holidays, its weekend, and extra days off.

A jurisdiction is a country code (``DE``, ``US``, ``CN``) or a country and one of its regions
(``DE-BY`` for Bavaria, ``US-CA``), as the ``holidays`` package knows them. The package also
knows each country's weekend and the weekend days a country declares working days (China
moves working days onto weekends around its holidays), so a day is a working day exactly when
the package says so and the policy has not declared it a day off.

>>> from datetime import date
>>> bavaria = Calendar("DE-BY")
>>> bavaria.is_day_off(date(2026, 1, 6)), Calendar("DE").is_day_off(date(2026, 1, 6))
(True, False)
>>> bavaria.holiday_name(date(2026, 1, 6))
'Epiphany'
>>> bavaria.next_working_day(date(2026, 4, 3))  # Good Friday, weekend, Easter Monday
datetime.date(2026, 4, 7)
>>> bavaria.add_working_days(date(2026, 4, 2), 1)
datetime.date(2026, 4, 7)
>>> Calendar("CN").is_day_off(date(2026, 2, 14))  # a Saturday worked for the Spring Festival
False
>>> Calendar(None, frozenset({date(2026, 12, 24)})).is_day_off(date(2026, 12, 24))
True
>>> Calendar("XX")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: 'XX' is not a jurisdiction the holidays package knows (a country code such as DE, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, lru_cache

import holidays

WEEKEND = frozenset({5, 6})
"""Saturday and Sunday: the weekend of a calendar without a jurisdiction."""


@cache
def _supported() -> dict[str, frozenset[str]]:
    return {c: frozenset(s) for c, s in holidays.list_supported_countries().items()}


@cache
def _holidays(jurisdiction: str) -> holidays.HolidayBase:
    country, _, region = jurisdiction.partition("-")
    return holidays.country_holidays(country, subdiv=region or None)


def check_jurisdiction(code: str) -> str:
    """``code`` when the holidays package knows it (``DE``, ``DE-BY``); otherwise ValueError."""
    country, _, region = code.partition("-")
    regions = _supported().get(country)
    if regions is None or (region and region not in regions):
        raise ValueError(
            f"{code!r} is not a jurisdiction the holidays package knows (a country code such "
            "as DE, US or CN, or a country and region such as DE-BY)"
        )
    return code


@dataclass(frozen=True)
class Calendar:
    """Which days are days off: a jurisdiction's holidays and weekend, plus the policy's own."""

    jurisdiction: str | None = None
    days_off: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.jurisdiction is not None:
            check_jurisdiction(self.jurisdiction)

    def __str__(self) -> str:
        extra = f" + {len(self.days_off)} day(s) off" if self.days_off else ""
        return (self.jurisdiction or "weekends") + extra

    def is_day_off(self, day: date) -> bool:
        """True on a weekend day, a public holiday, or a day off the policy declares."""
        return _day_off(self, day)

    def holiday_name(self, day: date) -> str | None:
        """The public holiday on ``day`` (None when there is none or no jurisdiction)."""
        if self.jurisdiction is None:
            return None
        name = _holidays(self.jurisdiction).get(day)
        return None if name is None else str(name)

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, otherwise the first working day after it."""
        while self.is_day_off(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself is not counted)."""
        day = start
        for _ in range(count):
            day = self.next_working_day(day + timedelta(days=1))
        return day


@lru_cache(maxsize=262_144)
def _day_off(calendar: Calendar, day: date) -> bool:
    if day in calendar.days_off:
        return True
    if calendar.jurisdiction is None:
        return day.weekday() in WEEKEND
    return not _holidays(calendar.jurisdiction).is_working_day(day)
