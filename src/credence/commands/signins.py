"""A newcomer's path into a store: three ready-made sign-ins and the commands that create them.

``credence demo-signins`` (and the end of ``credence demo``) finds in the store a citizen with a
clean record, a citizen with notices and an open listing, and names a reviewer, and prints the
``credence principal add`` command of each. Subjects are named by their pseudonym (``--scope``),
never by a national id: the store holds none in clear. Choosing the two citizens reads who has
notices and listings; that read is logged against each of them, like every other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from credence.audit.access import Access, log_read
from credence.commands.options import DataOpt, _session
from credence.states import LISTING_ENDS, OBJECTION_OPEN, MeasureStatus
from credence.store.db import Store
from credence.store.meta import data_as_of
from credence.store.schema import (
    ListEntry,
    MeasureRow,
    Notice,
    Objection,
    PrincipalRow,
    StoredRecord,
)
from credence.web.words import long_date as _day

PURPOSE = "operator: choosing example subjects for the demo's sign-ins"
out = Console(soft_wrap=True, highlight=False)


@dataclass(frozen=True)
class SignIn:
    """One ready-made sign-in: who it is, why it is interesting, and the command to create it."""

    name: str
    role: str
    scope: str | None
    why: str
    exists: bool = False

    def command(self, data: Path | None = None) -> str:
        """The ``credence principal add`` command that creates it."""
        env = f"CREDENCE_DATA={data} " if data is not None else ""
        scope = f" --scope {self.scope}" if self.scope else ""
        return f"{env}credence principal add {self.name} --role {self.role}{scope}"


def _taken(session: Session, name: str) -> bool:
    return session.scalar(select(PrincipalRow.id).where(PrincipalRow.name == name)) is not None


def find_signins(session: Session, store: Store, *, actor: str = "operator") -> list[SignIn]:
    """The ready-made sign-ins this store has (the caller commits the logged reads).

    A clean citizen has records and no notice, listing or measure; a listed citizen has a
    notice and a listing that has not ended (the most notices first); the reviewer sees every
    objection and measure awaiting review. Ties go to the smallest subject id, so the same
    store always gives the same three.
    """
    found: list[SignIn] = []
    with_records = select(StoredRecord.subject_id).distinct()
    no_notice = ~exists().where(Notice.subject_id == StoredRecord.subject_id)
    no_entry = ~exists().where(ListEntry.subject_id == StoredRecord.subject_id)
    no_measure = ~exists().where(MeasureRow.subject_id == StoredRecord.subject_id)
    clean = session.execute(
        select(StoredRecord.subject_id, func.count())
        .where(no_notice, no_entry, no_measure)
        .group_by(StoredRecord.subject_id)
        .order_by(StoredRecord.subject_id)
        .limit(1)
    ).first()
    access = Access(actor, "operator", PURPOSE)
    now = datetime.now(UTC)
    if clean is not None:
        sid, count = clean
        log_read(session, store.keys, access, sid, "records", at=now)
        found.append(
            SignIn(
                "citizen-clean",
                "subject",
                sid,
                f"a citizen with a clean record ({count} record{'s' if count != 1 else ''}, "
                "no notice, listing or measure)",
                _taken(session, "citizen-clean"),
            )
        )
    notices = func.count(Notice.id)
    listed = session.execute(
        select(ListEntry.subject_id, ListEntry.list_id, ListEntry.entered_on, notices)
        .join(Notice, Notice.subject_id == ListEntry.subject_id)
        .where(ListEntry.status.not_in(list(LISTING_ENDS)))
        .where(ListEntry.subject_id.in_(with_records))
        .group_by(ListEntry.subject_id, ListEntry.list_id, ListEntry.entered_on)
        .order_by(notices.desc(), ListEntry.subject_id)
        .limit(1)
    ).first()
    if listed is not None:
        sid, list_id, entered, count = listed
        log_read(session, store.keys, access, sid, "notices, list entries", at=now)
        since = f" since {_day(entered)}" if entered else " (notice given)"
        found.append(
            SignIn(
                "citizen-listed",
                "subject",
                sid,
                f"a citizen with {count} notice{'s' if count != 1 else ''} and an open listing "
                f"on {list_id}{since}",
                _taken(session, "citizen-listed"),
            )
        )
    objections = session.scalar(
        select(func.count(Objection.id)).where(Objection.status.in_(list(OBJECTION_OPEN)))
    )
    measures = session.scalar(
        select(func.count(MeasureRow.id)).where(MeasureRow.status == MeasureStatus.AWAITING_REVIEW)
    )
    found.append(
        SignIn(
            "reviewer",
            "reviewer",
            None,
            f"a reviewer ({objections or 0} objection(s) and {measures or 0} measure(s) "
            "awaiting review)",
            _taken(session, "reviewer"),
        )
    )
    return found


def print_signins(session: Session, store: Store, data: Path | None = None) -> list[SignIn]:
    """Print the ready-made sign-ins of a store and how to use them (the caller commits)."""
    signins = find_signins(session, store)
    as_of = data_as_of(session)
    out.print("Ready-made sign-ins (create each once; its API key is printed only then):")
    for s in signins:
        out.print(f"  {s.why}:")
        if s.exists:
            out.print(f"    a principal named {s.name} exists already (credence principal list)")
        else:
            out.print(f"    {s.command(data)}")
    if not any(s.role == "subject" for s in signins):
        out.print("  (no subject has records yet: ingest some, then run this again)")
    env = f"CREDENCE_DATA={data} " if data is not None else ""
    out.print(
        f"Then serve the store ({env}credence serve --policy <policy>), open the sign-in page it "
        "prints and paste a key."
        + (f" The store's data runs to {_day(as_of)}: the site's today." if as_of else "")
    )
    return signins


def demo_signins(data: DataOpt = None) -> None:
    """Print three ready-made sign-ins on the store (a clean citizen, a listed one, a reviewer)
    with the commands that create them."""
    with _session(data) as (store, session):
        print_signins(session, store, data)
        session.commit()


def register(app: typer.Typer) -> None:
    """Add ``demo-signins`` to the ``credence`` app."""
    app.command("demo-signins")(demo_signins)
