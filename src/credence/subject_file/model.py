"""The subject's file as a document: one pydantic model, whose JSON Schema documents it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class StatusChangeOut(BaseModel):
    """One change of a record's status."""

    status: str
    at: datetime
    ref: str | None


class RecordEntry(BaseModel):
    """A record with its source agency, the legal basis of the rule that values it, and every
    status change."""

    record_id: str
    source: str = Field(description="The agency that reported it.")
    kind: str
    occurred_on: date
    effective_on: date
    recorded_at: datetime
    amount: str | None
    evidence_ref: str | None
    legal_basis: str | None = Field(
        description="The rule's legal basis in the version in force on the act's day."
    )
    status: str
    history: list[StatusChangeOut]


class DeliveryOut(BaseModel):
    """How a notice was delivered (its outbox message)."""

    status: str
    recipient: str
    deliver_on: date
    attempts: int
    sent_at: datetime | None
    served_on: date | None
    last_error: str | None


class NoticeEntry(BaseModel):
    """A notice with its content and delivery."""

    id: int
    policy_id: str
    policy_version: str
    about: str
    ref: str
    status: str
    issued_on: date
    served_on: date | None
    deadline: date | None
    content: dict[str, Any]
    delivery: DeliveryOut | None


class ListingEntry(BaseModel):
    """An entry on a list."""

    id: int
    policy_id: str
    list_id: str
    status: str
    entered_on: date | None
    exited_on: date | None
    detail: dict[str, Any]


class MeasureEntry(BaseModel):
    """A measure proposed, in force or ended."""

    id: int
    policy_id: str
    measure_id: str
    status: str
    in_force_from: date | None
    until: date | None
    detail: dict[str, Any]


class ObjectionEntry(BaseModel):
    """An objection with its decision (``outcome``; None while it is open)."""

    id: int
    record_id: str
    status: str
    filed_at: datetime
    review_deadline: date
    outcome: str | None
    statement: str
    evidence: list[str]


class AccessEntry(BaseModel):
    """One party that read the subject's data: who, in what role, why, what and when."""

    at: datetime
    actor: str
    role: str
    purpose: str
    what: str


class PolicyVersionEntry(BaseModel):
    """A version of the policy, and whether it was applied to the subject."""

    version: str
    effective_from: date
    applied: bool = Field(description="The assessment or a notice of the subject used it.")


class AssessmentEntry(BaseModel):
    """The assessment on the file's day, with its principal reasons and exact way back (the
    same as ``GET /me/assessment``)."""

    as_of: date
    score: int
    grade: str
    policy_version: str
    reasons: list[dict[str, Any]]
    way_back: dict[str, Any] | None


class SubjectFile(BaseModel):
    """Everything held about one subject, as of one day."""

    subject_id: str
    policy_id: str
    as_of: date
    made_at: datetime
    request_ref: str | None = Field(description="The written request an operator acted on.")
    records: list[RecordEntry]
    notices: list[NoticeEntry]
    listings: list[ListingEntry]
    measures: list[MeasureEntry]
    objections: list[ObjectionEntry]
    accesses: list[AccessEntry]
    policy_versions: list[PolicyVersionEntry]
    assessment: AssessmentEntry | None = Field(description="None when no version is in force.")
