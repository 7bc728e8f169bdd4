"""A bulk load into an empty store sets the subject index aside and always gets it back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from credence.ingest.run import ingest_file
from credence.store.db import bulk_load_pending, open_store
from tests.ingest.helpers import NOW, records, write_csv
from tests.store.backends import Backend, policy_set

ROWS = [
    ("police", f"B{i}", f"NID-{i % 7}", "fine", "2025-03-01", "", "", "", "", "", "")
    for i in range(40)
]


def _ingest(b: Backend, path: Path, **kw: object) -> object:
    return ingest_file(
        b.store,
        path,
        source="police",
        policy=policy_set(),
        actor="tester",
        now=NOW,
        **kw,  # type: ignore[arg-type]
    )


def _pending(b: Backend) -> bool:
    with b.store.engine.connect() as conn:
        return bulk_load_pending(conn)


def _audit_starts(b: Backend) -> list[str]:
    return [
        r[0]
        for r in b.rows("SELECT detail FROM audit_log WHERE action = 'ingest.start' ORDER BY seq")
    ]


def test_a_first_load_is_a_bulk_load_and_ends_with_its_index(
    backend: Backend, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", ROWS)
    _ingest(backend, path, batch_size=10)
    assert not _pending(backend)
    again = write_csv(tmp_path / "b.csv", [(*r[:1], "X" + r[1], *r[2:]) for r in ROWS])
    _ingest(backend, again, batch_size=10)
    starts = _audit_starts(backend)
    assert '"bulk_load":true' in starts[0] and "bulk_load" not in starts[1]
    assert len(records(backend)) == 80
    assert not _pending(backend)


def test_bulk_and_row_by_row_loads_store_the_same(tmp_path: Path, backend: Backend) -> None:
    from tests.store.backends import SECRET, open_backend

    path = write_csv(tmp_path / "a.csv", ROWS)
    _ingest(backend, path, batch_size=10)
    other_gen = open_backend(backend.name, tmp_path / "other", SECRET)
    other = next(other_gen)
    try:
        _ingest(other, path, batch_size=10, bulk_load=False)
        assert records(other) == records(backend)
        assert "bulk_load" not in _audit_starts(other)[0]
    finally:
        other_gen.close()


def test_an_interrupted_bulk_load_is_repaired_when_the_store_is_opened(
    backend: Backend, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", ROWS)
    _ingest(backend, path, batch_size=10)
    # What a SIGKILLed bulk load leaves behind: records, and no subject index (nor, on
    # PostgreSQL, the foreign key).
    backend.execute("DROP INDEX ix_records_subject_id")
    if backend.name == "postgresql":
        backend.execute("ALTER TABLE records DROP CONSTRAINT records_subject_id_fkey")
    assert _pending(backend)
    reopened = open_store(backend.folder, backend.url)
    try:
        with reopened.engine.connect() as conn:
            assert not bulk_load_pending(conn)
    finally:
        reopened.close()


def test_the_next_ingest_repairs_an_interrupted_bulk_load(backend: Backend, tmp_path: Path) -> None:
    _ingest(backend, write_csv(tmp_path / "a.csv", ROWS[:20]), batch_size=10)
    backend.execute("DROP INDEX ix_records_subject_id")
    _ingest(backend, write_csv(tmp_path / "b.csv", ROWS[20:]), batch_size=10)
    assert not _pending(backend)
    assert "bulk_load" not in _audit_starts(backend)[1]


def test_foreign_keys_are_enforced_again_after_a_bulk_load(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    _ingest(sqlite_backend, write_csv(tmp_path / "a.csv", ROWS), batch_size=10)
    # Every pooled connection checks foreign keys again.
    for _ in range(3):
        with (
            pytest.raises(IntegrityError),
            sqlite_backend.store.engine.begin() as conn,
        ):
            conn.execute(
                text(
                    "INSERT INTO records (record_id, source, source_record_id, subject_id, "
                    "kind, occurred_on, effective_on, recorded_at, ingested_at) VALUES "
                    "('x:1', 'x', '1', 'nobody', 'fine', '2025-01-01', '2025-01-01', "
                    "'2025-01-01T00:00:00.000000Z', '2025-01-01T00:00:00.000000Z')"
                )
            )
