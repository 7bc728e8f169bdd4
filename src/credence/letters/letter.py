"""A notice as a printable letter: the reasons, the deadline as a date in words, what happens
if nothing is done, how to object, and the reference number to quote.

The letter says only what the notice says: its row (reference, dates, deadline) and the body
the due-process layer wrote when it issued it (:mod:`credence.process.content`); nothing is
decided or computed again here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from credence.letters.pdf import Paper, Pdf

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
NOT_SERVED = (
    "This notice has no served date: it has not been delivered to you yet. No deadline runs "
    "from it, and nothing that depends on it can take effect until it is served."
)
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def date_in_words(day: date) -> str:
    """A date in words: ``26 May 2026``.

    >>> date_in_words(date(2026, 5, 26))
    '26 May 2026'
    """
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def duration_in_words(text: str) -> str:
    """A simple ISO duration in words (``P1Y6M`` -> ``1 year 6 months``); else as given.

    >>> duration_in_words("P1Y6M"), duration_in_words("P1D"), duration_in_words("PT5H")
    ('1 year 6 months', '1 day', 'PT5H')
    """
    m = _DURATION.match(text)
    if m is None or not any(m.groups()):
        return text
    units = ("year", "month", "week", "day")
    parts = [
        f"{int(n)} {unit}{'' if int(n) == 1 else 's'}"
        for n, unit in zip(m.groups(), units, strict=True)
        if n is not None
    ]
    return " ".join(parts)


@dataclass(frozen=True)
class LetterNotice:
    """What a letter is made from: a notice's row and its stored body."""

    ref: str
    subject_id: str
    policy_id: str
    policy_version: str
    about: str
    issued_on: date
    served_on: date | None
    deadline: date | None
    content: Mapping[str, Any] = field(default_factory=dict)
    # False in a letter written as it is sent: the deadline counts from service, which the
    # due-process run records after delivery.
    deadline_known: bool = True

    @classmethod
    def of(cls, row: Any, content: Mapping[str, Any]) -> LetterNotice:
        """From a stored notice row (:class:`credence.store.schema.Notice`) and its body."""
        return cls(
            ref=row.ref,
            subject_id=row.subject_id,
            policy_id=row.policy_id,
            policy_version=row.policy_version,
            about=row.about,
            issued_on=row.issued_on,
            served_on=row.served_on,
            deadline=row.deadline,
            content=content,
        )


def from_message(
    ref: str, subject_id: str, created_on: date, deliver_on: date, body: Mapping[str, Any]
) -> LetterNotice:
    """The letter of a notice's outbox message, written as it is delivered on ``deliver_on``.

    The message's ``ref`` ends with the notice's reference; its body is the notice's body.
    """
    policy, _, version = str(body.get("facts", {}).get("policy", "")).rpartition(" ")
    return LetterNotice(
        ref=ref.split(":", 3)[-1],
        subject_id=subject_id,
        policy_id=policy,
        policy_version=version,
        about=str(body.get("about", "notice")),
        issued_on=created_on,
        served_on=deliver_on,
        deadline=date.fromisoformat(body["deadline"]) if body.get("deadline") else None,
        content=body,
        deadline_known=bool(body.get("deadline")),
    )


@dataclass(frozen=True)
class Section:
    """A heading (or none) and its paragraphs."""

    heading: str | None
    paragraphs: tuple[str, ...]


def _why(n: LetterNotice) -> str:
    c, facts = n.content, n.content.get("facts", {})
    title = c.get("title", n.about)
    if n.about == "stage":
        rule = c.get("rule", {})
        return (
            f"On {_words(facts.get('as_of'))} your score was {facts.get('score')} (grade "
            f"{facts.get('grade')}) under policy {facts.get('policy')}; a score of "
            f"{rule.get('threshold')} reaches the stage {title}."
        )
    if n.about == "list":
        rule = c.get("rule", {})
        evidence = ", ".join(c.get("evidence", [])) or "none named"
        return (
            f"Your records meet the entry rule of the list {title} ({rule.get('legal_basis')}). "
            f"The records: {evidence}."
        )
    return f"This notice is about {n.about} {title}."


def _if_nothing(n: LetterNotice) -> str:
    c = n.content
    title = c.get("title", n.about)
    if n.about == "stage" and c.get("measure"):
        m = c["measure"]
        effect = m.get("takes_effect")
        return f"The measure {m.get('title')} ({m.get('legal_basis')}) takes effect {effect}."
    if n.about == "stage":
        rule = c.get("rule", {})
        side = "above" if rule.get("direction") == "higher_is_worse" else "below"
        return (
            f"No measure follows from this notice. The stage {title} stays on your file while "
            f"your score stays at or {side} {rule.get('threshold')}."
        )
    if n.about == "list":
        when = "After the deadline you" if n.deadline else "You"
        text = f"{when} are entered on the list {title}"
        if c.get("duration"):
            text += f" for {duration_in_words(str(c['duration']))}"
        measures = c.get("measures", [])
        if measures:
            text += ", with the measures " + ", ".join(
                f"{m.get('id')} ({m.get('legal_basis')})" for m in measures
            )
        return text + "."
    return "The notice takes effect as it states."


def _words(day: Any) -> str:
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return date_in_words(day) if isinstance(day, date) else str(day)


def letter_sections(n: LetterNotice) -> list[Section]:
    """The letter's content, section by section (the PDF prints exactly this)."""
    c = n.content
    head = [
        f"Reference number: {n.ref}",
        f"Policy: {n.policy_id}, version {n.policy_version}",
        f"To: subject {n.subject_id}",
        f"Issued on {date_in_words(n.issued_on)}.",
        f"Served on {date_in_words(n.served_on)}." if n.served_on else NOT_SERVED,
    ]
    reasons = [
        f"{r.get('rank')}. {r.get('text')} Legal basis: {r.get('legal_basis') or 'none cited'}."
        for r in c.get("reasons", [])
    ] or ["This notice records no reasons."]
    if n.served_on is None:
        deadline = "No deadline runs until the notice is served."
    elif not n.deadline_known:
        deadline = (
            "Any deadline counts from the day this letter is served, "
            f"{date_in_words(n.served_on)}; your notices on the portal show its date."
        )
    elif n.deadline is not None:
        deadline = f"You have until {date_in_words(n.deadline)} to act."
    else:
        deadline = "This notice sets no deadline."
    remedies = c.get("remedies", {})
    objecting = [remedies["object"]] if remedies.get("object") else []
    if remedies.get("rectify"):
        objecting.append(f"To put it right: {remedies['rectify']}")
    appeal = remedies.get("appeal") or (c.get("measure") or {}).get("appeal_route")
    if appeal:
        objecting.append(f"Appeal: {appeal}")
    objecting.append(f"Quote the reference number {n.ref} in any reply.")
    return [
        Section(f"Notice: {c.get('title', n.about)}", tuple(head)),
        Section("Why you receive this notice", (_why(n),)),
        Section("The principal reasons", tuple(reasons)),
        Section("Deadline", (deadline,)),
        Section("If you do nothing", (_if_nothing(n),)),
        Section("How to object", tuple(objecting)),
    ]


def render_letter(n: LetterNotice, paper: Paper = "A4") -> bytes:
    """The notice as a printable letter, as PDF bytes on A4 or US Letter paper."""
    doc = Pdf(paper)
    for i, s in enumerate(letter_sections(n)):
        if s.heading:
            doc.heading(s.heading, 15 if i == 0 else 12)
        for p in s.paragraphs:
            doc.para(p)
    return doc.bytes()
