"""Signed checkpoints of the audit head: a head row put back after truncating the tail is caught.

The attack: save the head row, let the chain grow, then delete the new entries and restore the
saved head row. The chain alone verifies ("intact"), because the head's MAC covers only its own
(seq, hash); a checkpoint written outside the database remembers the later head.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from typer.testing import CliRunner

from credence.audit import chain
from credence.audit.checkpoint import read_file
from credence.cli import app
from tests.store.backends import Backend

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _fill(b: Backend, n: int, start: int = 0) -> None:
    with b.store.session() as session:
        for i in range(start, start + n):
            chain.append(
                session,
                b.keys,
                actor=f"actor-{i}",
                action="test.write",
                detail={"i": i},
                subject_id="s" * 64 if i % 2 else None,
                at=T0 + timedelta(minutes=i),
            )
        session.commit()


def _cli(b: Backend, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args), env=b.env() | {"COLUMNS": "400"})
    return r.exit_code, r.stdout, r.stderr


def _replay_old_head(b: Backend, saved: tuple[int, str, str]) -> None:
    """Delete the entries after the saved head and put the saved head row back."""
    seq, digest, mac = saved
    b.execute("DELETE FROM audit_log WHERE seq > :s", s=seq)
    b.execute("UPDATE audit_head SET seq = :s, hash = :h, mac = :m", s=seq, h=digest, m=mac)


def _head_row(b: Backend) -> tuple[int, str, str]:
    [(seq, digest, mac)] = b.rows("SELECT seq, hash, mac FROM audit_head")
    return int(seq), str(digest), str(mac)


def test_a_replayed_head_passes_without_a_checkpoint_and_is_refused_with_one(
    backend: Backend, tmp_path: Path
) -> None:
    witness = tmp_path / "elsewhere" / "audit-checkpoints.jsonl"
    _fill(backend, 5)
    saved = _head_row(backend)
    _fill(backend, 3, start=5)
    code, out, _ = _cli(
        backend, "audit", "head", "--checkpoint", str(witness), "--now", "2026-05-02T10:00:00Z"
    )
    assert code == 0, out
    eight = _head_row(backend)[1]
    assert out.splitlines() == [
        f"8 {eight}",
        f"checkpoint 8 (written 2026-05-02T10:00:00.000000Z) appended to {witness}",
    ]
    [line] = witness.read_text().splitlines()
    assert json.loads(line)["seq"] == 8

    _replay_old_head(backend, saved)
    # Without the checkpoint the shortened chain looks intact: this is why it is needed.
    code, out, _ = _cli(backend, "audit", "verify")
    assert (code, out.strip()) == (0, f"audit chain intact: 5 entries, head {saved[1]}")

    code, out, err = _cli(backend, "audit", "verify", "--checkpoint", str(witness))
    assert code == 1, out
    assert err.strip() == (
        "audit chain REFUSED by checkpoint 8: the chain has 5 entries, fewer than checkpoint 8 "
        "(written 2026-05-02T10:00:00.000000Z) recorded: entries after 5 were removed"
    )


def test_a_chain_that_grew_again_after_the_replay_is_refused(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    b, witness = sqlite_backend, tmp_path / "cp.jsonl"
    _fill(b, 4)
    saved = _head_row(b)
    _fill(b, 4, start=4)
    assert _cli(b, "audit", "head", "--checkpoint", str(witness))[0] == 0
    recorded = json.loads(witness.read_text())["hash"]
    _replay_old_head(b, saved)
    # The server goes on writing after the replay: the chain is as long again, and intact.
    _fill(b, 6, start=100)
    assert _cli(b, "audit", "verify")[0] == 0
    code, _, err = _cli(b, "audit", "verify", "--checkpoint", str(witness))
    held = b.rows("SELECT hash FROM audit_log WHERE seq = 8")[0][0]
    assert code == 1
    assert f"audit chain REFUSED by checkpoint 8: entry 8 has hash {held}" in err
    assert (
        "but checkpoint 8 (written " in err
        and f"recorded {recorded}: the chain was rewritten" in err
    )


def test_a_chain_that_holds_every_checkpoint_verifies(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    b, witness = sqlite_backend, tmp_path / "cp.jsonl"
    assert _cli(b, "audit", "head", "--checkpoint", str(witness))[0] == 0  # the empty chain
    _fill(b, 3)
    assert (
        _cli(b, "audit", "head", "--checkpoint", str(witness), "--now", "2026-06-01T00:00:00Z")[0]
        == 0
    )
    _fill(b, 2, start=3)
    code, out, _ = _cli(b, "audit", "verify", "--checkpoint", str(witness))
    assert code == 0, out
    assert out.splitlines()[1] == (
        "agrees with 2 checkpoint(s), the latest at entry 3 (written 2026-06-01T00:00:00.000000Z)"
    )


def test_a_tampered_checkpoint_file_is_reported(sqlite_backend: Backend, tmp_path: Path) -> None:
    b, witness = sqlite_backend, tmp_path / "cp.jsonl"
    _fill(b, 5)
    assert _cli(b, "audit", "head", "--checkpoint", str(witness))[0] == 0
    _fill(b, 2, start=5)
    assert _cli(b, "audit", "head", "--checkpoint", str(witness))[0] == 0
    lines = witness.read_text().splitlines()
    forged = json.loads(lines[1]) | {
        "seq": 5,
        "hash": b.rows("SELECT hash FROM audit_log WHERE seq = 5")[0][0],
    }
    witness.write_text(lines[0] + "\n" + json.dumps(forged) + "\n")
    code, _, err = _cli(b, "audit", "verify", "--checkpoint", str(witness))
    assert code == 1
    assert err.strip().startswith(f"audit checkpoints FORGED: {witness}, line 2: checkpoint 5 ")
    assert err.strip().endswith("has a bad signature: the checkpoint was altered")

    witness.write_text("not json\n")
    code, _, err = _cli(b, "audit", "verify", "--checkpoint", str(witness))
    assert (code, err.strip()) == (2, f"{witness}, line 1: not a checkpoint (not JSON)")
    code, _, err = _cli(b, "audit", "verify", "--checkpoint", str(tmp_path / "none.jsonl"))
    assert (code, err.strip()) == (2, f"{tmp_path / 'none.jsonl'}: no such checkpoint file")


def test_a_checkpoint_of_another_stores_key_is_refused(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    b, witness = sqlite_backend, tmp_path / "cp.jsonl"
    _fill(b, 2)
    assert _cli(b, "audit", "head", "--checkpoint", str(witness))[0] == 0
    line = json.loads(witness.read_text()) | {"key_id": "0123456789ab"}
    witness.write_text(json.dumps(line) + "\n")
    code, _, err = _cli(b, "audit", "verify", "--checkpoint", str(witness))
    assert code == 2
    assert "checkpoint 2 was signed with another store's key (key id 0123456789ab;" in err


def test_a_second_store_keeps_checkpoints_too(sqlite_backend: Backend, tmp_path: Path) -> None:
    b, url = sqlite_backend, f"sqlite:///{tmp_path / 'witness.db'}"
    _fill(b, 3)
    saved = _head_row(b)
    _fill(b, 3, start=3)
    code, out, _ = _cli(b, "audit", "head", "--checkpoint-url", url)
    assert code == 0, out
    assert out.splitlines()[1].endswith("appended to the checkpoint store")
    assert _cli(b, "audit", "verify", "--checkpoint-url", url)[0] == 0
    _replay_old_head(b, saved)
    code, _, err = _cli(b, "audit", "verify", "--checkpoint-url", url)
    assert code == 1
    assert "REFUSED by checkpoint 6: the chain has 3 entries, fewer than checkpoint 6" in err


def test_a_checkpoint_of_a_tampered_head_is_not_taken(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    b, witness = sqlite_backend, tmp_path / "cp.jsonl"
    _fill(b, 3)
    b.execute("UPDATE audit_head SET seq = 2")
    code, _, err = _cli(b, "audit", "head", "--checkpoint", str(witness))
    assert (code, err.strip()) == (
        2,
        "the chain's head row was altered; run `credence audit verify`",
    )
    assert not witness.exists()


def test_the_server_writes_checkpoints_on_a_schedule(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    b, witness = sqlite_backend, tmp_path / "served.jsonl"
    _fill(b, 2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from credence.cli import main; main()",
            "serve",
            "--policy",
            "city-merit",
            "--port",
            str(port),
            "--audit-checkpoint",
            str(witness),
            "--audit-checkpoint-every",
            "0.2",
        ],
        env=b.env(),
        cwd=os.getcwd(),
    )

    def wait_for(seq: int) -> None:
        deadline = time.monotonic() + 30
        while not (witness.exists() and any(c.seq == seq for c in read_file(witness, b.keys))):
            assert server.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, f"no checkpoint of entry {seq} was written"
            time.sleep(0.1)

    try:
        wait_for(2)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        _fill(b, 3, start=2)
        wait_for(5)
    finally:
        server.terminate()
        server.wait(timeout=20)
    seqs = [c.seq for c in read_file(witness, b.keys)]
    # One checkpoint per head: the schedule writes nothing while the head stays where it is.
    assert seqs == sorted(set(seqs)) and {2, 5} <= set(seqs)
    code, out, _ = _cli(b, "audit", "verify", "--checkpoint", str(witness))
    assert code == 0, out
    assert f"the latest at entry {seqs[-1]}" in out
