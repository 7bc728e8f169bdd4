"""Evidence belongs to the subject and objection it was uploaded with: tried as an attacker would.

Two subjects and a reviewer over a real HTTP client (the API and the web pages served by
uvicorn): Bob uploads a file with his objection; Alice, who learnt its path, tries to attach it
to her own objections; the reviewer's download serves only files uploaded with the objection
under review; and Bob's "who looked" shows the reviewer's read of his file.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from typer.testing import CliRunner

from credence.cli import app
from credence.runs.objections import upload_ref
from credence.server import create_server
from credence.store.db import MIGRATIONS, make_engine
from credence.store.schema import EvidenceFile, Objection
from tests.web.world import WRONG, World

RECEIPT = b"%PDF-1.4 Bob's receipt: fine paid on time\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def base(world: World) -> Iterator[str]:
    """The API with the web pages, served by uvicorn on a free local port."""
    app = create_server(world.store, world.policy)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def _csrf(html: str) -> str | None:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    return found.group(1) if found else None


def browser(base: str, world: World, name: str) -> httpx.Client:
    """A signed-in web session of ``name``."""
    c = httpx.Client(base_url=base, timeout=30)
    form = {"api_key": world.keys[name]}
    token = _csrf(c.get("/sign-in").text)
    if token:
        form["csrf"] = token
    r = c.post("/sign-in", data=form)
    assert r.status_code == 303, r.text
    return c


def api(base: str, world: World, name: str) -> httpx.Client:
    """An API client with ``name``'s key."""
    return httpx.Client(
        base_url=base, timeout=30, headers={"Authorization": f"Bearer {world.keys[name]}"}
    )


def bob_uploads(base: str, world: World) -> tuple[int, str]:
    """Bob files an objection with a file through the portal; its id and the file's path."""
    bob = browser(base, world, "bob")
    token = _csrf(bob.get("/portal").text)
    assert token
    r = bob.post(
        "/portal/objections",
        data={
            "record_id": "city_hall:AW-BOB-1",
            "statement": "The award date is wrong.",
            "csrf": token,
        },
        files={"evidence": ("receipt.pdf", RECEIPT, "application/pdf")},
    )
    assert r.status_code == 303, r.text
    mine = api(base, world, "bob").get("/me/objections").json()["items"]
    o = next(x for x in mine if x["record_id"] == "city_hall:AW-BOB-1")
    [ref] = o["evidence"]
    assert ref.startswith(f"evidence/{world.ids['bob'][:16]}/")
    return o["id"], ref


def test_an_upload_is_recorded_with_its_subject_and_objection(base: str, world: World) -> None:
    oid, ref = bob_uploads(base, world)
    with world.store.session() as session:
        row = session.scalar(select(EvidenceFile).where(EvidenceFile.ref == ref))
    assert row is not None
    assert (row.subject_id, row.objection_id, row.filename) == (
        world.ids["bob"],
        oid,
        "receipt.pdf",
    )
    assert row.size == len(RECEIPT)


def test_attaching_another_subjects_file_is_404_like_a_missing_one(base: str, world: World) -> None:
    _, ref = bob_uploads(base, world)
    alice = api(base, world, "alice")
    missing = f"evidence/{world.ids['bob'][:16]}/20260101T000000-00000000-nothing.pdf"

    def file_with(evidence: str) -> httpx.Response:
        return alice.post(
            "/me/objections",
            json={"record_id": WRONG, "statement": "Not my judgment.", "evidence": [evidence]},
        )

    stolen, absent = file_with(ref), file_with(missing)
    dotted = file_with(f"./evidence/../{ref}")
    assert (stolen.status_code, absent.status_code, dotted.status_code) == (404, 404, 404)
    assert stolen.json() == absent.json() == dotted.json()
    assert stolen.json()["detail"] == "no such uploaded evidence file of yours"
    assert "receipt" not in stolen.text
    # Nothing was filed by the refused attempts.
    assert [o for o in alice.get("/me/objections").json()["items"] if o["record_id"] == WRONG] == []

    filed = alice.post("/me/objections", json={"record_id": WRONG, "statement": "Not my judgment."})
    assert filed.status_code == 201, filed.text
    oid = filed.json()["id"]
    stolen = alice.post(f"/me/objections/{oid}/evidence", json={"evidence": [ref]})
    absent = alice.post(f"/me/objections/{oid}/evidence", json={"evidence": [missing]})
    assert (stolen.status_code, absent.status_code) == (404, 404)
    assert stolen.json() == absent.json()
    # A reference that names no uploaded file is still a reference, as before.
    added = alice.post(f"/me/objections/{oid}/evidence", json={"evidence": ["doc://court/J-2"]})
    assert added.status_code == 200, added.text
    assert added.json()["evidence"] == ["doc://court/J-2"]


def test_bob_cannot_move_his_own_file_to_another_objection(base: str, world: World) -> None:
    _, ref = bob_uploads(base, world)
    bob = api(base, world, "bob")
    r = bob.post(
        "/me/objections",
        json={"record_id": "traffic_police:TR-BOB-1", "statement": "Again.", "evidence": [ref]},
    )
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == "no such uploaded evidence file of yours"


def _accesses(client: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url = "/me/accesses?limit=500"
    while True:
        page = client.get(url).json()
        out += page["items"]
        if not page["next_cursor"]:
            return out
        url = f"/me/accesses?limit=500&cursor={page['next_cursor']}"


def test_the_reviewer_is_served_only_the_objections_own_files(base: str, world: World) -> None:
    bob_oid, ref = bob_uploads(base, world)
    alice = api(base, world, "alice")
    filed = alice.post("/me/objections", json={"record_id": WRONG, "statement": "Not my judgment."})
    assert filed.status_code == 201, filed.text
    alice_oid = filed.json()["id"]
    # As if Bob's path had been attached to Alice's objection before the fix.
    with world.store.session() as session:
        o = session.get(Objection, alice_oid)
        assert o is not None
        o.body = json.dumps({**json.loads(o.body), "evidence": [ref]})
        session.commit()

    rita = browser(base, world, "rita")
    page = rita.get(f"/queue/objections/{alice_oid}")
    assert page.status_code == 200
    assert f"/queue/objections/{alice_oid}/evidence/0" not in page.text
    refused = rita.get(f"/queue/objections/{alice_oid}/evidence/0")
    assert refused.status_code == 404
    assert RECEIPT not in refused.content

    served = rita.get(f"/queue/objections/{bob_oid}/evidence/0")
    assert served.status_code == 200
    assert served.content == RECEIPT
    assert served.headers["content-disposition"].startswith("attachment")

    looked = [
        (a["actor"], a["role"], a["purpose"])
        for a in _accesses(api(base, world, "bob"))
        if a["what"] == "evidence"
    ]
    assert looked == [("rita", "reviewer", f"review of objection {bob_oid}")]
    assert [a for a in _accesses(alice) if a["what"] == "evidence"] == []


def test_evidence_added_in_the_portal_is_the_objections_own(base: str, world: World) -> None:
    oid, _ = bob_uploads(base, world)
    bob = browser(base, world, "bob")
    token = _csrf(bob.get("/portal").text)
    assert token
    more = b"second page of the receipt"
    r = bob.post(
        f"/portal/objections/{oid}/evidence",
        data={"csrf": token},
        files={"evidence": ("page2.pdf", more, "application/pdf")},
    )
    assert r.status_code == 303, r.text
    rita = browser(base, world, "rita")
    assert rita.get(f"/queue/objections/{oid}/evidence/1").content == more
    with world.store.session() as session:
        owners = session.execute(
            select(EvidenceFile.subject_id, EvidenceFile.objection_id).order_by(EvidenceFile.id)
        ).all()
    assert [tuple(o) for o in owners] == [(world.ids["bob"], oid)] * 2


def test_the_cli_refuses_another_subjects_file(base: str, world: World) -> None:
    _, ref = bob_uploads(base, world)
    alice = api(base, world, "alice")
    oid = alice.post(
        "/me/objections", json={"record_id": WRONG, "statement": "Not my judgment."}
    ).json()["id"]
    env = {
        "CREDENCE_DATA": str(world.store.folder),
        "CREDENCE_DATABASE_URL": "",
        "CREDENCE_SECRET_KEY": "",
        "COLUMNS": "300",
    }
    r = CliRunner().invoke(
        app,
        ["objection", "evidence", str(oid), "--policy", "city-merit", "--evidence", ref],
        env=env,
    )
    assert r.exit_code == 2, r.output
    assert "no such uploaded evidence file of yours" in r.output
    with world.store.session() as session:
        o = session.get(Objection, oid)
        assert o is not None
        assert json.loads(o.body)["evidence"] == []


@given(st.text(alphabet="evidenc./\\ab-", max_size=40))
def test_an_upload_reference_never_leaves_the_evidence_folder(ref: str) -> None:
    path = upload_ref(ref)
    if path is not None:
        parts = path.split("/")
        assert parts[0] == "evidence" and len(parts) > 1
        assert ".." not in parts and "" not in parts and "\\" not in path
        assert upload_ref(path) == path


def test_the_migration_gives_earlier_uploads_to_their_subject_only(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def upgrade(to: str) -> None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, to)

    upgrade("0003")
    at = datetime(2026, 1, 5, tzinfo=UTC)
    a, b = "a" * 64, "b" * 64
    own, bobs = f"evidence/{a[:16]}/1-receipt.pdf", f"evidence/{b[:16]}/2-letter.pdf"
    with engine.begin() as c:
        for sid in (a, b):
            c.execute(
                text(
                    "INSERT INTO subjects (subject_id, kind, created_at) VALUES (:s, 'person', :t)"
                ),
                {"s": sid, "t": "2026-01-01T00:00:00.000000Z"},
            )
            c.execute(
                text(
                    "INSERT INTO records (record_id, source, source_record_id, subject_id, kind,"
                    " occurred_on, effective_on, recorded_at, ingested_at) VALUES (:r, 'court',"
                    " :r, :s, 'k', '2026-01-01', '2026-01-01', :t, :t)"
                ),
                {"r": f"court:{sid[:3]}", "s": sid, "t": "2026-01-01T00:00:00.000000Z"},
            )
        for n, (sid, refs) in enumerate(((b, [bobs]), (a, [own, bobs, "doc://x"])), start=1):
            c.execute(
                text(
                    "INSERT INTO objections (id, subject_id, record_id, status, filed_at,"
                    " review_deadline, body, created_at) VALUES (:i, :s, :r, 'under-review', :t,"
                    " '2026-02-01', :b, :t)"
                ),
                {
                    "i": n,
                    "s": sid,
                    "r": f"court:{sid[:3]}",
                    "t": at.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                    "b": json.dumps({"statement": "x", "evidence": refs, "extended": False}),
                },
            )
    upgrade("head")
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT ref, subject_id, objection_id FROM evidence_files ORDER BY ref")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(own, a, 2), (bobs, b, 1)]
