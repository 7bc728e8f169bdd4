"""Backup and restore of the SQLite store; the restored audit chain verifies."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from credence.cli import app
from credence.ingest.run import ingest_file
from tests.ingest.helpers import NOW, records, write_csv
from tests.store.backends import SECRET, Backend, open_backend, policy_set


def test_backup_then_restore_verifies_the_chain(sqlite_backend: Backend, tmp_path: Path) -> None:
    rows = [
        ("police", f"B{i}", f"NID-{i}", "fine", "2025-03-01", "", "", "", "", "", "")
        for i in range(50)
    ]
    ingest_file(
        sqlite_backend.store,
        write_csv(tmp_path / "b.csv", rows),
        source="police",
        policy=policy_set(),
        actor="a",
        now=NOW,
    )
    runner = CliRunner()
    dest = tmp_path / "backups" / "store.db"
    made = runner.invoke(app, ["backup", str(dest)], env=sqlite_backend.env())
    assert made.exit_code == 0, made.output
    assert "(4 audit entries)" in made.output
    again = runner.invoke(app, ["backup", str(dest)], env=sqlite_backend.env())
    assert again.exit_code == 2 and "exists" in again.output

    target = tmp_path / "restored"
    target.mkdir()
    (target / "secret.key").write_text(SECRET)
    env = sqlite_backend.env() | {"CREDENCE_DATA": str(target)}
    done = runner.invoke(app, ["restore", str(dest)], env=env)
    assert done.exit_code == 0, done.output
    assert "audit chain intact: 4 entries" in done.output
    restored = next(open_backend("sqlite", target, SECRET))
    try:
        assert records(restored) == records(sqlite_backend)
        assert [r[0] for r in restored.rows("SELECT action FROM audit_log ORDER BY seq")] == [
            "ingest.start",
            "ingest.batch",
            "ingest.finish",
            "store.backup",
            "store.restore",
        ]
    finally:
        restored.store.close()
    verify = runner.invoke(app, ["audit", "verify"], env=env)
    assert verify.exit_code == 0 and "5 entries" in verify.output


def test_a_tampered_backup_restores_but_fails_verification(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    import sqlite3

    runner = CliRunner()
    dest = tmp_path / "b.db"
    assert runner.invoke(app, ["backup", str(dest)], env=sqlite_backend.env()).exit_code == 0
    conn = sqlite3.connect(dest)
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    conn.commit()
    conn.close()
    target = tmp_path / "r"
    target.mkdir()
    (target / "secret.key").write_text(SECRET)
    out = runner.invoke(app, ["restore", str(dest)], env={"CREDENCE_DATA": str(target)})
    assert out.exit_code == 1
    assert "BROKEN at entry 1" in out.output


def test_postgresql_backup_points_to_pg_dump(backend: Backend, tmp_path: Path) -> None:
    if backend.name != "postgresql":
        return
    out = CliRunner().invoke(app, ["backup", str(tmp_path / "x.db")], env=backend.env())
    assert out.exit_code == 2
    assert "pg_dump" in out.output
