"""The schema: migrations build it on both backends and match the models exactly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

import credence.store.schema  # noqa: F401  (defines every table on Base.metadata)
from credence.cli import app
from credence.sql.columns import Base
from tests.store.backends import Backend

TABLES = {
    "access_events",
    "alembic_version",
    "analytics_results",
    "assessments",
    "audit_head",
    "audit_log",
    "evidence_files",
    "identities",
    "ingest_runs",
    "list_entries",
    "measures",
    "notices",
    "objections",
    "outbox",
    "policies",
    "principals",
    "process_agenda",
    "process_events",
    "process_marks",
    "process_runs",
    "quarantine",
    "record_status",
    "records",
    "store_meta",
    "subjects",
    "web_sessions",
}


def test_migrations_create_every_table(backend: Backend) -> None:
    assert set(inspect(backend.store.engine).get_table_names()) == TABLES


def test_migrations_match_the_models(backend: Backend) -> None:
    with backend.store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_records_have_the_dedup_key(backend: Backend) -> None:
    uniques = inspect(backend.store.engine).get_unique_constraints("records")
    assert [u["column_names"] for u in uniques] == [["source", "source_record_id"]]


def test_init_makes_a_wal_sqlite_store_and_a_private_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")}
    data = tmp_path / "credence-data"
    result = CliRunner().invoke(
        app, ["init", "--data", str(data)], env=env | {"CREDENCE_ACTOR": "ops"}
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600
    assert len(bytes.fromhex((data / "secret.key").read_text().strip())) == 32
    import sqlite3

    conn = sqlite3.connect(data / "credence.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("SELECT seq, actor, action FROM audit_log").fetchall() == [
        (1, "ops", "store.init")
    ]
    conn.close()
    again = CliRunner().invoke(app, ["init", "--data", str(data)], env=env)
    assert again.exit_code == 0, again.output
    conn = sqlite3.connect(data / "credence.db")
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)
    conn.close()
