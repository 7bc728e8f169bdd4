"""Alembic environment: runs on the connection that :func:`credence.store.db.migrate` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import credence.store.schema  # noqa: F401  (defines every table on Base.metadata)
from credence.sql.columns import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Run the migrations online, on a given connection or on ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
