"""CLI of the HTTP API: ``credence serve`` and ``credence principal add|disable|list``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from credence.commands.options import ActorOpt, DataOpt, _actor, _fail, _open, _session
from credence.commands.runs import print_table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

out = Console(soft_wrap=True)
principal_app = typer.Typer(help="API principals: who may call the HTTP API, in what role.")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``principal`` to the ``credence`` app."""
    app.command("serve")(serve)
    app.add_typer(principal_app, name="principal", no_args_is_help=True)


def serve(
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled name.")
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    public_grade: Annotated[
        bool, typer.Option(help="Let relying parties see the grade (a deployment choice).")
    ] = False,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            help="Mark the web session cookies Secure even on plain HTTP (behind a TLS proxy); "
            "over HTTPS they always are.",
        ),
    ] = False,
    audit_checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="Append a signed checkpoint of the audit head to this file on a schedule.",
            envvar="CREDENCE_AUDIT_CHECKPOINT",
            show_default=False,
        ),
    ] = None,
    audit_checkpoint_every: Annotated[
        float, typer.Option(help="Seconds between audit checkpoints.", min=0.1)
    ] = 300.0,
    data: DataOpt = None,
) -> None:
    """Serve the HTTP API with uvicorn on the store; stop with SIGTERM or Ctrl+C (exit 0).

    In-flight requests get GRACE_S seconds to finish, then are cancelled.
    """
    import uvicorn

    from credence.errors import CredenceError
    from credence.policy import library

    try:
        library.resolve(policy)
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    _open(data).close()
    # The factory runs in every worker, so the settings travel in the environment.
    os.environ["CREDENCE_API_POLICY"] = policy
    os.environ["CREDENCE_API_PUBLIC_GRADE"] = "1" if public_grade else ""
    os.environ["CREDENCE_SECURE_COOKIES"] = "1" if secure_cookies else ""
    if audit_checkpoint is not None:
        os.environ["CREDENCE_API_AUDIT_CHECKPOINT"] = str(audit_checkpoint.resolve())
        os.environ["CREDENCE_API_AUDIT_CHECKPOINT_EVERY"] = str(audit_checkpoint_every)
    if data is not None:
        os.environ["CREDENCE_DATA"] = str(Path(data).resolve())
    announce(policy, host, port)
    signals = _signals_recorded()
    uvicorn.run(
        "credence.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=GRACE_S,
    )
    _stopped(signals)


GRACE_S = 7
"""Seconds in-flight requests get to finish after SIGTERM/SIGINT before they are cancelled."""
EXIT_S = 2.0
"""Seconds after that for the process to end before it is ended regardless (GRACE_S + EXIT_S
stays under the 10 s that a service manager commonly waits before SIGKILL)."""


def announce(policy: str, host: str, port: int) -> None:
    """Print where the server listens and each role's landing page, before it starts."""
    from credence.web.app import HOME

    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    lines = [f"Credence serving policy {policy} at {base}/"]
    if shown != host:
        lines[0] += f" (listening on every interface, {host})"
    lines.append(f"  sign in     {base}/sign-in")
    lines += [f"  {role:<11} {base}{page}" for role, page in HOME.items()]
    lines.append(f"  API         {base}/docs")
    lines.append("Stop with Ctrl+C or SIGTERM.")
    out.print("\n".join(lines), highlight=False, markup=False)
    sys.stdout.flush()


def _signals_recorded() -> list[int]:
    """Handle SIGTERM and SIGINT by noting them (uvicorn raises them again once it stopped).

    Uvicorn puts back the handlers it found and re-raises the signal that stopped it; with the
    default handlers that would end a clean shutdown as "killed by SIGTERM" (exit 143) or a
    KeyboardInterrupt traceback. Noted here instead, the server exits 0.
    """
    seen: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: seen.append(number))
    return seen


def _stopped(signals: list[int]) -> None:
    """After uvicorn returned: kill lab runs still going, and do not wait on stuck threads."""
    import threading

    from credence.sim.limited import cancel_all

    cancel_all()
    # A computation in a worker thread cannot be interrupted; the interpreter would wait for it
    # at exit. The exit handlers (last WAL and audit checkpoints) get EXIT_S, then it is ended.
    timer = threading.Timer(EXIT_S, os._exit, args=(0,))
    timer.daemon = True
    timer.start()
    out.print(
        "Credence stopped" + (f" ({signal.Signals(signals[0]).name})." if signals else "."),
        highlight=False,
    )
    sys.stdout.flush()


@principal_app.command("add")
def principal_add(
    name: Annotated[str, typer.Argument(help="Unique name (logged as the actor).")],
    role: Annotated[str, typer.Option(help="agency, reviewer, auditor, subject or relying_party.")],
    scope: Annotated[
        str | None,
        typer.Option(help="agency: its source; subject: its subject id; relying_party: its name."),
    ] = None,
    national_id: Annotated[
        str | None,
        typer.Option(help="subject: the national id (its pseudonym becomes the scope)."),
    ] = None,
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Create a principal and print its API key once (only its Argon2 hash is stored)."""
    from credence.access.auth import add_principal

    with _session(data) as (store, session):
        if national_id is not None:
            if role != "subject" or scope is not None:
                raise _fail("--national-id is for a subject, instead of --scope")
            scope = store.keys.subject_id(national_id)
        who, key = add_principal(session, store.keys, name, role, scope, actor=_actor(actor))
        session.commit()
        has_records = role != "subject" or scope is None or _has_records(session, scope)
    if not has_records:
        Console(stderr=True, soft_wrap=True).print(
            f"warning: the store holds no records of subject {scope}"
            + (f" (national id {national_id!r})" if national_id is not None else "")
            + ": check the id; the principal was created and will see an empty record until "
            "records for it are ingested",
            highlight=False,
            markup=False,
        )
    out.print(
        f"principal {who.name} ({who.role}{', ' + who.scope if who.scope else ''}) created; "
        "its API key (shown only now):",
        highlight=False,
    )
    print(key)


def _has_records(session: Session, subject_id: str) -> bool:
    """Whether any record of ``subject_id`` is stored (ids are pseudonyms: the store's hash)."""
    from sqlalchemy import select

    from credence.store.schema import StoredRecord

    stmt = select(StoredRecord.record_id).where(StoredRecord.subject_id == subject_id).limit(1)
    return session.scalar(stmt) is not None


@principal_app.command("disable")
def principal_disable(
    name: Annotated[str, typer.Argument(help="The principal.")],
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Disable a principal: its key stops working (within a second on running servers)."""
    from credence.access.auth import disable_principal

    with _session(data) as (store, session):
        disable_principal(session, store.keys, name, actor=_actor(actor))
        session.commit()
    out.print(f"principal {name} disabled", highlight=False)


@principal_app.command("list")
def principal_list(data: DataOpt = None) -> None:
    """List principals with their role, scope and state (never their keys)."""
    from sqlalchemy import select

    from credence.store.schema import PrincipalRow

    with _session(data) as (_, session):
        rows = session.scalars(select(PrincipalRow).order_by(PrincipalRow.id)).all()
    table = Table(title=f"{len(rows)} principal(s)")
    for col in ("id", "name", "role", "scope", "created", "state"):
        table.add_column(col, overflow="fold" if col in ("id", "name", "scope") else "ellipsis")
    for r in rows:
        table.add_row(
            str(r.id),
            r.name,
            r.role,
            r.scope or "",
            f"{r.created_at:%Y-%m-%d}",
            "disabled" if r.disabled else "active",
        )
    print_table(table)
