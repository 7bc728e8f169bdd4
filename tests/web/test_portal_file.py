"""The portal's button for the subject's whole file and its link to each notice's letter."""

from __future__ import annotations

import io
import re
from datetime import date

import pypdf
from fastapi.testclient import TestClient

from credence.letters.letter import date_in_words
from tests.web.conftest import sign_in
from tests.web.world import World


def _text(body: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)


def test_the_portal_offers_the_file_and_each_notice_s_letter(
    client: TestClient, world: World
) -> None:
    sign_in(client, world, "alice")
    page = client.get("/portal").text
    assert 'href="/portal/file.pdf"' in page and 'href="/portal/file.json"' in page
    letters = re.findall(r'href="(/portal/notices/\d+/letter)"', page)
    notices = len(re.findall(r'data-testid="notice"', page))
    assert notices >= 1 and len(letters) == notices
    doc = client.get("/portal/file.json").json()
    assert doc["subject_id"] == world.ids["alice"]
    assert len(doc["notices"]) >= notices
    first = next(n for n in doc["notices"] if f"/portal/notices/{n['id']}/letter" == letters[0])
    got = client.get(letters[0])
    assert (got.status_code, got.headers["content-type"]) == (200, "application/pdf")
    lines = _text(got.content).splitlines()
    assert lines[1] == f"Reference number: {first['ref']}"
    issued = date_in_words(date.fromisoformat(first["issued_on"]))
    assert f"Issued on {issued}." in lines
    pdf = client.get("/portal/file.pdf")
    assert _text(pdf.content).splitlines()[:2] == ["Your file", f"Subject: {world.ids['alice']}"]
    assert client.get("/portal/file.pdf?paper=A5").status_code == 400
    # Another subject's notice is not found.
    sign_in(client, world, "bob")
    assert client.get(letters[0]).status_code == 404
