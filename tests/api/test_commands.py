"""``credence principal`` and ``credence serve``: keys printed once, working over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from credence.api.app import create_app
from credence.commands.api import register
from tests.api.world import policy
from tests.store.backends import Backend

# The commands on an app of their own, as cli.py wires them with the same register call.
cli = typer.Typer()
register(cli)


def test_principal_add_prints_a_key_that_works_until_disabled(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    runner, env = CliRunner(), sqlite_backend.env() | {"COLUMNS": "200"}
    sid = sqlite_backend.keys.subject_id("NID-7")
    added = runner.invoke(
        cli, ["principal", "add", "carol", "--role", "subject", "--national-id", "NID-7"], env=env
    )
    assert added.exit_code == 0, added.output
    key = added.output.strip().splitlines()[-1]
    assert key.startswith("crd_") and sid in added.output
    again = runner.invoke(cli, ["principal", "add", "carol", "--role", "auditor"], env=env)
    assert again.exit_code == 2 and "exists already" in again.output
    bad = runner.invoke(cli, ["principal", "add", "dave", "--role", "agency"], env=env)
    assert bad.exit_code == 2 and "needs --scope" in bad.output
    listed = runner.invoke(cli, ["principal", "list"], env=env)
    assert "carol" in listed.output and key not in listed.output
    with sqlite_backend.store.session() as s:
        from sqlalchemy import text

        stored = s.execute(text("SELECT key_hash FROM principals")).scalar_one()
    assert stored.startswith("$argon2id$") and key not in stored
    client = TestClient(create_app(sqlite_backend.store, policy()))
    me = client.get("/whoami", headers={"Authorization": f"Bearer {key}"})
    assert me.json() == {"name": "carol", "role": "subject", "scope": sid}
    off = runner.invoke(cli, ["principal", "disable", "carol"], env=env)
    assert off.exit_code == 0, off.output
    fresh = TestClient(create_app(sqlite_backend.store, policy()))
    assert fresh.get("/whoami", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_the_server_answers_over_a_socket(sqlite_backend: Backend, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    scheme = tmp_path / "scheme.yaml"
    scheme.write_text(policy().versions[0].model_dump_json())
    env = sqlite_backend.env() | {"CREDENCE_API_POLICY": str(scheme)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "credence.server:app_from_env",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=os.getcwd(),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert r.json() == {"status": "ok", "policy_id": "scheme"}
        denied = httpx.get(f"http://127.0.0.1:{port}/me/records")
        assert denied.status_code == 401
        assert denied.headers["content-type"] == "application/problem+json"
    finally:
        server.terminate()
        server.wait(timeout=20)
