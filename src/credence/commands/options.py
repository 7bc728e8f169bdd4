"""What the `credence` commands share: the --data, --actor and --now options, and opening the store.

SQLAlchemy is imported inside the helpers, so that ``credence --help`` works without the
``store`` extra.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from credence.store.db import Store

err = Console(stderr=True, soft_wrap=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Data folder (default: $CREDENCE_DATA or ./credence-data).",
        show_default=False,
    ),
]
ActorOpt = Annotated[
    str | None,
    typer.Option("--actor", help="Who acts (default: $CREDENCE_ACTOR or the login name)."),
]
NowOpt = Annotated[
    str | None, typer.Option("--now", hidden=True, help="Pretend it is this instant (tests).")
]


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("CREDENCE_ACTOR") or getpass.getuser()


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    from credence.dates import parse_instant

    try:
        return parse_instant(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--now") from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(message, highlight=False, markup=False)
    return typer.Exit(code)


def _open(data: Path | None) -> Store:
    from credence.errors import CredenceError
    from credence.store.db import open_store

    try:
        return open_store(data)
    except CredenceError as exc:
        raise _fail(str(exc)) from None


@contextmanager
def _session(data: Path | None) -> Iterator[tuple[Store, Session]]:
    """The store and one session for a command; a CredenceError ends it with exit 2.

    The command commits what it wrote; the store is closed however the command ends.
    """
    from credence.errors import CredenceError

    store = _open(data)
    try:
        with store.session() as session:
            yield store, session
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
