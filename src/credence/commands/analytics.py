"""``credence analytics refresh``: compute the analytics figures and keep them in the store."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from credence.commands.options import ActorOpt, DataOpt, _actor, _fail, _open

if TYPE_CHECKING:
    from credence.store.db import Store

out = Console(soft_wrap=True)
analytics_app = typer.Typer(help="The analytics figures (the /analytics page) kept in the store.")


def register(app: typer.Typer) -> None:
    """Add ``analytics`` to the ``credence`` app."""
    app.add_typer(analytics_app, name="analytics", no_args_is_help=True)


@analytics_app.command("refresh")
def refresh(
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Policy file or folder, or a bundled name.")
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Day of the figures (default: the day the store's data run to, else today).",
            show_default=False,
        ),
    ] = None,
    months: Annotated[
        int, typer.Option(help="First-of-the-month dates in the series.", min=0, max=120)
    ] = 12,
    data: DataOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Compute every analytics figure with the batch plan over the store and keep it.

    Run it after an ingest or a process run, so that the page finds current figures. The read
    is one aggregate entry in the audit chain (purpose, number of subjects).
    """
    from credence.audit.access import Access
    from credence.compute import analytics as an
    from credence.errors import CredenceError
    from credence.policy import library

    try:
        pol = library.resolve(policy)
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    store = _open(data)
    try:
        day = _day(store, as_of)
        access = Access(_actor(actor), "operator", an.PURPOSE)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("analytics", total=1.0)

            def tell(step: str, share: float) -> None:
                bar.update(task, description=step, completed=share)

            f = an.compute(store, pol, day, access, months=months, progress=tell)
    except CredenceError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    over_time = f.tables["grades-over-time"].rows
    out.print(
        f"analytics of {f.policy_id} {f.policy_version} as of {f.as_of}: {f.subjects} subjects, "
        f"{len(over_time)} dates, computed in {f.seconds:.1f} s and kept in the store",
        highlight=False,
    )
    today = over_time[-1]
    out.print(
        "grades today: "
        + ", ".join(f"{g} {n}" for g, n in zip(f.grades, today[1:-1], strict=True)),
        highlight=False,
    )


def _day(store: Store, text: str | None) -> date:
    """The ``--as-of`` day, or the day the store's data run to (a simulated store's), or today."""
    if text is not None:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(
                f"{text!r} is not a date (YYYY-MM-DD)", param_hint="--as-of"
            ) from None
    from credence.store.meta import data_as_of

    return data_as_of(store.engine) or date.today()
