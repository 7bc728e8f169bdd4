"""CLI commands of the store (init, ingest, record, audit, backup, restore)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the store's commands to the ``credence`` app."""
    del app
