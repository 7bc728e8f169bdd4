"""CLI of the due-process layer: process runs, notices, objections, measures and reviews."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from credence.commands.options import (
    ActorOpt,
    DataOpt,
    NowOpt,
    _actor,
    _fail,
    _now,
    _open,
    _session,
)

if TYPE_CHECKING:
    from credence.policy.load import PolicySet

out = Console(soft_wrap=True)
_ID_COLUMNS = frozenset({"id", "subject", "ref", "record", "scope"})
"""Columns of ids: folded onto more lines in a narrow terminal, never cut short."""


def print_table(table: Table) -> None:
    """Print ``table`` with every id whole: folded in a terminal, on one line when piped."""
    if out.is_terminal:
        out.print(table)
    else:  # piped: a console as wide as the table needs, so that nothing is cut or folded
        Console(file=out.file, width=10_000, soft_wrap=True).print(table)


process_app = typer.Typer(help="Advance subjects through notices, listings and measures.")
objection_app = typer.Typer(help="File, support and decide objections against records.")
measures_app = typer.Typer(
    help="Measures (filter with options) and their human review.", invoke_without_command=True
)

PolicyOpt = Annotated[
    str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled name.")
]


def register(app: typer.Typer) -> None:
    """Add the due-process commands to the ``credence`` app."""
    app.add_typer(process_app, name="process", no_args_is_help=True)
    app.command("notices")(notices)
    app.add_typer(objection_app, name="objection", no_args_is_help=True)
    app.add_typer(measures_app, name="measures")


def _policy(name: str) -> PolicySet:
    from credence.errors import CredenceError
    from credence.policy import library

    try:
        return library.resolve(name)
    except CredenceError as exc:
        raise _fail(str(exc)) from None


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


@process_app.command("run")
def process_run(
    policy: PolicyOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="Advance every subject to this day.")],
    profile: Annotated[str, typer.Option(help="Lint profile the policy must pass.")] = "default",
    outbox: Annotated[
        Path | None, typer.Option(help="Folder the file sender writes to (default: <data>/outbox).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Visit every subject with records, not only the due.")
    ] = False,
    subjects: Annotated[
        Path | None,
        typer.Option("--subjects", help="File of subject ids (one a line) to re-run, only them."),
    ] = None,
    chunk: Annotated[
        int, typer.Option(min=1, help="Subjects read, written and committed together.")
    ] = 500,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Processes that advance chunks at once (PostgreSQL only)."),
    ] = 1,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print the seconds each phase took.")
    ] = False,
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Issue due notices, apply measures whose notice ran out, lift and rescind; idempotent.

    Visits the subjects the due agenda names (news since the policy's last run, or a day of
    their story came); ``--full`` visits everyone with records and ends in the same state.
    """
    from credence.errors import CredenceError
    from credence.policy.lint import lint
    from credence.runs.outbox import FileSender
    from credence.runs.run import run

    pol = _policy(policy)
    if profile not in ("default", "eu"):
        raise typer.BadParameter("use default or eu", param_hint="--profile")
    errors = [f for f in lint(pol, "eu" if profile == "eu" else "default") if f.severity == "error"]
    if errors:
        for f in errors:
            out.print(str(f), highlight=False, markup=False)
        raise _fail(f"policy {pol.id} is refused under the {profile} profile", 1)
    if full and subjects is not None:
        raise typer.BadParameter("give --full or --subjects, not both", param_hint="--subjects")
    named = _subject_file(subjects) if subjects is not None else None
    day = _day(as_of, "--as-of")
    store = _open(data)
    bar = _LateBar(out)
    try:
        summary = run(
            store,
            pol,
            day,
            actor=_actor(actor),
            sender=FileSender(outbox or store.folder / "outbox"),
            subjects=named,
            everyone=full,
            chunk=chunk,
            workers=workers,
            progress=bar.tick,
        )
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    finally:
        bar.close()
        store.close()
    out.print(
        f"advanced {summary.subjects} subject(s) to {summary.as_of}: "
        f"{summary.transitions} transition(s), {summary.delivered} message(s) delivered, "
        f"{summary.lapsed} objection(s) lapsed, {summary.notified} relying part(ies) notified",
        highlight=False,
    )
    why = ", ".join(f"{reason} {n}" for reason, n in summary.reasons.items())
    out.print(f"due: {why or 'nobody'}", highlight=False)
    if verbose:
        phases = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in summary.timings.items())
        per = sum(summary.timings.values()) / summary.subjects * 1000 if summary.subjects else 0.0
        out.print(f"timings: {phases} ({per:.2f} ms per subject)", highlight=False)


class _LateBar:
    """A Rich progress bar over the due subjects, shown only once a run has taken a second."""

    def __init__(self, console: Console) -> None:
        import time

        self._console, self._clock = console, time.perf_counter
        self._started = self._clock()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def tick(self, done: int, total: int) -> None:
        """Record progress; start drawing after the first second."""
        if self._bar is None:
            if self._clock() - self._started < 1.0 or done >= total:
                return
            self._bar = Progress(
                TextColumn("process"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} subjects"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("process", total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done, total=total)

    def close(self) -> None:
        """Take the bar off the screen."""
        if self._bar is not None:
            self._bar.stop()


def _subject_file(path: Path) -> list[str]:
    """The subject ids of a file, one a line (blank lines and ``#`` comments skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="--subjects") from None
    ids: list[str] = []
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise typer.BadParameter(
                f"{path} line {n}: {text[:80]!r} is not a subject id (64 hex digits)",
                param_hint="--subjects",
            )
        ids.append(text)
    return list(dict.fromkeys(ids))


def notices(
    subject_id: Annotated[str | None, typer.Option(help="Only this subject.")] = None,
    status: Annotated[str | None, typer.Option(help="Only notices in this state.")] = None,
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """List notices with their state, deadline and service date (each read is logged)."""
    from sqlalchemy import select

    from credence.audit.access import Access, log_read
    from credence.store.schema import Notice

    with _session(data) as (store, session):
        stmt = select(Notice).order_by(Notice.issued_on, Notice.id)
        if subject_id:
            stmt = stmt.where(Notice.subject_id == subject_id)
        if status:
            stmt = stmt.where(Notice.status == status)
        rows = session.scalars(stmt).all()
        table = Table(title=f"{len(rows)} notice(s)")
        for col in (
            "id",
            "subject",
            "policy",
            "about",
            "ref",
            "status",
            "issued",
            "served",
            "deadline",
        ):
            table.add_column(col, overflow="fold" if col in _ID_COLUMNS else "ellipsis")
        access = Access(_actor(actor), "operator", "due process administration")
        for sid in sorted({r.subject_id for r in rows}):
            log_read(session, store.keys, access, sid, "notices")
        for r in rows:
            table.add_row(
                str(r.id),
                r.subject_id,
                r.policy_id,
                r.about,
                r.ref,
                r.status,
                str(r.issued_on),
                str(r.served_on or ""),
                str(r.deadline or ""),
            )
        session.commit()
    print_table(table)


@objection_app.command("file")
def objection_file(
    record_id: Annotated[str, typer.Argument(help="The contested record.")],
    policy: PolicyOpt,
    statement: Annotated[str, typer.Option(help="Why the record is wrong.")],
    evidence: Annotated[
        list[str] | None, typer.Option(help="Evidence reference (repeatable).")
    ] = None,
    data: DataOpt = None,
    actor: ActorOpt = None,
    now: NowOpt = None,
) -> None:
    """File an objection: the record is contested until a reviewer decides or time runs out."""
    from credence.runs.objections import file_objection

    pol = _policy(policy)
    with _session(data) as (store, session):
        o = file_objection(
            session,
            store.keys,
            pol,
            record_id,
            statement=statement,
            evidence=list(evidence or []),
            actor=_actor(actor),
            now=_now(now),
        )
        session.commit()
        out.print(
            f"objection {o.id} filed against {record_id}; review due by {o.review_deadline}",
            highlight=False,
        )


@objection_app.command("evidence")
def objection_evidence(
    objection_id: Annotated[int, typer.Argument(help="The objection.")],
    policy: PolicyOpt,
    evidence: Annotated[list[str], typer.Option(help="Evidence reference (repeatable).")],
    data: DataOpt = None,
    actor: ActorOpt = None,
    now: NowOpt = None,
) -> None:
    """Add evidence to an open objection (extends its review deadline once)."""
    from credence.runs.objections import add_evidence

    pol = _policy(policy)
    with _session(data) as (store, session):
        o = add_evidence(
            session,
            store.keys,
            pol,
            objection_id,
            list(evidence),
            actor=_actor(actor),
            now=_now(now),
        )
        session.commit()
        out.print(f"objection {o.id}: review due by {o.review_deadline}", highlight=False)


@objection_app.command("decide")
def objection_decide(
    objection_id: Annotated[int, typer.Argument(help="The objection.")],
    outcome: Annotated[str, typer.Option(help="upheld (the record stands) or overturned.")],
    reason: Annotated[str, typer.Option(help="Why (required to uphold the record).")] = "",
    data: DataOpt = None,
    actor: ActorOpt = None,
    now: NowOpt = None,
) -> None:
    """Decide an objection; an overturned record is void and everything derived is undone."""
    from credence.runs.objections import decide

    with _session(data) as (store, session):
        o = decide(
            session,
            store.keys,
            objection_id,
            outcome,
            reason=reason,
            actor=_actor(actor),
            now=_now(now),
        )
        session.commit()
        out.print(f"objection {o.id}: {o.status}", highlight=False)


@measures_app.callback()
def measures(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only measures in this state.")] = None,
    subject_id: Annotated[str | None, typer.Option(help="Only this subject.")] = None,
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """List measures (e.g. --status awaiting_review for the reviewer's queue)."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select

    from credence.audit.access import Access, log_read
    from credence.store.schema import MeasureRow

    with _session(data) as (store, session):
        stmt = select(MeasureRow).order_by(MeasureRow.id)
        if status:
            stmt = stmt.where(MeasureRow.status == status)
        if subject_id:
            stmt = stmt.where(MeasureRow.subject_id == subject_id)
        rows = session.scalars(stmt).all()
        access = Access(_actor(actor), "operator", "due process administration")
        for sid in sorted({r.subject_id for r in rows}):
            log_read(session, store.keys, access, sid, "measures")
        table = Table(title=f"{len(rows)} measure(s)")
        for col in ("id", "subject", "measure", "ref", "status", "from", "until", "review"):
            table.add_column(col, overflow="fold" if col in _ID_COLUMNS else "ellipsis")
        for r in rows:
            review = json.loads(r.body).get("review") or {}
            table.add_row(
                str(r.id),
                r.subject_id,
                r.measure_id,
                r.ref or "",
                r.status,
                str(r.in_force_from or ""),
                str(r.until or ""),
                review.get("decision", ""),
            )
        session.commit()
    print_table(table)


@measures_app.command("review")
def measures_review(
    measure_id: Annotated[int, typer.Argument(help="The measure awaiting review.")],
    approve: Annotated[bool, typer.Option("--approve/--refuse", help="Sign off or refuse.")],
    reason: Annotated[str, typer.Option(help="Why (required to refuse).")] = "",
    on: Annotated[str | None, typer.Option(help="Day of the decision (default today).")] = None,
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Sign off a measure (it takes effect from that day) or refuse it with a reason."""
    from credence.runs.reviews import review_measure

    day = _day(on, "--on") if on else date.today()
    with _session(data) as (store, session):
        row = review_measure(
            session,
            store.keys,
            measure_id,
            approve=approve,
            reason=reason,
            actor=_actor(actor),
            on=day,
            now=datetime.combine(day, datetime.min.time()),
        )
        session.commit()
        out.print(f"measure {row.id}: {'approved' if approve else 'refused'}", highlight=False)
