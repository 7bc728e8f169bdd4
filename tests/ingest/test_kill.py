"""A SIGKILLed ingest loses at most its open batch; running it again ends as one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from credence.audit.chain import verify
from tests.ingest.helpers import (
    quarantine_full,
    records,
    statuses,
    subjects,
    write_csv,
)
from tests.store.backends import POLICY_FILE, SECRET, Backend, open_backend

ROWS = 6_000
BATCH = 300


def _rows() -> list[tuple[str, ...]]:
    rows = []
    for i in range(ROWS):
        kind = "parking" if i % 997 == 0 else "fine"
        status = ("revoked", "2026-01-02T00:00:00Z") if i % 101 == 0 else ("", "")
        rows.append(
            ("police", f"K{i}", f"NID-{i % 3000}", kind, "2025-06-01", "", "", "", "", *status)
        )
    return rows


def _command(path: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from credence.cli import main; main()",
        "ingest",
        str(path),
        "--source",
        "police",
        "--policy",
        str(POLICY_FILE),
        "--batch-size",
        str(BATCH),
        "--now",
        "2026-06-15T12:00:00Z",
        "--actor",
        "loader",
    ]


def _count(b: Backend) -> int:
    try:
        return int(b.rows("SELECT count(*) FROM records")[0][0])
    except Exception:  # the table may be locked or mid-checkpoint for a moment
        return 0


def test_killed_ingest_resumes_to_the_state_of_a_clean_run(
    backend: Backend, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "big.csv", _rows())
    killed = subprocess.Popen(
        [*_command(path), "--throttle", "0.05"],
        env=backend.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _count(backend) < 4 * BATCH and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    stored = _count(backend)
    assert 4 * BATCH <= stored < ROWS - 2 * BATCH
    assert backend.rows("SELECT status FROM ingest_runs") == [("running",)]

    rerun = subprocess.run(_command(path), env=backend.env(), capture_output=True, text=True)
    assert rerun.returncode == 1, rerun.stderr  # 1: some rows were quarantined
    # The killed run could not close itself: the next start found its process gone.
    assert "run 1 was left running by a process that is gone: marked interrupted" in rerun.stderr
    assert backend.rows("SELECT id, status FROM ingest_runs ORDER BY id") == [
        (1, "interrupted"),
        (2, "done"),
    ]
    assert backend.rows("SELECT count(*) FROM audit_log WHERE action = 'ingest.interrupted'") == [
        (1,)
    ]

    clean_gen = open_backend(backend.name, tmp_path / "clean", SECRET)
    clean = next(clean_gen)
    try:
        done = subprocess.run(_command(path), env=clean.env(), capture_output=True, text=True)
        assert done.returncode == 1, done.stderr
        assert records(clean) != []
        assert len(records(clean)) == ROWS - len(range(0, ROWS, 997))
        assert records(backend) == records(clean)
        assert statuses(backend) == statuses(clean)
        assert quarantine_full(backend) == quarantine_full(clean)
        assert subjects(backend) == subjects(clean)
        with backend.store.session() as session:
            assert verify(session, backend.keys).ok
    finally:
        clean_gen.close()


def test_a_terminated_ingest_is_marked_interrupted_and_says_how_to_resume(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    backend = sqlite_backend
    path = write_csv(tmp_path / "big.csv", _rows())
    stopped = subprocess.Popen(
        [*_command(path), "--throttle", "0.05"],
        env=backend.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while _count(backend) < 2 * BATCH and time.monotonic() < deadline:
        time.sleep(0.02)
    stopped.send_signal(signal.SIGTERM)
    _, stderr = stopped.communicate(timeout=60)
    assert stopped.returncode == 130, stderr
    assert "ingest interrupted: the run is marked interrupted" in stderr
    assert f"run `credence ingest {path}` again with the same --source and --policy" in stderr
    assert backend.rows("SELECT status FROM ingest_runs") == [("interrupted",)]
    assert not list((backend.folder / "ingest-runs").iterdir())  # its lock file is gone
    resumed = subprocess.run(_command(path), env=backend.env(), capture_output=True, text=True)
    assert resumed.returncode == 1, resumed.stderr
    assert "left running" not in resumed.stderr
    assert len(records(backend)) == ROWS - len(range(0, ROWS, 997))
