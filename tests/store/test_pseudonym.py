"""Pseudonymisation and the identity vault: no national id in clear, details encrypted."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from credence.audit.access import Access
from credence.ingest.run import ingest_file
from credence.store.keys import Keys
from credence.store.vault import VaultError, erase_identity, get_identity, put_identity
from tests.ingest.helpers import NOW, write_csv
from tests.store.backends import SECRET, Backend, policy_set

NATIONAL = "AZE-1985-0417-XQ"
OFFICER = Access("officer", "reviewer", "identity check")


def test_subject_id_is_the_hmac_of_the_national_id() -> None:
    keys = Keys.from_master(bytes.fromhex(SECRET))
    expected = hmac.new(keys.subject, NATIONAL.encode(), hashlib.sha256).hexdigest()
    assert keys.subject_id(NATIONAL) == expected
    assert Keys.from_master(b"\x01" * 32).subject_id(NATIONAL) != expected
    assert len({keys.subject, keys.vault, keys.audit}) == 3


def test_the_national_id_never_reaches_the_database_file(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    rows = [
        ("police", "N1", NATIONAL, "fine", "2025-03-01", "", "", "", "", "", ""),
        ("police", "N2", NATIONAL, "parking", "2025-03-01", "", "", "", "", "", ""),
        ("bank", "N3", NATIONAL, "fine", "2025-03-01", "", "", "", "", "", ""),
    ]
    path = write_csv(tmp_path / "n.csv", rows)
    ingest_file(
        sqlite_backend.store, path, source="police", policy=policy_set(), actor="a", now=NOW
    )
    with sqlite_backend.store.session() as session:
        put_identity(
            session,
            sqlite_backend.keys,
            NATIONAL,
            {"name": "Leyla Mammadova", "email": "leyla@example.az"},
            actor="registrar",
        )
        session.commit()
    sqlite_backend.store.close()
    assert sqlite_backend.rows("SELECT count(DISTINCT line) FROM quarantine") == [(2,)]
    blob = b"".join(p.read_bytes() for p in sqlite_backend.folder.glob("credence.db*"))
    for secret in (NATIONAL, "Leyla", "leyla@example.az"):
        assert secret.encode() not in blob
        assert secret.encode("utf-16-le") not in blob
    assert sqlite_backend.keys.subject_id(NATIONAL).encode() in blob


def test_the_vault_decrypts_only_for_its_subject_and_key(backend: Backend) -> None:
    with backend.store.session() as session:
        a = put_identity(session, backend.keys, "NID-A", {"name": "A"}, actor="r")
        b = put_identity(session, backend.keys, "NID-B", {"name": "B"}, actor="r")
        session.commit()
    with backend.store.session() as session:
        assert get_identity(session, backend.keys, a, access=OFFICER) == {
            "name": "A",
            "national_id": "NID-A",
        }
        session.commit()
    backend.execute(
        "UPDATE identities SET nonce = (SELECT nonce FROM identities WHERE subject_id = :b), "
        "ciphertext = (SELECT ciphertext FROM identities WHERE subject_id = :b) "
        "WHERE subject_id = :a",
        a=a,
        b=b,
    )
    with backend.store.session() as session, pytest.raises(VaultError, match="does not decrypt"):
        get_identity(session, backend.keys, a, access=OFFICER)
    other = Keys.from_master(b"\x02" * 32)
    with backend.store.session() as session, pytest.raises(VaultError, match="does not decrypt"):
        get_identity(session, other, b, access=OFFICER)
    with backend.store.session() as session:
        assert erase_identity(session, backend.keys, b, actor="dpo", reason="erasure request")
        session.commit()
    with backend.store.session() as session, pytest.raises(VaultError, match="no identity"):
        get_identity(session, backend.keys, b, access=OFFICER)
    actions = backend.rows("SELECT action, detail FROM audit_log ORDER BY seq")
    assert actions == [
        ("identity.write", '{"fields":["name"]}'),
        ("identity.write", '{"fields":["name"]}'),
        ("read.identity", '{"purpose":"identity check","role":"reviewer"}'),
        ("identity.erase", '{"erased":true,"reason":"erasure request"}'),
    ]
