"""Commands of the store (init, ingest, record, audit, backup, restore).

SQLAlchemy, Alembic and cryptography are imported inside the commands, so that ``credence
--help`` and the commands that need no store work without the ``store`` extra.
"""

from __future__ import annotations

import signal
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
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
    err,
)

if TYPE_CHECKING:
    from credence.ingest.run import IngestSummary

out = Console(soft_wrap=True)

record_app = typer.Typer(help="Corrections, revocations and reads of stored records.")
audit_app = typer.Typer(help="The hash-chained audit log.")


def register(app: typer.Typer) -> None:
    """Add the store's commands to the ``credence`` app."""
    app.command("init")(init)
    app.command("ingest")(ingest)
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(record_app, name="record", no_args_is_help=True)
    app.add_typer(audit_app, name="audit", no_args_is_help=True)


def init(data: DataOpt = None, actor: ActorOpt = None) -> None:
    """Create a store: data folder, secret key (mode 0600), database schema, audit chain."""
    from credence.store.db import DB_FILE, data_dir, initialise
    from credence.store.keys import KEY_FILE

    folder = data_dir(data)
    store, made = initialise(folder, actor=_actor(actor))
    store.close()
    if made:
        out.print(f"created secret key {folder / KEY_FILE} (mode 0600): back it up apart")
    where = folder / DB_FILE if store.is_sqlite else store.url
    out.print(f"store ready: {where}", highlight=False)


def ingest(
    file: Annotated[Path, typer.Argument(help="CSV, JSONL or Parquet record file.")],
    source: Annotated[str, typer.Option("--source", help="The reporting source of every row.")],
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled name.")
    ],
    data: DataOpt = None,
    actor: ActorOpt = None,
    batch_size: Annotated[int, typer.Option(help="Rows per committed batch.", min=1)] = 20_000,
    throttle: Annotated[float, typer.Option(hidden=True, help="Pause after each batch (s).")] = 0,
    now: NowOpt = None,
) -> None:
    """Validate and store a record file; rejected rows go to quarantine (exit 1 if any)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from credence.errors import CredenceError
    from credence.ingest.run import ingest_file
    from credence.ingest.runs import resume_hint
    from credence.policy import library

    try:
        pol = library.resolve(policy)
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    store = _open(data)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task(f"ingesting {file.name}", total=None)
    # SIGTERM (a service stop) ends the run like Ctrl-C: closed as interrupted, not left running.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with progress:
            summary = ingest_file(
                store,
                file,
                source=source,
                policy=pol,
                actor=_actor(actor),
                now=_now(now),
                batch_size=batch_size,
                throttle=throttle,
                on_start=lambda total: progress.update(task, total=total),
                on_progress=lambda n: progress.advance(task, n),
            )
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail(
            f"ingest interrupted: the run is marked interrupted; {resume_hint(str(file))}", 130
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()
    for run_id in summary.interrupted:
        err.print(
            f"run {run_id} was left running by a process that is gone: marked interrupted",
            highlight=False,
            markup=False,
        )
    _summary_table(summary)
    if summary.rejected:
        raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _summary_table(s: IngestSummary) -> None:
    table = Table(title=f"ingest run {s.run_id}: {Path(s.file).name} from {s.source}")
    table.add_column("rows read", justify="right")
    table.add_column("stored", justify="right")
    table.add_column("already stored", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("batches", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_row(
        str(s.rows),
        str(s.accepted),
        str(s.duplicates),
        str(s.rejected),
        str(s.batches),
        f"{s.rate:,.0f}",
    )
    out.print(table)
    if s.reasons:
        reasons = Table(title="rejections by field")
        reasons.add_column("field")
        reasons.add_column("rows", justify="right")
        for name, n in sorted(s.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            reasons.add_row(name, str(n))
        out.print(reasons)


@record_app.command("revoke")
def record_revoke(
    record_id: Annotated[str, typer.Argument(help="The record, as source:source_record_id.")],
    reason: Annotated[str, typer.Option(help="Why the record is revoked.")],
    data: DataOpt = None,
    actor: ActorOpt = None,
    now: NowOpt = None,
) -> None:
    """Revoke a record (a new status row; the record itself is kept)."""
    from credence.store.records import revoke

    with _session(data) as (store, session):
        revoke(session, store.keys, record_id, actor=_actor(actor), reason=reason, now=_now(now))
        session.commit()
    out.print(f"revoked {record_id}", highlight=False)


@record_app.command("correct")
def record_correct(
    record_id: Annotated[str, typer.Argument(help="The record to correct.")],
    reason: Annotated[str, typer.Option(help="Why it is corrected.")],
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy the correction is checked against.")
    ],
    kind: Annotated[str | None, typer.Option(help="Corrected kind.")] = None,
    occurred_on: Annotated[str | None, typer.Option(help="Corrected act date.")] = None,
    effective_on: Annotated[str | None, typer.Option(help="Corrected final date.")] = None,
    amount: Annotated[str | None, typer.Option(help="Corrected amount.")] = None,
    evidence_ref: Annotated[str | None, typer.Option(help="Corrected evidence reference.")] = None,
    source_record_id: Annotated[
        str | None, typer.Option(help="The source's id of the correction (default: <old>~cN).")
    ] = None,
    data: DataOpt = None,
    actor: ActorOpt = None,
    now: NowOpt = None,
) -> None:
    """Supersede a record with a corrected one; the old one becomes corrected_by the new."""
    from credence.errors import CredenceError
    from credence.ingest.corrections import correct
    from credence.policy import library

    changes: dict[str, object] = {}
    for name, text in (("occurred_on", occurred_on), ("effective_on", effective_on)):
        if text is not None:
            try:
                changes[name] = date.fromisoformat(text)
            except ValueError:
                raise typer.BadParameter(f"{text!r} is not a date", param_hint=name) from None
    if amount is not None:
        try:
            changes["amount"] = Decimal(amount)
        except InvalidOperation:
            raise typer.BadParameter(f"{amount!r} is not a number", param_hint="--amount") from None
    if kind is not None:
        changes["kind"] = kind
    if evidence_ref is not None:
        changes["evidence_ref"] = evidence_ref
    try:
        pol = library.resolve(policy)
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    with _session(data) as (store, session):
        new = correct(
            session,
            store.keys,
            record_id,
            actor=_actor(actor),
            reason=reason,
            changes=changes,
            new_source_record_id=source_record_id,
            policy=pol,
            now=_now(now),
        )
        session.commit()
    out.print(f"corrected {record_id}: superseded by {new.record_id}", highlight=False)


@record_app.command("show")
def record_show(
    purpose: Annotated[str, typer.Option(help="Why you read this subject's data (logged).")],
    national_id: Annotated[str | None, typer.Option(help="The subject's national id.")] = None,
    subject_id: Annotated[str | None, typer.Option(help="The subject's pseudonymous id.")] = None,
    known_at: Annotated[
        str | None, typer.Option(help="As the store knew it at this day or instant.")
    ] = None,
    role: Annotated[str, typer.Option(help="Your role (logged).")] = "operator",
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """List a subject's records with their status history (a logged read)."""
    from credence.audit.access import Access
    from credence.dates import parse_instant
    from credence.store.records import records_of

    if (national_id is None) == (subject_id is None):
        raise typer.BadParameter("give --national-id or --subject-id")
    when: date | datetime | None = None
    if known_at is not None:
        try:
            when = date.fromisoformat(known_at) if len(known_at) == 10 else parse_instant(known_at)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--known-at") from None
    with _session(data) as (store, session):
        sid = subject_id or store.keys.subject_id(national_id or "")
        records = records_of(
            session,
            store.keys,
            sid,
            access=Access(_actor(actor), role, purpose),
            known_at=when,
        )
        session.commit()
    table = Table(title=f"subject {sid}: {len(records)} record(s)")
    for col in ("record", "kind", "occurred", "effective", "recorded", "amount", "status"):
        table.add_column(col)
    for r in records:
        history = " → ".join(
            f"{c.status.value}@{c.at:%Y-%m-%d}" + (f"({c.ref})" if c.ref else "") for c in r.history
        )
        table.add_row(
            r.record_id,
            r.kind,
            str(r.occurred_on),
            str(r.effective_on),
            f"{r.recorded_at:%Y-%m-%d %H:%M}",
            "" if r.amount is None else str(r.amount),
            history or "active",
        )
    out.print(table)


CheckpointFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="Checkpoint file (JSON lines), kept outside the database.",
        envvar="CREDENCE_AUDIT_CHECKPOINT",
        show_default=False,
    ),
]
CheckpointUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--checkpoint-url",
        help="A second database (SQLAlchemy URL) that keeps checkpoints too.",
        envvar="CREDENCE_AUDIT_CHECKPOINT_URL",
        show_default=False,
    ),
]


@audit_app.command("verify")
def audit_verify(
    data: DataOpt = None,
    checkpoint: CheckpointFileOpt = None,
    checkpoint_url: CheckpointUrlOpt = None,
) -> None:
    """Walk the audit chain; name the first altered, deleted or inserted entry (exit 1).

    With checkpoints, also refuse a chain shorter than, or different from, any of them.
    """
    from credence.audit.chain import verify
    from credence.audit.checkpoint import (
        Anchored,
        Checkpoint,
        CheckpointError,
        ForgedCheckpoint,
        check,
        read_file,
        read_store,
    )

    anchored: Anchored | None = None
    with _session(data) as (store, session):
        verdict = verify(session, store.keys)
        if verdict.ok and (checkpoint is not None or checkpoint_url is not None):
            try:
                found: list[Checkpoint] = []
                if checkpoint is not None:
                    found += read_file(checkpoint, store.keys)
                if checkpoint_url is not None:
                    found += read_store(checkpoint_url, store.keys)
            except ForgedCheckpoint as exc:
                raise _fail(f"audit checkpoints FORGED: {exc}", 1) from None
            except CheckpointError as exc:
                raise _fail(str(exc)) from None
            anchored = check(session, found)
    if verdict.ok and (anchored is None or anchored.ok):
        out.print(
            f"audit chain intact: {verdict.entries} entries, head {verdict.head_hash}",
            highlight=False,
        )
        if anchored is not None:
            latest = anchored.latest
            tail = f", the latest at entry {latest.seq} (written {latest.at})" if latest else ""
            out.print(
                f"agrees with {anchored.checked} checkpoint(s){tail}",
                highlight=False,
            )
        return
    if anchored is not None:
        err.print(
            f"audit chain REFUSED by checkpoint {anchored.seq}: {anchored.problem}",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(1)
    err.print(
        f"audit chain BROKEN at entry {verdict.seq}: {verdict.problem}: {verdict.message} "
        f"({verdict.entries} entries verified before it)",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head(
    data: DataOpt = None,
    checkpoint: CheckpointFileOpt = None,
    checkpoint_url: CheckpointUrlOpt = None,
    now: NowOpt = None,
) -> None:
    """Print the chain's length and last hash; with --checkpoint, append a signed checkpoint."""
    from credence.audit.chain import head_of
    from credence.audit.checkpoint import (
        CheckpointError,
        append_to_file,
        append_to_store,
        take,
    )

    with _session(data) as (store, session):
        if checkpoint is None and checkpoint_url is None:
            seq, last = head_of(session)
            out.print(f"{seq} {last}", highlight=False)
            return
        try:
            cp = take(session, store.keys, _now(now))
            if checkpoint is not None:
                append_to_file(checkpoint, cp)
            if checkpoint_url is not None:
                append_to_store(checkpoint_url, cp)
        except CheckpointError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"{checkpoint}: cannot write the checkpoint: {exc}") from None
    out.print(f"{cp.seq} {cp.hash}", highlight=False)
    where = " and ".join(
        x
        for x in (
            str(checkpoint) if checkpoint else "",
            "the checkpoint store" if checkpoint_url else "",
        )
        if x
    )
    out.print(f"checkpoint {cp.seq} (written {cp.at}) appended to {where}", highlight=False)


def backup(
    dest: Annotated[Path, typer.Argument(help="The backup file to write.")],
    data: DataOpt = None,
    actor: ActorOpt = None,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Copy the SQLite store online (PostgreSQL: use pg_dump, see docs/operations.md)."""
    from credence.store.backup import BackupError, backup_sqlite

    store = _open(data)
    try:
        entries = backup_sqlite(store, dest, actor=_actor(actor), force=force)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    out.print(f"backup written to {dest} ({entries} audit entries)", highlight=False)


def restore(
    src: Annotated[Path, typer.Argument(help="A backup made by `credence backup`.")],
    data: DataOpt = None,
    actor: ActorOpt = None,
    force: Annotated[bool, typer.Option(help="Replace an existing database.")] = False,
) -> None:
    """Restore a SQLite backup into the data folder and verify its audit chain."""
    from credence.store.backup import BackupError, restore_sqlite
    from credence.store.db import data_dir

    try:
        verdict = restore_sqlite(src, data_dir(data), actor=_actor(actor), force=force)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    if not verdict.ok:
        raise _fail(
            f"restored, but the audit chain is BROKEN at entry {verdict.seq}: {verdict.message}", 1
        )
    out.print(
        f"restored {src}; audit chain intact: {verdict.entries} entries, head {verdict.head_hash}",
        highlight=False,
    )
