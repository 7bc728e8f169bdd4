"""A listing undone by a correction is told to every relying party that asked in 90 days."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from credence.audit.access import Access, log_read
from credence.audit.tables import AccessEvent
from credence.runs.outbox import FileSender
from credence.runs.run import run
from credence.store.records import revoke
from credence.store.schema import ListEntry, OutboxMessage
from tests.api.world import build, policy
from tests.store.backends import Backend

REVOKED = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)
MESSAGE = (
    "A decision about this subject that you may have relied on was rescinded after a "
    "correction; please disregard it."
)


def notes(backend: Backend) -> list[tuple[str, date, dict[str, object]]]:
    with backend.store.session() as s:
        rows = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "notification")
            .order_by(OutboxMessage.id)
        ).all()
        return [(m.recipient, m.deliver_on, json.loads(m.body)) for m in rows]


def process(backend: Backend, day: date) -> int:
    summary = run(
        backend.store, policy(), day, actor="process", sender=FileSender(backend.folder / "out")
    )
    return summary.notified


def test_a_revoked_record_tells_the_parties_that_queried_its_listing(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    w = build(sqlite_backend, tmp_path)
    asked = w.call("bank", "POST", "/status", json={"national_id": "NID-2", "purpose": "tenancy"})
    assert asked.status_code == 200
    assert [x["listed"] for x in asked.json()["lists"]] == [True]
    with sqlite_backend.store.session() as s:
        # the bank's query went through the API; two lenders asked long before
        for name, at in (
            ("lender-90", datetime(2026, 3, 5, 8, tzinfo=UTC)),
            ("lender-91", datetime(2026, 3, 4, 23, tzinfo=UTC)),
        ):
            log_read(
                s,
                sqlite_backend.keys,
                Access(name, "relying_party", "loan"),
                w.bob,
                "status",
                at=at,
            )
        revoke(
            s,
            sqlite_backend.keys,
            "court:C1",
            actor="court",
            reason="paid before judgment",
            now=REVOKED,
        )
        s.commit()
        assert s.scalar(select(AccessEvent.at).where(AccessEvent.actor == "bank")) == datetime(
            2026, 6, 2, 12, tzinfo=UTC
        )
    assert notes(sqlite_backend) == []
    assert process(sqlite_backend, date(2026, 6, 3)) == 2
    body = {
        "about": "listing list:debtors@2026-03-01",
        "change": "removed",
        "on": "2026-06-03",
        "outcome": "record_void",
        "measures": ["restrict"],
        "message": MESSAGE,
    }
    assert notes(sqlite_backend) == [
        ("relying_party:bank", date(2026, 6, 3), body),
        ("relying_party:lender-90", date(2026, 6, 3), body),
    ]
    with sqlite_backend.store.session() as s:
        entry = s.scalars(select(ListEntry)).one()
        assert (entry.status, json.loads(entry.body)["outcome"]) == ("removed", "record_void")
    # re-running the day, or the next one, tells nobody again
    assert process(sqlite_backend, date(2026, 6, 3)) == 0
    assert process(sqlite_backend, date(2026, 6, 4)) == 0
    assert len(notes(sqlite_backend)) == 2
