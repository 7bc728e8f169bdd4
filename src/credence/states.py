"""The states of records and due-process objects: one spelling for the store, API, docs and pages.

Every status that is written to the database, returned by the API, shown in a template or
compared in code is a member of one of these enums. Values are snake_case; the store held
hyphenated spellings (``in-force``) before revision 0005, which converts them.
"""

from __future__ import annotations

from enum import StrEnum


class RecordStatus(StrEnum):
    """The states of a record's life."""

    ACTIVE = "active"
    CONTESTED = "contested"
    UPHELD = "upheld"
    OVERTURNED = "overturned"
    REVOKED = "revoked"
    CORRECTED_BY = "corrected_by"
    LAPSED = "lapsed"  # the objection's review deadline was missed: the record stops counting


VOID = frozenset(
    {RecordStatus.OVERTURNED, RecordStatus.REVOKED, RecordStatus.CORRECTED_BY, RecordStatus.LAPSED}
)


class NoticeStatus(StrEnum):
    """A notice: created (due), issued, served, then one of the three ends."""

    DUE = "due"  # the row exists and the notice waits in the outbox
    ISSUED = "issued"
    SERVED = "served"
    EXPIRED = "expired"  # the deadline passed: the measure or listing followed
    COMPLIED = "complied"  # the subject rectified in time
    WITHDRAWN = "withdrawn"  # a record it rested on no longer counts, or it was recomputed away


NOTICE_ENDS = frozenset({NoticeStatus.EXPIRED, NoticeStatus.COMPLIED, NoticeStatus.WITHDRAWN})


class ListingStatus(StrEnum):
    """A listing episode: notice before listing, listed, then removed or withdrawn."""

    PENDING_NOTICE = "pending_notice"
    LISTED = "listed"
    REMOVED = "removed"  # after listing
    WITHDRAWN = "withdrawn"  # before listing


LISTING_ENDS = frozenset({ListingStatus.REMOVED, ListingStatus.WITHDRAWN})


class ListingOutcome(StrEnum):
    """How a listing episode ended (its ``reason`` says the same in words)."""

    EXPIRED = "expired"  # the listing period ended
    REPAIRED = "repaired"  # a repairing record removed the subject from the list
    RECTIFIED = "rectified"  # the criteria stopped holding before listing: the notice complied
    CRITERIA_ENDED = "criteria_ended"  # the criteria stopped holding while listed
    RECORD_VOID = "record_void"  # a record it rested on was revoked, overturned, corrected, lapsed
    RECOMPUTED = "recomputed"  # a recomputation no longer produces the episode at all

    @property
    def rescinds(self) -> bool:
        """Whether this end undoes the listing (a correction), rather than closing it."""
        return self in (ListingOutcome.RECORD_VOID, ListingOutcome.RECOMPUTED)


class MeasureStatus(StrEnum):
    """A measure: proposed, possibly awaiting a reviewer, in force, then one of the ends."""

    PROPOSED = "proposed"
    AWAITING_REVIEW = "awaiting_review"
    IN_FORCE = "in_force"
    LIFTED = "lifted"  # its period ended or the subject left the stage or list
    RESCINDED = "rescinded"  # a record it rested on no longer counts: it is undone
    WITHDRAWN = "withdrawn"  # it never took effect
    REFUSED = "refused"  # a reviewer refused to sign it off


MEASURE_OPEN = frozenset(
    {MeasureStatus.PROPOSED, MeasureStatus.AWAITING_REVIEW, MeasureStatus.IN_FORCE}
)
MEASURE_ENDS = frozenset({MeasureStatus.LIFTED, MeasureStatus.RESCINDED, MeasureStatus.WITHDRAWN})


class ObjectionStatus(StrEnum):
    """An objection: filed, under review, then decided or lapsed."""

    FILED = "filed"
    UNDER_REVIEW = "under_review"
    UPHELD = "upheld"
    OVERTURNED = "overturned"
    LAPSED = "lapsed"


OBJECTION_OPEN = (ObjectionStatus.FILED, ObjectionStatus.UNDER_REVIEW)

# The spellings the store held before revision 0005, per table, and what they become.
OLD_SPELLINGS: dict[str, str] = {
    "in-force": MeasureStatus.IN_FORCE,
    "awaiting-review": MeasureStatus.AWAITING_REVIEW,
    "pending-notice": ListingStatus.PENDING_NOTICE,
    "under-review": ObjectionStatus.UNDER_REVIEW,
}
