"""A run that stops early is closed as it ended: failed, interrupted, or found abandoned."""

from __future__ import annotations

from pathlib import Path

import pytest

from credence.ingest.run import IngestError, ingest_file
from credence.ingest.runs import RunLock, mark_abandoned
from tests.ingest.helpers import NOW, records, write_csv
from tests.store.backends import Backend, policy_set

ROWS = [
    ("police", f"R{i}", f"NID-{i}", "fine", "2025-06-01", "", "", "", "", "", "") for i in range(50)
]


def _stop(exc: BaseException) -> object:
    def progress(_: int) -> None:
        raise exc

    return progress


def test_a_run_that_fails_is_marked_failed_and_says_how_to_resume(
    backend: Backend, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "r.csv", ROWS)
    with pytest.raises(IngestError) as caught:
        ingest_file(
            backend.store,
            path,
            source="police",
            policy=policy_set(),
            actor="t",
            now=NOW,
            batch_size=10,
            on_progress=_stop(RuntimeError("disk full")),  # type: ignore[arg-type]
        )
    assert str(caught.value) == (
        f"{path}: ingest run 1 failed: disk full; run `credence ingest {path}` again with the "
        "same --source and --policy to resume: rows already stored are skipped and none is "
        "stored twice"
    )
    assert backend.rows("SELECT status, rows FROM ingest_runs") == [("failed", 10)]
    assert backend.rows("SELECT count(*) FROM audit_log WHERE action = 'ingest.failed'") == [(1,)]
    assert not list((backend.folder / "ingest-runs").iterdir())
    done = ingest_file(
        backend.store, path, source="police", policy=policy_set(), actor="t", now=NOW
    )
    assert (done.accepted, done.duplicates, done.interrupted) == (40, 10, [])
    assert len(records(backend)) == 50


def test_a_run_stopped_by_ctrl_c_is_marked_interrupted(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "r.csv", ROWS)
    with pytest.raises(KeyboardInterrupt):
        ingest_file(
            sqlite_backend.store,
            path,
            source="police",
            policy=policy_set(),
            actor="t",
            now=NOW,
            batch_size=10,
            on_progress=_stop(KeyboardInterrupt()),  # type: ignore[arg-type]
        )
    assert sqlite_backend.rows("SELECT status FROM ingest_runs") == [("interrupted",)]


def test_a_running_run_whose_process_lives_is_left_alone(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    store = sqlite_backend.store
    sqlite_backend.execute(
        "INSERT INTO ingest_runs (id, file, file_sha256, source, policy_id, actor, started_at, "
        "status, rows, accepted, duplicates, rejected) VALUES "
        "(7, 'f.csv', '00', 'police', 'p', 't', '2026-06-15 12:00:00', 'running', 0, 0, 0, 0), "
        "(8, 'g.csv', '00', 'police', 'p', 't', '2026-06-15 12:00:00', 'running', 0, 0, 0, 0)"
    )
    live = RunLock(store, 7)  # held, as by a process still ingesting
    # Run 8's lock file is not in this data folder (another machine's run): not ours to judge.
    try:
        assert mark_abandoned(store, "t", NOW) == []
    finally:
        live.release()
    (sqlite_backend.folder / "ingest-runs" / "7.lock").write_text("")  # left by a killed process
    assert mark_abandoned(store, "t", NOW) == [7]
    assert sqlite_backend.rows("SELECT id, status FROM ingest_runs ORDER BY id") == [
        (7, "interrupted"),
        (8, "running"),
    ]
