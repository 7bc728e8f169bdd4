"""Delivery: the SMTP sender against a real SMTP conversation on loopback, and rewards."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import select

from credence.ingest.run import ingest_file
from credence.policy.load import PolicySet
from credence.runs.outbox import DeliveryError, FileSender, SmtpSender, deliver_due, enqueue
from credence.runs.run import run
from credence.store.schema import ListEntry, MeasureRow, OutboxMessage
from tests.process.test_lifecycle import scheme
from tests.store.backends import Backend


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept one message and keep it."""

    received: ClassVar[list[str]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        data: list[str] = []
        in_data = False
        for raw in self.rfile:
            line = raw.decode().rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    _Smtp.received.append("\n".join(data))
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(line)
                continue
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb == "DATA":
                in_data = True
                self.wfile.write(b"354 go ahead\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp() -> Iterator[int]:
    _Smtp.received = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_smtp_sender_delivers_and_marks_served(sqlite_backend: Backend, smtp: int) -> None:
    b = sqlite_backend
    with b.store.session() as s:
        enqueue(
            s,
            subject_id="s1",
            kind="notice",
            ref="n1",
            recipient="subject:s1",
            deliver_on=date(2026, 3, 3),
            body={"title": "Reminder"},
            now=datetime(2026, 3, 1, tzinfo=UTC),
        )
        enqueue(
            s,
            subject_id="s1",
            kind="notice",
            ref="n2",
            recipient="subject:nobody",
            deliver_on=date(2026, 3, 3),
            body={"title": "Other"},
        )
        sender = SmtpSender(
            "127.0.0.1", smtp, "credence@city.example", {"subject:s1": "s1@example.org"}
        )
        sent = deliver_due(s, sender, date(2026, 3, 5))
        assert [(m.ref, m.served_on) for m in sent] == [("n1", date(2026, 3, 3))]
        failed = s.scalars(select(OutboxMessage).where(OutboxMessage.ref == "n2")).one()
        assert (failed.status, failed.last_error) == (
            "failed",
            "no e-mail address for recipient 'subject:nobody'",
        )
        s.commit()
    [mail] = _Smtp.received
    assert "To: s1@example.org" in mail and "Subject: Credence notice: n1" in mail
    assert '"title": "Reminder"' in mail


def test_smtp_sender_reports_an_unreachable_server(sqlite_backend: Backend) -> None:
    with sqlite_backend.store.session() as s:
        message = enqueue(
            s,
            subject_id="s1",
            kind="notice",
            ref="n1",
            recipient="r",
            deliver_on=date(2026, 3, 3),
            body={},
        )
        assert message is not None
        with pytest.raises(DeliveryError, match="SMTP delivery to r@x failed"):
            SmtpSender("127.0.0.1", 9, "a@b", {"r": "r@x"}).send(message)


def test_a_redlist_rewards_without_notice_through_the_same_machinery(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    base = scheme()
    doc = base.versions[0].model_dump(mode="json", exclude_none=True)
    doc["measures"].append(
        {"id": "perk", "type": "reward", "domain": "conduct", "legal_basis": "Act s.12"}
    )
    doc["lists"].append(
        {
            "id": "clean",
            "type": "redlist",
            "entry": {"grades": ["clear"]},
            "measures": ["perk"],
            "legal_basis": "Act s.12",
        }
    )
    policy = PolicySet.of(type(base.versions[0]).model_validate(doc))
    path = tmp_path / "a.csv"
    path.write_text(
        "source,source_record_id,subject_id,kind,occurred_on\nagency,A1,NID-7,minor,2026-02-01\n"
    )
    ingest_file(
        sqlite_backend.store,
        path,
        source="agency",
        policy=policy,
        actor="agency",
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )
    run(
        sqlite_backend.store,
        policy,
        date(2027, 3, 1),
        actor="process",
        sender=FileSender(tmp_path / "out"),
    )
    with sqlite_backend.store.session() as s:
        listed = s.scalars(select(ListEntry).order_by(ListEntry.id)).all()
        # clear (0 points) from the scheme's first day until the offence of 2026-02-01, and
        # again once it expired on 2027-02-01: listed at once each time, no notice
        assert [(e.list_id, e.status, e.entered_on, e.exited_on) for e in listed] == [
            ("clean", "removed", date(2026, 1, 1), date(2026, 2, 1)),
            ("clean", "listed", date(2027, 2, 1), None),
        ]
        entry = listed[1]
        perks = s.scalars(select(MeasureRow).order_by(MeasureRow.id)).all()
        assert [(m.measure_id, m.status, m.in_force_from) for m in perks] == [
            ("perk", "lifted", date(2026, 1, 1)),
            ("perk", "in_force", date(2027, 2, 1)),
        ]
        assert json.loads(entry.body)["type"] == "redlist"
