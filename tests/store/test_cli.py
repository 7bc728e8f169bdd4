"""The store's commands end to end: ingest, record revoke/correct/show, their exit codes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from credence.cli import app
from tests.ingest.helpers import write_csv
from tests.store.backends import POLICY_FILE, Backend

NOW = ["--now", "2026-06-15T12:00:00Z", "--actor", "clerk"]


def test_ingest_revoke_correct_show(backend: Backend, tmp_path: Path) -> None:
    rows = [
        ("police", "C1", "NID-9", "fine", "2025-03-01", "", "", "", "", "", ""),
        ("police", "C2", "NID-9", "parking", "2025-03-01", "", "", "", "", "", ""),
    ]
    path = write_csv(tmp_path / "c.csv", rows)
    runner, env, pol = CliRunner(), backend.env() | {"COLUMNS": "200"}, str(POLICY_FILE)
    done = runner.invoke(
        app, ["ingest", str(path), "--source", "police", "--policy", pol, *NOW], env=env
    )
    assert done.exit_code == 1, done.output
    assert "│         2 │      1 │              0 │        1 │       1 │" in done.output
    revoked = runner.invoke(
        app, ["record", "revoke", "police:C1", "--reason", "quashed", *NOW], env=env
    )
    assert revoked.exit_code == 0 and "revoked police:C1" in revoked.output
    again = runner.invoke(app, ["record", "revoke", "police:C1", "--reason", "x", *NOW], env=env)
    assert again.exit_code == 2 and "already revoked" in again.output
    missing = runner.invoke(
        app,
        ["record", "correct", "police:C9", "--reason", "r", "--policy", pol, "--amount", "5"],
        env=env,
    )
    assert missing.exit_code == 2 and "no record 'police:C9'" in missing.output
    shown = runner.invoke(
        app,
        [
            "record",
            "show",
            "--national-id",
            "NID-9",
            "--purpose",
            "appeal 7",
            "--actor",
            "judge",
            "--role",
            "reviewer",
        ],
        env=env,
    )
    assert shown.exit_code == 0, shown.output
    assert "police:C1" in shown.output and "revoked@2026-06-15" in shown.output
    sid = backend.keys.subject_id("NID-9")
    assert backend.rows("SELECT actor, role, purpose, what FROM access_events") == [
        ("judge", "reviewer", "appeal 7", "records")
    ]
    assert backend.rows("SELECT subject_id FROM access_events") == [(sid,)]
    verify = runner.invoke(app, ["audit", "verify"], env=env)
    assert verify.exit_code == 0 and "audit chain intact: 5 entries" in verify.output


def test_commands_need_an_initialised_store(tmp_path: Path) -> None:
    env = {"CREDENCE_DATA": str(tmp_path / "nothing"), "CREDENCE_DATABASE_URL": ""}
    out = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert out.exit_code == 2
    assert "run `credence init` first" in out.output
