"""The tables of the system of record (SQLAlchemy 2 declarative models).

Records and their status history are append-only: a correction is a new record whose
``supersedes`` names the old one, and a status change is a new ``record_status`` row. Subjects
are keyed by an HMAC of their national identifier; names and contact details live only in
``identities``, encrypted. Instants are stored in UTC: ``timestamptz`` on PostgreSQL, fixed-width
ISO-8601 text on SQLite (so that text order is time order and bulk loaders can write it).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

# The audit's tables are in the same metadata (migrations and create_all see every table).
from credence.audit.tables import AccessEvent, AuditEntry, AuditHead  # noqa: F401
from credence.sql.columns import Base, ExactDecimal, UTCDateTime


class Subject(Base):
    """A person or organisation, known only by the HMAC of its national identifier."""

    __tablename__ = "subjects"
    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="person")
    region: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Identity(Base):
    """A subject's identity details, AES-GCM encrypted; the only place they exist."""

    __tablename__ = "identities"
    subject_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subjects.subject_id"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoredRecord(Base):
    """One reported fact; never updated. ``record_id`` is ``source:source_record_id``."""

    __tablename__ = "records"
    # On SQLite the table is clustered on record_id (WITHOUT ROWID): one B-tree fewer to
    # update per ingested row, which is most of the cost of a bulk load.
    __table_args__ = (
        UniqueConstraint("source", "source_record_id", name="uq_records_dedup"),
        {"sqlite_with_rowid": False},
    )
    record_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    source_record_id: Mapped[str] = mapped_column(String(200))
    subject_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subjects.subject_id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(200))
    occurred_on: Mapped[date] = mapped_column(Date)
    effective_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    amount: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    evidence_ref: Mapped[str | None] = mapped_column(Text)
    supersedes: Mapped[str | None] = mapped_column(String(300))
    # Indexed: a due-process night reads the records of ingest runs after its mark.
    ingest_run_id: Mapped[int | None] = mapped_column(Integer, index=True)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecordStatus(Base):
    """A status a record took: ``at`` when it took it, ``logged_at`` when the store learned it."""

    __tablename__ = "record_status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(300), ForeignKey("records.record_id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    ref: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoredPolicy(Base):
    """A policy version as it was used, so that any decision can be reproduced."""

    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("policy_id", "version", name="uq_policies_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    effective_from: Mapped[date] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoredAssessment(Base):
    """A computed assessment (score, grade and its full explanation as JSON)."""

    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subjects.subject_id"), index=True
    )
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str] = mapped_column(String(50))
    as_of: Mapped[date] = mapped_column(Date)
    known_at: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notice(Base):
    """A notice issued to a subject (stage, list or measure); state changes in process_events."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("subject_id", "policy_id", "ref", name="uq_notices_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subjects.subject_id"), index=True
    )
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str] = mapped_column(String(50))
    about: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    issued_on: Mapped[date] = mapped_column(Date)
    served_on: Mapped[date | None] = mapped_column(Date)
    deadline: Mapped[date | None] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ListEntry(Base):
    """A subject's entry on a list (blacklist or redlist)."""

    __tablename__ = "list_entries"
    __table_args__ = (
        UniqueConstraint("subject_id", "policy_id", "ref", name="uq_list_entries_ref"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(200))
    subject_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subjects.subject_id"), index=True
    )
    policy_id: Mapped[str] = mapped_column(String(100))
    list_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    entered_on: Mapped[date | None] = mapped_column(Date)
    exited_on: Mapped[date | None] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MeasureRow(Base):
    """A measure (sanction or reward) applied to a subject."""

    __tablename__ = "measures"
    __table_args__ = (UniqueConstraint("subject_id", "policy_id", "ref", name="uq_measures_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(200))
    subject_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subjects.subject_id"), index=True
    )
    policy_id: Mapped[str] = mapped_column(String(100))
    measure_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    in_force_from: Mapped[date | None] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Objection(Base):
    """A subject's objection against a record, with its review deadline and outcome."""

    __tablename__ = "objections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subjects.subject_id"), index=True
    )
    record_id: Mapped[str] = mapped_column(String(300), ForeignKey("records.record_id"))
    status: Mapped[str] = mapped_column(String(20))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    review_deadline: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceFile(Base):
    """An uploaded evidence file and whose it is: the subject and objection it was sent with."""

    __tablename__ = "evidence_files"
    __table_args__ = (UniqueConstraint("ref", name="uq_evidence_files_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(300))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    objection_id: Mapped[int | None] = mapped_column(Integer, index=True)
    filename: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessEvent(Base):
    """One state change of a notice, list entry, measure or objection (their full history)."""

    __tablename__ = "process_events"
    __table_args__ = (Index("ix_process_events_object", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class IngestRun(Base):
    """One run of ``credence ingest`` over one file; counters are updated per batch."""

    __tablename__ = "ingest_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(100))
    policy_id: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class QuarantinedRow(Base):
    """A rejected row: file, line, field and reason; the national id in it is pseudonymised."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("file_sha256", "line", "field", "reason", name="uq_quarantine_row"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ingest_run_id: Mapped[int | None] = mapped_column(Integer)
    file: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(100))
    line: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    raw: Mapped[str] = mapped_column(Text)
    quarantined_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A message waiting to be delivered (a notice to a subject, a notification to a party).

    Delivery goes through a pluggable sender; a notice counts as served on its delivery day.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("ref", name="uq_outbox_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(300))
    recipient: Mapped[str] = mapped_column(String(100))
    deliver_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    served_on: Mapped[date | None] = mapped_column(Date)
    last_error: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessRun(Base):
    """One run of ``credence process run``: the day it advanced to and what it changed."""

    __tablename__ = "process_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    subjects: Mapped[int] = mapped_column(Integer, default=0)
    transitions: Mapped[int] = mapped_column(Integer, default=0)


class AgendaDay(Base):
    """The next day on which a subject's due process can change for a policy without news.

    Written at each visit of the subject, in the same transaction as what the visit persisted;
    ``next_day`` NULL means nothing can change until something new is stored.
    """

    __tablename__ = "process_agenda"
    policy_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_day: Mapped[date | None] = mapped_column(Date, index=True)


class AgendaMark(Base):
    """How far a policy's runs have read the store: the last day and the highest row ids seen."""

    __tablename__ = "process_marks"
    policy_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    # Records carry no row id: those of ingest runs after ``ingest_id`` are new (a run still
    # going is never behind the mark); those stored outside a run are new from ``record_at``
    # (the latest such ingested_at seen: ties are read again).
    ingest_id: Mapped[int] = mapped_column(Integer, default=0)
    record_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_id: Mapped[int] = mapped_column(Integer, default=0)
    event_id: Mapped[int] = mapped_column(Integer, default=0)
    access_id: Mapped[int] = mapped_column(Integer, default=0)


class PrincipalRow(Base):
    """An API principal: a role, a scope (source, subject or party name) and a hashed key."""

    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("name", name="uq_principals_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    scope: Mapped[str | None] = mapped_column(String(300))
    key_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A signed-in browser: ended by signing out, by disabling its principal or a new key."""

    __tablename__ = "web_sessions"
    #: SHA-256 of the cookie's token (the token itself is never stored).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[int] = mapped_column(Integer, index=True)
    #: SHA-256 of the principal's key hash at sign-in: a new key ends the session.
    key_digest: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoreMeta(Base):
    """Facts about the store as a whole, one row per key (``data_as_of``: the day its data runs
    to, which a simulated store's servers take as today)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AnalyticsResult(Base):
    """The analytics figures of one policy as last computed, with the store state they are of."""

    __tablename__ = "analytics_results"
    policy_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    policy_version: Mapped[str] = mapped_column(String(50))
    as_of: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(400))
    subjects: Mapped[int] = mapped_column(Integer)
    millis: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
