"""The audit chain: intact after real work, and every kind of tampering is named exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from credence.audit import chain
from credence.audit.chain import GENESIS, entry_hash, verify
from credence.cli import app
from tests.store.backends import Backend

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _fill(b: Backend, n: int = 6) -> None:
    with b.store.session() as session:
        for i in range(n):
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


def _verdict(b: Backend) -> tuple[str | None, int | None, str]:
    with b.store.session() as session:
        v = verify(session, b.keys)
    return v.problem, v.seq, v.message


def test_an_untouched_chain_verifies(backend: Backend) -> None:
    _fill(backend)
    with backend.store.session() as session:
        v = verify(session, backend.keys)
    assert (v.ok, v.entries) == (True, 6)
    rows = backend.rows("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq")
    assert rows[0][1] == GENESIS
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 6))
    assert backend.rows("SELECT seq, hash FROM audit_head") == [(6, rows[-1][2])]


def test_an_altered_entry_is_named(backend: Backend) -> None:
    _fill(backend)
    backend.execute("UPDATE audit_log SET detail = :d WHERE seq = 3", d='{"i":99}')
    assert _verdict(backend) == ("altered", 3, "entry 3 was altered")


def test_an_altered_entry_with_a_recomputed_plain_hash_is_named(backend: Backend) -> None:
    _fill(backend)
    import hashlib

    forged = hashlib.sha256(b"forged").hexdigest()
    backend.execute("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 4", h=forged)
    assert _verdict(backend) == ("altered", 4, "entry 4 was altered (its hash does not match)")


def test_a_deleted_entry_is_named(backend: Backend) -> None:
    _fill(backend)
    backend.execute("DELETE FROM audit_log WHERE seq = 2")
    assert _verdict(backend) == ("deleted", 2, "entry 2 was deleted (entry 3 follows entry 1)")


def test_entries_deleted_from_the_end_are_named(backend: Backend) -> None:
    _fill(backend)
    backend.execute("DELETE FROM audit_log WHERE seq >= 5")
    assert _verdict(backend) == (
        "deleted",
        5,
        "entries 5..6 were deleted from the end of the chain",
    )


def _forge(b: Backend, seq: int, prev: str) -> None:
    at = "2026-05-01T09:30:00.000000Z"
    # The forger knows the format but not the key: a plausible hash under a guessed key.
    digest = entry_hash(b"guess" * 7, seq, at, "mallory", "test.write", None, "{}", prev)
    b.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject_id, detail, prev_hash, hash) "
        "VALUES (:seq, :at, 'mallory', 'test.write', NULL, '{}', :prev, :hash)",
        seq=seq,
        at=at,
        prev=prev,
        hash=digest,
    )


def test_an_entry_inserted_in_the_middle_is_named(backend: Backend) -> None:
    _fill(backend)
    hashes = dict(backend.rows("SELECT seq, hash FROM audit_log"))
    for seq in range(6, 3, -1):  # make room at 4, from the end so the key stays unique
        backend.execute("UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    _forge(backend, 4, hashes[3])
    assert _verdict(backend) == ("inserted", 4, "entry 4 was inserted into the chain")


def test_an_entry_appended_at_the_end_is_named(backend: Backend) -> None:
    _fill(backend)
    last = backend.rows("SELECT hash FROM audit_log WHERE seq = 6")[0][0]
    _forge(backend, 7, last)
    assert _verdict(backend) == (
        "inserted",
        7,
        "entry 7 was inserted after the chain's last authentic entry",
    )


def test_a_copied_entry_is_named(backend: Backend) -> None:
    _fill(backend)
    backend.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject_id, detail, prev_hash, hash) "
        "SELECT 7, at, actor, action, subject_id, detail, prev_hash, hash FROM audit_log "
        "WHERE seq = 6"
    )
    assert _verdict(backend)[:2] == ("inserted", 7)


def test_a_replaced_head_is_named(backend: Backend) -> None:
    _fill(backend)
    backend.execute("UPDATE audit_head SET seq = 2")
    assert _verdict(backend) == ("head", 2, "the chain's head row was altered")


def test_the_cli_names_the_entry_and_fails(sqlite_backend: Backend, tmp_path: Path) -> None:
    _fill(sqlite_backend)
    runner = CliRunner()
    env = sqlite_backend.env()
    ok = runner.invoke(app, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    head = sqlite_backend.rows("SELECT hash FROM audit_head")[0][0]
    assert ok.output.strip() == f"audit chain intact: 6 entries, head {head}"
    sqlite_backend.execute("DELETE FROM audit_log WHERE seq = 5")
    broken = runner.invoke(app, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "audit chain BROKEN at entry 5: deleted: entry 5 was deleted" in broken.output
