"""The record: one fact reported by an accountable source, never edited in place.

Records are bitemporal: ``occurred_on`` (the act), ``effective_on`` (the decision became
final) and ``recorded_at`` (the system learned it). Status changes are appended to a history;
what a record's status was "as known at" a day is the latest change recorded by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from credence.dates import as_utc, end_of_day
from credence.states import VOID as VOID
from credence.states import RecordStatus

# A record's states live with the other states; ``Status`` is the name the record code uses.
Status = RecordStatus


@dataclass(frozen=True)
class StatusChange:
    """A status a record took at a moment; ``ref`` names the correcting record, if any."""

    status: Status
    at: datetime
    ref: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", as_utc(self.at))


@dataclass(frozen=True)
class Record:
    """One reported fact about one subject."""

    record_id: str
    source: str
    source_record_id: str
    subject_id: str
    kind: str
    occurred_on: date
    effective_on: date
    recorded_at: datetime
    amount: Decimal | None = None
    evidence_ref: str | None = None
    history: tuple[StatusChange, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "recorded_at", as_utc(self.recorded_at))
        if self.effective_on < self.occurred_on:
            raise ValueError(
                f"record {self.record_id}: effective_on {self.effective_on} is before "
                f"occurred_on {self.occurred_on}"
            )

    @property
    def known_on(self) -> date:
        """The day from which the system knew this record and it was final."""
        return max(self.recorded_at.date(), self.effective_on)

    def known_by(self, known_at: date) -> bool:
        """True when the record was recorded and final by the end of ``known_at``."""
        return self.recorded_at < end_of_day(known_at) and self.effective_on <= known_at

    def status_at(self, known_at: date) -> Status:
        """The latest status recorded by the end of ``known_at`` (active when none)."""
        cutoff = end_of_day(known_at)
        status = Status.ACTIVE
        for change in self.history:
            if change.at < cutoff:
                status = change.status
        return status

    def status_days(self) -> list[date]:
        """The days on which this record's status changed."""
        return [c.at.date() for c in self.history]
