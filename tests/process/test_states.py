"""One spelling of every state: what a run writes is a member of its enum, and the migration
turns the hyphenated spellings an older store holds into the same members."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from credence.engine.reference import evaluate
from credence.records import Record
from credence.states import (
    ListingOutcome,
    ListingStatus,
    MeasureStatus,
    NoticeStatus,
    ObjectionStatus,
    RecordStatus,
)
from credence.store.db import MIGRATIONS, make_engine
from tests.api.world import build
from tests.builders import rec
from tests.engine.test_timeline import DEBT, listing_policy
from tests.store.backends import Backend

T = "2026-01-01T00:00:00.000000Z"
ENUMS = {
    "notices": NoticeStatus,
    "list_entries": ListingStatus,
    "measures": MeasureStatus,
    "objections": ObjectionStatus,
    "record_status": RecordStatus,
}
# process_events also holds a reviewer's decision on a measure (approved / refused)
EVENTS = {
    "notice": set(NoticeStatus),
    "list_entry": set(ListingStatus),
    "measure": set(MeasureStatus) | {"approved"},
    "objection": set(ObjectionStatus),
}


def test_every_status_a_run_writes_is_spelt_as_its_enum(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    w = build(sqlite_backend, tmp_path)
    filed = w.call(
        "alice", "POST", "/me/objections", json={"record_id": "agency:A5", "statement": "not me"}
    )
    assert filed.status_code == 201 and filed.json()["status"] == "under_review"
    with sqlite_backend.store.session() as s:
        seen = {
            table: set(s.execute(text(f"SELECT DISTINCT status FROM {table}")).scalars())
            for table in ENUMS
        }
        events = set(s.execute(text("SELECT DISTINCT object_type, status FROM process_events")))
    for table, enum in ENUMS.items():
        assert seen[table] <= set(enum), table
    assert seen["measures"] >= {"awaiting_review", "in_force"}
    assert seen["list_entries"] == {"listed"}
    for object_type, status in events:
        assert status in EVENTS[object_type], (object_type, status)
    assert ("list_entry", "pending_notice") in events


def test_the_migration_converts_the_old_spellings(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def upgrade(to: str) -> None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, to)

    upgrade("0006")
    sid = "a" * 64
    rows = [
        "INSERT INTO subjects (subject_id, kind, created_at) VALUES (:s, 'person', :t)",
        "INSERT INTO records (record_id, source, source_record_id, subject_id, kind, occurred_on,"
        " effective_on, recorded_at, ingested_at) VALUES ('court:1', 'court', '1', :s, 'debt',"
        " '2026-01-01', '2026-01-01', :t, :t)",
        "INSERT INTO measures (id, subject_id, policy_id, measure_id, ref, status, body,"
        " created_at) VALUES (1, :s, 'p', 'ban', 'ban@x', 'in-force', '{}', :t),"
        " (2, :s, 'p', 'ban', 'ban@y', 'awaiting-review', '{}', :t),"
        " (3, :s, 'p', 'ban', 'ban@z', 'new', '{}', :t),"
        " (4, :s, 'p', 'ban', 'ban@w', 'refused', '{}', :t)",
        "INSERT INTO list_entries (id, subject_id, policy_id, list_id, ref, status, body,"
        " created_at) VALUES (1, :s, 'p', 'debtors', 'list:debtors@x', 'pending-notice', '{}', :t)",
        "INSERT INTO objections (id, subject_id, record_id, status, filed_at, review_deadline,"
        " body, created_at) VALUES (1, :s, 'court:1', 'under-review', :t, '2026-02-01', '{}', :t)",
        "INSERT INTO notices (id, subject_id, policy_id, policy_version, about, ref, status,"
        " issued_on, body, created_at) VALUES (1, :s, 'p', '1', 'stage', 'ban@x', 'expired',"
        " '2026-01-01', '{}', :t)",
        "INSERT INTO process_events (object_type, object_id, status, at, actor, detail) VALUES"
        " ('measure', 1, 'proposed', :t, 'p', '{}'), ('measure', 1, 'in-force', :t, 'p', '{}'),"
        " ('measure', 2, 'awaiting-review', :t, 'p', '{}'),"
        " ('list_entry', 1, 'pending-notice', :t, 'p', '{}'),"
        " ('objection', 1, 'filed', :t, 'p', '{}'), ('objection', 1, 'under-review', :t, 'p', '{}'),"
        " ('notice', 1, 'expired', :t, 'p', '{}')",
    ]
    with engine.begin() as c:
        for sql in rows:
            c.execute(text(sql), {"s": sid, "t": T})
    upgrade("head")
    with engine.connect() as c:
        measures = c.execute(text("SELECT status FROM measures ORDER BY id")).scalars().all()
        entries = c.execute(text("SELECT status FROM list_entries")).scalars().all()
        objections = c.execute(text("SELECT status FROM objections")).scalars().all()
        notices = c.execute(text("SELECT status FROM notices")).scalars().all()
        events = c.execute(text("SELECT object_type, status FROM process_events ORDER BY id")).all()
    engine.dispose()
    assert measures == ["in_force", "awaiting_review", "proposed", "refused"]
    assert entries == ["pending_notice"] and objections == ["under_review"]
    assert notices == ["expired"]
    assert [tuple(e) for e in events] == [
        ("measure", "proposed"),
        ("measure", "in_force"),
        ("measure", "awaiting_review"),
        ("list_entry", "pending_notice"),
        ("objection", "filed"),
        ("objection", "under_review"),
        ("notice", "expired"),
    ]
    assert measures[0] == MeasureStatus.IN_FORCE and entries[0] == ListingStatus.PENDING_NOTICE


D = date


@pytest.mark.parametrize(
    ("records", "as_of", "status", "outcome"),
    [
        ([DEBT], D(2025, 4, 15), "listed", None),
        ([DEBT], D(2026, 4, 1), "removed", ListingOutcome.EXPIRED),
        ([DEBT, rec("p1", "paid", D(2025, 3, 15))], D(2025, 5, 1), "withdrawn", "rectified"),
        ([DEBT, rec("p1", "paid", D(2025, 5, 1))], D(2025, 6, 1), "removed", "repaired"),
        (
            [rec("d1", "debt", D(2025, 3, 1), status=[("overturned", D(2025, 6, 1))])],
            D(2025, 7, 1),
            "removed",
            "record_void",
        ),
        (
            [rec("d1", "debt", D(2025, 3, 1), status=[("revoked", D(2025, 3, 10))])],
            D(2025, 5, 1),
            "withdrawn",
            "record_void",
        ),
    ],
)
def test_how_a_listing_ended_is_a_typed_outcome(
    records: list[Record], as_of: date, status: str, outcome: str | None
) -> None:
    a = evaluate(listing_policy(), records, as_of, as_of)
    [e] = a.listings
    assert (e.status, e.outcome) == (status, outcome)
    assert e.outcome is None or isinstance(e.outcome, ListingOutcome)
    assert a.to_dict()["listings"][0]["outcome"] == outcome
