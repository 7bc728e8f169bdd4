"""A process run killed (SIGKILL) mid-run and run again ends as one uninterrupted run would,
with every notice delivered exactly once by the file sender."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from credence.runs.outbox import FileSender
from credence.runs.run import run
from tests.process.test_agenda import _ingest, _state
from tests.process.test_lifecycle import SCHEME, scheme
from tests.store.backends import SECRET, Backend, open_backend

PEOPLE = 120
DAY = date(2026, 3, 1)


def _fill(b: Backend) -> None:
    policy = scheme()
    rows = [(f"k{n}-{i}", str(n), "major") for n in range(PEOPLE) for i in range(2)]
    _ingest(b, policy, date(2026, 2, 10), rows)


def _files(folder: Path) -> dict[str, str]:
    return {p.name: json.loads(p.read_text())["ref"] for p in sorted(folder.glob("*.json"))}


def test_a_run_killed_mid_run_and_run_again_equals_one_run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        gens = [open_backend("sqlite", Path(tmp) / name, SECRET) for name in ("killed", "once")]
        killed, once = next(gens[0]), next(gens[1])
        try:
            for b in (killed, once):
                _fill(b)
            run(once.store, scheme(), DAY, actor="process", sender=FileSender(once.folder / "o"))
            outbox = killed.folder / "o"
            command = [str(Path(sys.executable).parent / "credence"), "process", "run", "--policy"]
            command += [str(SCHEME), "--as-of", DAY.isoformat(), "--outbox", str(outbox)]
            command += ["--chunk", "10", "--actor", "process"]
            env = killed.env() | {"PYTHONPATH": os.pathsep.join(sys.path)}
            proc = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            # Kill it once it has delivered some notices but not all (a chunk is 10 subjects).
            deadline = time.monotonic() + 120
            while len(list(outbox.glob("*.json"))) < 25 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            partial = len(list(outbox.glob("*.json")))
            delivered = _files(once.folder / "o")
            assert 25 <= partial < len(delivered)
            again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            assert again.returncode == 0, again.stdout + again.stderr
            assert _state(killed) == _state(once)
            # Every notice delivered once: one file per message, the same files as one run's.
            assert _files(outbox) == delivered
            assert len(set(delivered.values())) == len(delivered) >= PEOPLE
        finally:
            for g in gens:
                g.close()
