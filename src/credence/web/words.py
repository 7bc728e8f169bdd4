"""Words for people: dates, durations, states, record kinds, lists, measures and sources.

The pages never show a code where a person reads: a record kind is shown by its rule's
``title``, a list or measure by its ``title``, a source by its name in the policy's
``source_names``, a status by its plain label, and dates and durations in words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from credence.dates import Duration, Period, parse_duration
from credence.letters.letter import date_in_words
from credence.policy.load import PolicySet
from credence.states import (
    ListingStatus,
    MeasureStatus,
    NoticeStatus,
    ObjectionStatus,
    RecordStatus,
)

#: The plain label of every state a person may see, whatever object it is a state of.
STATUS_LABELS: dict[str, str] = {
    RecordStatus.ACTIVE: "counts",
    RecordStatus.CONTESTED: "contested",
    RecordStatus.UPHELD: "upheld after review",
    RecordStatus.OVERTURNED: "overturned",
    RecordStatus.REVOKED: "withdrawn by the source",
    RecordStatus.CORRECTED_BY: "replaced by a correction",
    RecordStatus.LAPSED: "lapsed: not reviewed in time",
    NoticeStatus.DUE: "being sent",
    NoticeStatus.ISSUED: "sent",
    NoticeStatus.SERVED: "delivered",
    NoticeStatus.EXPIRED: "deadline passed",
    NoticeStatus.COMPLIED: "put right in time",
    NoticeStatus.WITHDRAWN: "withdrawn",
    ListingStatus.PENDING_NOTICE: "notice given, not listed yet",
    ListingStatus.LISTED: "listed",
    ListingStatus.REMOVED: "removed from the list",
    MeasureStatus.PROPOSED: "proposed",
    MeasureStatus.AWAITING_REVIEW: "awaiting review",
    MeasureStatus.IN_FORCE: "in force",
    MeasureStatus.LIFTED: "lifted",
    MeasureStatus.RESCINDED: "undone",
    MeasureStatus.REFUSED: "refused by a reviewer",
    ObjectionStatus.FILED: "filed",
    ObjectionStatus.UNDER_REVIEW: "under review",
}


def long_date(value: date | datetime | None) -> str:
    """A date in words: ``7 October 2030`` (an empty string for None).

    >>> long_date(date(2030, 10, 7)), long_date(datetime(2031, 1, 1, 12, 0))
    ('7 October 2030', '1 January 2031')
    """
    return "" if value is None else date_in_words(value)


def human_duration(value: object) -> str:
    """A duration in words (``P1Y6M`` → "1 year 6 months"); anything else as its text.

    >>> from credence.dates import parse_duration
    >>> human_duration(parse_duration("P30D")), human_duration(parse_duration("P1Y6M"))
    ('30 days', '1 year 6 months')
    >>> human_duration(Period(working_days=10)), human_duration(Period(days=7, working_days=1))
    ('10 working days', '7 days then 1 working day')
    """
    if not isinstance(value, Duration):
        return "" if value is None else str(value)
    parts = [
        f"{n} {unit}{'s' if n != 1 else ''}"
        for n, unit in ((value.years, "year"), (value.months, "month"), (value.days, "day"))
        if n
    ]
    if isinstance(value, Period) and value.working_days:
        # A period of working days holds no calendar days: it is its count of working days.
        n = value.working_days
        parts.append(f"{'then ' if parts else ''}{n} working day{'s' if n != 1 else ''}")
    return " ".join(parts) or "no time"


_ISO_DURATION = re.compile(r"\bP(?=\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?\b")


def durations_in_words(text: object) -> str:
    """A text with its ISO durations in words (notice texts were written with ``P30D``).

    >>> durations_in_words("reviewed within P30D (extended once by P15D)")
    'reviewed within 30 days (extended once by 15 days)'
    """
    return _ISO_DURATION.sub(lambda m: human_duration(parse_duration(m.group(0))), str(text))


def status_label(value: object) -> str:
    """The plain label of a state (``awaiting_review`` → "awaiting review").

    >>> status_label("awaiting_review"), status_label("pending_notice")
    ('awaiting review', 'notice given, not listed yet')
    """
    text = str(value)
    return STATUS_LABELS.get(text, text.replace("_", " "))


def days(n: int) -> str:
    """A count of days in words.

    >>> days(1), days(30)
    ('1 day', '30 days')
    """
    return f"{n} day{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class Words:
    """The names a policy gives its record kinds, lists, measures, stages and sources."""

    kinds: dict[str, str]
    lists: dict[str, str]
    measures: dict[str, str]
    stages: dict[str, str]
    categories: dict[str, str]
    sources: dict[str, str]

    @classmethod
    def of(cls, policy: PolicySet) -> Words:
        """Every title of every version; a later version's title wins."""
        kinds: dict[str, str] = {}
        lists: dict[str, str] = {}
        measures: dict[str, str] = {}
        stages: dict[str, str] = {}
        categories: dict[str, str] = {}
        sources: dict[str, str] = {}
        for v in policy.versions:
            kinds |= {r.kind: r.title for r in (*v.rules, *v.credits) if r.title}
            lists |= {x.id: x.title for x in v.lists if x.title}
            measures |= {x.id: x.title for x in v.measures if x.title}
            if v.stages is not None:
                stages |= {x.id: x.title for x in v.stages.ladder if x.title}
            categories |= {c.id: c.label for c in v.categories if c.label}
            sources |= v.source_names
        return cls(kinds, lists, measures, stages, categories, sources)

    def kind(self, kind: str) -> str:
        """A record kind by its title (the code when the policy gives none)."""
        return self.kinds.get(kind, kind)

    def list(self, list_id: str) -> str:
        """A list by its title."""
        return self.lists.get(list_id, list_id)

    def measure(self, measure_id: str) -> str:
        """A measure by its title."""
        return self.measures.get(measure_id, measure_id)

    def stage(self, stage_id: str) -> str:
        """A stage of the ladder by its title."""
        return self.stages.get(stage_id, stage_id)

    def category(self, category: str) -> str:
        """A category by its label."""
        return self.categories.get(category, category)

    def about(self, about: str) -> str:
        """What a notice is about (``list:serious-arrears``, ``stage:warning``) in words."""
        kind, _, key = about.partition(":")
        if kind == "list":
            return self.list(key)
        if kind == "stage":
            return self.stage(key)
        if kind == "measure":
            return self.measure(key)
        return about

    def source(self, source: str) -> str:
        """A source by name: ``court:court-00128628`` → "Court (court-00128628)".

        The part before ``:`` is the kind of source the policy names; the rest, if any, is
        which one of them, kept so that a person can tell two courts apart.
        """
        kind, sep, which = source.partition(":")
        name = self.sources.get(kind)
        if name is None:
            return source
        return f"{name} ({which})" if sep and which else name


@dataclass(frozen=True)
class ReadLine:
    """One line of "Who looked": a read by someone else, or the subject's own reads of a day."""

    when: str
    actor: str
    role: str
    purpose: str
    what: str
    count: int = 1


def grouped_reads(events: Iterable[Any], own: str) -> list[ReadLine]:
    """The reads of a subject's data, newest first, the subject's own grouped one line per day.

    ``events`` are access events, newest first, with ``at``, ``actor``, ``role``, ``purpose``
    and ``what``; ``own`` is the subject's principal name. Reads by anyone else stay one line
    each (with the time), since each of those is what the log is there to show.
    """
    out: list[ReadLine] = []
    mine: dict[date, int] = {}
    own_lines: dict[date, int] = {}
    for e in events:
        day = e.at.date()
        if e.actor == own and e.role == "subject":
            if day in own_lines:
                i = own_lines[day]
                mine[day] += 1
                line = out[i]
                whats = line.what.split(", ")
                if e.what not in whats:
                    whats.append(e.what)
                out[i] = ReadLine(
                    line.when, line.actor, line.role, line.purpose, ", ".join(whats), mine[day]
                )
                continue
            own_lines[day] = len(out)
            mine[day] = 1
            out.append(ReadLine(long_date(day), e.actor, "you", str(e.purpose), str(e.what)))
            continue
        when = f"{long_date(e.at)}, {e.at:%H:%M} UTC"
        out.append(ReadLine(when, e.actor, e.role, str(e.purpose), str(e.what)))
    return out
