"""``credence subject export``: an operator's copy of one subject's file, on a written request.

The read is logged like every other (role operator, the request's reference in the access
event's chain entry), so the subject sees in their own file who exported it and why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from credence.commands.options import ActorOpt, DataOpt, NowOpt, _actor, _fail, _now, _session

out = Console(soft_wrap=True, highlight=False)
subject_app = typer.Typer(help="A subject's file (GDPR Art. 15), on a written request.")


def register(app: typer.Typer) -> None:
    """Add ``subject export`` to the ``credence`` app."""
    app.add_typer(subject_app, name="subject", no_args_is_help=True)


@subject_app.command("export")
def export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the file into.")],
    request_ref: Annotated[
        str, typer.Option("--request-ref", help="The written request's reference (logged).")
    ],
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled name.")
    ],
    national_id: Annotated[
        str | None, typer.Option("--national-id", help="The subject's national id.")
    ] = None,
    subject_id: Annotated[
        str | None, typer.Option("--subject-id", help="The subject's pseudonym.")
    ] = None,
    paper: Annotated[str, typer.Option("--paper", help="A4 or Letter.")] = "A4",
    data: DataOpt = None,
    actor: ActorOpt = None,
    now: NowOpt = None,
) -> None:
    """Write one subject's file (JSON and PDF) and a letter per notice into --out."""
    from datetime import UTC, datetime

    from credence.audit.access import Access
    from credence.errors import CredenceError
    from credence.letters.letter import LetterNotice, render_letter
    from credence.policy import library
    from credence.store.schema import Notice
    from credence.subject_file.build import build_file
    from credence.subject_file.pdf import render_file

    if (national_id is None) == (subject_id is None):
        raise _fail("give exactly one of --national-id and --subject-id")
    if not request_ref.strip():
        raise typer.BadParameter(
            "the written request's reference is empty", param_hint="--request-ref"
        )
    if paper not in ("A4", "Letter"):
        raise typer.BadParameter(f"{paper!r} is not A4 or Letter", param_hint="--paper")
    try:
        pol = library.resolve(policy)
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    moment = _now(now) or datetime.now(UTC)
    purpose = f"written request {request_ref}: the subject's copy of their file (GDPR Art. 15)"
    with _session(data) as (store, session):
        sid = subject_id if subject_id is not None else store.keys.subject_id(national_id or "")
        who = Access(_actor(actor), "operator", purpose)
        doc = build_file(session, store.keys, pol, sid, who, moment, request_ref=request_ref)
        if doc is None:
            raise _fail(f"the store holds no data about subject {sid}")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{sid}.json").write_text(
            json.dumps(doc.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8"
        )
        (out_dir / f"{sid}.pdf").write_bytes(render_file(doc, "A4" if paper == "A4" else "Letter"))
        for n in [session.get(Notice, x.id) for x in doc.notices]:
            assert n is not None
            letter = LetterNotice.of(n, json.loads(n.body))
            (out_dir / f"letter-{n.id}.pdf").write_bytes(
                render_letter(letter, "A4" if paper == "A4" else "Letter")
            )
        session.commit()
    out.print(
        f"Wrote the file of subject {sid} ({len(doc.records)} records, {len(doc.notices)} "
        f"notices) to {out_dir}; the export is logged with request {request_ref}."
    )
