"""A notice as a printable letter (credence.letters) and the file sender's letter beside the
JSON; the PDF's text is extracted and compared whole."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pypdf

from credence.letters.letter import LetterNotice, duration_in_words, render_letter
from credence.runs.outbox import FileSender, delivery_key
from credence.store.schema import OutboxMessage

LIST_BODY = {
    "about": "list",
    "deadline": None,
    "duration": "P1Y",
    "evidence": ["court:C1"],
    "facts": {"as_of": "2026-03-01", "grade": "clear", "policy": "scheme 1", "score": 0},
    "list": "debtors",
    "measures": [{"id": "restrict", "legal_basis": "Act s.9"}],
    "reasons": [
        {"rank": 1, "text": "Debt: record court:C1 of 2026-03-01, reported by court.",
         "legal_basis": "Act s.3"},
    ],
    "remedies": {"object": "You may object to any record listed here.", "appeal": "Court within a month",
                 "rectify": "Records of these kinds end the listing: paid."},
    "rule": {"entry": {"record_kinds": ["debt"]}, "legal_basis": "Act s.9"},
    "title": "Debtors",
}  # fmt: skip


def text(pdf: bytes) -> str:
    """The PDF's text, page after page."""
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_a_letter_for_a_notice_not_served_says_so() -> None:
    n = LetterNotice(
        ref="list:debtors@2026-03-01", subject_id="s1", policy_id="scheme", policy_version="1",
        about="list", issued_on=date(2026, 3, 1), served_on=None, deadline=None, content=LIST_BODY,
    )  # fmt: skip
    assert text(render_letter(n, "Letter")) == (
        "Notice: Debtors\n"
        "Reference number: list:debtors@2026-03-01\n"
        "Policy: scheme, version 1\n"
        "To: subject s1\n"
        "Issued on 1 March 2026.\n"
        # US Letter is wider than A4: the lines break later.
        "This notice has no served date: it has not been delivered to you yet. No deadline runs from it, and\n"
        "nothing that depends on it can take effect until it is served.\n"
        "Why you receive this notice\n"
        "Your records meet the entry rule of the list Debtors (Act s.9). The records: court:C1.\n"
        "The principal reasons\n"
        "1. Debt: record court:C1 of 2026-03-01, reported by court. Legal basis: Act s.3.\n"
        "Deadline\n"
        "No deadline runs until the notice is served.\n"
        "If you do nothing\n"
        "You are entered on the list Debtors for 1 year, with the measures restrict (Act s.9).\n"
        "How to object\n"
        "You may object to any record listed here.\n"
        "To put it right: Records of these kinds end the listing: paid.\n"
        "Appeal: Court within a month\n"
        "Quote the reference number list:debtors@2026-03-01 in any reply."
    )


def test_a_served_list_notice_gives_its_deadline_as_a_date_in_words() -> None:
    n = LetterNotice(
        ref="list:debtors@2026-03-01", subject_id="s1", policy_id="scheme", policy_version="1",
        about="list", issued_on=date(2026, 3, 1), served_on=date(2026, 3, 3),
        deadline=date(2026, 4, 2), content=LIST_BODY,
    )  # fmt: skip
    lines = text(render_letter(n)).splitlines()
    assert lines[5] == "Served on 3 March 2026."
    assert "You have until 2 April 2026 to act." in lines
    assert (
        "After the deadline you are entered on the list Debtors for 1 year, with the measures "
        "restrict" in lines
    )


def test_durations_in_words() -> None:
    assert [duration_in_words(d) for d in ("P1Y", "P2M", "P30D", "P1W", "P1Y6M")] == [
        "1 year", "2 months", "30 days", "1 week", "1 year 6 months"
    ]  # fmt: skip


def test_the_file_sender_writes_a_notice_s_letter_beside_its_json(tmp_path: Path) -> None:
    message = OutboxMessage(
        subject_id="s1", kind="notice", ref="notice:scheme:s1:list:debtors@2026-03-01",
        recipient="subject:s1", deliver_on=date(2026, 3, 3), status="queued", attempts=0,
        body=json.dumps(LIST_BODY), created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    FileSender(tmp_path).send(message)
    key = delivery_key(message)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{key}-notice.json", f"{key}-notice.pdf"]
    lines = text((tmp_path / f"{key}-notice.pdf").read_bytes()).splitlines()
    assert lines[:6] == [
        "Notice: Debtors",
        "Reference number: list:debtors@2026-03-01",
        "Policy: scheme, version 1",
        "To: subject s1",
        "Issued on 1 March 2026.",
        "Served on 3 March 2026.",
    ]
    # Written as it is sent: the run records the deadline once service is known.
    i = lines.index("Deadline")
    assert lines[i + 1 : i + 3] == [
        "Any deadline counts from the day this letter is served, 3 March 2026; your notices on the",
        "portal show its date.",
    ]
    # A notification to a relying party is no notice: no letter.
    other = OutboxMessage(
        subject_id="s1", kind="notification", ref="notify:x", recipient="bank",
        deliver_on=date(2026, 3, 3), status="queued", attempts=0, body="{}",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    FileSender(tmp_path).send(other)
    assert len(list(tmp_path.glob("*.pdf"))) == 1
