"""A small world for the API tests: a scheme, records, a due-process run and one principal
per role, on a real store, served by the real application through a real HTTP client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from credence.access.auth import add_principal
from credence.api.app import create_app
from credence.ingest.run import ingest_file
from credence.policy.load import PolicySet, load_policy
from credence.runs.outbox import FileSender
from credence.runs.run import run
from credence.store.schema import MeasureRow
from tests.store.backends import Backend

SCHEME = Path(__file__).parent.parent / "process" / "data" / "scheme.yaml"
NOW = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
HEADER = "source,source_record_id,subject_id,kind,occurred_on\n"
ALICE_ROWS = [
    ("A1", "NID-1", "major", "2026-01-10"),
    ("A2", "NID-1", "minor", "2026-02-10"),
    ("A3", "NID-1", "minor", "2026-03-10"),
    ("A4", "NID-1", "minor", "2026-04-10"),
    ("A5", "NID-1", "major", "2026-05-10"),
]
BOB_ROWS = [("C1", "NID-2", "debt", "2026-03-01")]
# Argon2 at its cheapest: the tests check keys, not the cost of guessing them.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
ROLES = ("agency", "reviewer", "auditor", "subject", "relying_party")


def policy() -> PolicySet:
    """The due-process scheme with a public list, a public measure and a reviewed ban."""
    base = load_policy(SCHEME)
    doc = base.versions[0].model_dump(mode="json", exclude_none=True)
    doc["lists"][0]["public"] = True
    doc["lists"][0]["title"] = "Debtors"
    doc["measures"][1]["public"] = True
    doc["measures"][0]["human_review"] = True
    return PolicySet.of(type(base.versions[0]).model_validate(doc))


@dataclass
class World:
    """The store, the app, a client, and the keys and ids the tests use."""

    backend: Backend
    app: FastAPI
    client: TestClient
    keys: dict[str, str] = field(default_factory=dict)
    alice: str = ""
    bob: str = ""
    measure_id: int = 0

    def headers(self, name: str) -> dict[str, str]:
        """The Authorization header of one principal."""
        return {"Authorization": f"Bearer {self.keys[name]}"}

    def call(self, name: str | None, method: str, path: str, **kw: Any) -> Any:
        """One request as the named principal (None: no key at all)."""
        headers = {**(self.headers(name) if name else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)


# The principal who plays each role in the matrix.
AS_ROLE = {
    "agency": "agency-1",
    "reviewer": "rev",
    "auditor": "aud",
    "subject": "alice",
    "relying_party": "bank",
}


def build(backend: Backend, tmp: Path, *, public_grade: bool = False) -> World:
    """Ingest, run due process to 2026-06-01, create principals, start the app."""
    pol = policy()
    for source, rows in (("agency", ALICE_ROWS), ("court", BOB_ROWS)):
        path = tmp / f"{source}.csv"
        path.write_text(HEADER + "".join(f"{source},{','.join(r)}\n" for r in rows))
        ingest_file(backend.store, path, source=source, policy=pol, actor="loader", now=NOW)
    run(
        backend.store,
        pol,
        date(2026, 6, 1),
        actor="process",
        sender=FileSender(backend.folder / "outbox"),
    )
    keys = backend.store.keys
    alice, bob = keys.subject_id("NID-1"), keys.subject_id("NID-2")
    issued: dict[str, str] = {}
    with backend.store.session() as s:
        for name, role, scope in (
            ("agency-1", "agency", "agency"),
            ("court-1", "agency", "court"),
            ("alice", "subject", alice),
            ("bob", "subject", bob),
            ("rev", "reviewer", None),
            ("aud", "auditor", None),
            ("bank", "relying_party", None),
        ):
            _, issued[name] = add_principal(
                s, keys, name, role, scope, actor="admin", now=NOW, hasher=CHEAP
            )
        measure = s.scalar(select(MeasureRow.id).where(MeasureRow.status == "awaiting_review"))
        s.commit()
    app = create_app(backend.store, pol, public_grade=public_grade, clock=lambda: NOW)
    client = TestClient(app, raise_server_exceptions=False)
    return World(backend, app, client, issued, alice, bob, measure or 0)
