"""The outbox: notices and notifications wait here until a sender delivers them.

Delivery is pluggable (a folder of JSON files by default, e-mail over SMTP in production).
A notice counts as served on the day it is delivered; a failed delivery stays queued and is
retried on the next run, and until then nothing that depends on the notice can bite.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from credence.errors import CredenceError
from credence.letters.letter import from_message, render_letter
from credence.store.schema import OutboxMessage


class DeliveryError(CredenceError):
    """A sender could not deliver a message (it will be retried)."""


class Sender(Protocol):
    """Delivers one message or raises :class:`DeliveryError`."""

    def send(self, message: OutboxMessage) -> None:
        """Deliver ``message``."""


def delivery_key(message: OutboxMessage) -> str:
    """The message's idempotency key: the same for every attempt to deliver it, across runs
    (a message's ``ref`` is unique and fixed when it is queued; its row id is not, after a
    crash rolled the row back)."""
    return hashlib.sha256(message.ref.encode()).hexdigest()[:32]


@dataclass
class FileSender:
    """Writes each message as a JSON file into a folder (the embedded default).

    A message is delivered at most once: its file is named by its idempotency key, written
    under a temporary name and renamed into place, and a message whose file is there already
    (a run killed after delivering it, before committing) is not written again.
    """

    folder: Path

    def send(self, message: OutboxMessage) -> None:
        """Write the message to ``<folder>/<delivery key>-<kind>.json`` unless it is there,
        and a notice's printable letter beside it (``.pdf``, A4), before the JSON that marks
        the delivery done."""
        key = delivery_key(message)
        path = self.folder / f"{key}-{message.kind}.json"
        if path.exists():
            return
        doc = {
            "key": key,
            "kind": message.kind,
            "ref": message.ref,
            "recipient": message.recipient,
            "subject_id": message.subject_id,
            "deliver_on": message.deliver_on.isoformat(),
            "body": json.loads(message.body),
        }
        part = path.with_suffix(".part")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if message.kind == "notice":
                self._letter(message, doc["body"], path.with_suffix(".pdf"))
            part.write_text(json.dumps(doc, indent=2, sort_keys=True))
            os.replace(part, path)
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc}") from exc

    @staticmethod
    def _letter(message: OutboxMessage, body: dict[str, Any], path: Path) -> None:
        letter = from_message(
            message.ref, message.subject_id, message.created_at.date(), message.deliver_on, body
        )
        part = path.with_suffix(".pdf.part")
        part.write_bytes(render_letter(letter))
        os.replace(part, path)


@dataclass
class SmtpSender:
    """Sends each message by e-mail; ``addresses`` maps a recipient to an e-mail address."""

    host: str
    port: int
    sender: str
    addresses: dict[str, str]

    def send(self, message: OutboxMessage) -> None:
        """Send the message over SMTP."""
        to = self.addresses.get(message.recipient)
        if to is None:
            raise DeliveryError(f"no e-mail address for recipient {message.recipient!r}")
        mail = EmailMessage()
        mail["From"], mail["To"] = self.sender, to
        mail["Subject"] = f"Credence {message.kind}: {message.ref}"
        mail.set_content(json.dumps(json.loads(message.body), indent=2))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP delivery to {to} failed: {exc}") from exc


def enqueue(
    session: Session,
    *,
    subject_id: str,
    kind: str,
    ref: str,
    recipient: str,
    deliver_on: date,
    body: dict[str, Any],
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Queue a message once: a second call with the same ``ref`` does nothing."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.ref == ref)) is not None:
        return None
    message = OutboxMessage(
        subject_id=subject_id,
        kind=kind,
        ref=ref,
        recipient=recipient,
        deliver_on=deliver_on,
        status="queued",
        attempts=0,
        body=json.dumps(body, sort_keys=True, default=str),
        created_at=now or datetime.now(UTC),
    )
    session.add(message)
    session.flush()
    return message


def deliver_due(
    session: Session, sender: Sender, day: date, subject_id: str | None = None
) -> list[OutboxMessage]:
    """Deliver every queued message due by ``day``; return those delivered now."""
    stmt = select(OutboxMessage).where(
        OutboxMessage.status.in_(("queued", "failed")), OutboxMessage.deliver_on <= day
    )
    if subject_id is not None:
        stmt = stmt.where(OutboxMessage.subject_id == subject_id)
    delivered = []
    for message in session.scalars(stmt.order_by(OutboxMessage.deliver_on, OutboxMessage.id)):
        message.attempts += 1
        try:
            sender.send(message)
        except DeliveryError as exc:
            message.status, message.last_error = "failed", str(exc)
            continue
        message.status = "sent"
        message.sent_at = datetime.now(UTC)
        # A run catches up day by day, so a first attempt delivers on the day it was due; after
        # a failure the notice is served only on the day a retry got through.
        message.served_on = message.deliver_on if message.attempts == 1 else day
        delivered.append(message)
    session.flush()
    return delivered
