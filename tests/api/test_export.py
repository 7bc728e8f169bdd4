"""``GET /me/export`` (the subject's file, GDPR Art. 15) and ``GET /me/notices/{id}/letter``.

The world (tests/api/world.py): Alice has two majors (3 points, Act s.2) and three minors
(1 point, Act s.1) from the agency; due process to 2026-06-01 served her three stage notices
(reminder, warning, ban) two days after issue, and the ban, which needs a reviewer, awaits
review. The app's clock is 2026-06-02 12:00 UTC.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pypdf

from credence.access.auth import add_principal
from credence.subject_file.model import SubjectFile
from tests.api.world import CHEAP, World

SID_LINE = "To: subject {sid}"


def pdf_text(body: bytes) -> str:
    """The text of a PDF, page after page."""
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)


def test_the_file_holds_every_record_notice_measure_and_read(world: World) -> None:
    doc = world.call("alice", "GET", "/me/export").json()
    SubjectFile.model_validate(doc)
    # The JSON Schema (the pydantic model's) names every key of the document.
    assert set(SubjectFile.model_json_schema()["properties"]) == set(doc)
    assert (doc["subject_id"], doc["policy_id"], doc["as_of"]) == (
        world.alice,
        "scheme",
        "2026-06-02",
    )
    assert [(r["record_id"], r["source"], r["kind"], r["occurred_on"], r["legal_basis"], r["status"])
            for r in doc["records"]] == [
        ("agency:A1", "agency", "major", "2026-01-10", "Act s.2", "active"),
        ("agency:A2", "agency", "minor", "2026-02-10", "Act s.1", "active"),
        ("agency:A3", "agency", "minor", "2026-03-10", "Act s.1", "active"),
        ("agency:A4", "agency", "minor", "2026-04-10", "Act s.1", "active"),
        ("agency:A5", "agency", "major", "2026-05-10", "Act s.2", "active"),
    ]  # fmt: skip
    assert [
        (n["ref"], n["status"], n["issued_on"], n["served_on"], n["deadline"],
         n["delivery"]["status"], n["delivery"]["deliver_on"], n["delivery"]["attempts"])
        for n in doc["notices"]
    ] == [
        ("reminder@2026-02-10", "served", "2026-02-10", "2026-02-12", None, "sent", "2026-02-12", 1),
        ("warning@2026-04-10", "served", "2026-04-10", "2026-04-12", None, "sent", "2026-04-12", 1),
        ("ban@2026-05-10", "served", "2026-05-10", "2026-05-12", "2026-05-26", "sent", "2026-05-12", 1),
    ]  # fmt: skip
    assert [(m["measure_id"], m["status"]) for m in doc["measures"]] == [("ban", "awaiting_review")]
    assert (doc["listings"], doc["objections"], doc["request_ref"]) == ([], [], None)
    assert doc["policy_versions"] == [
        {"version": "1", "effective_from": "2026-01-01", "applied": True}
    ]
    # Before this export, only the due-process run read her data.
    assert [(a["actor"], a["role"], a["what"]) for a in doc["accesses"]] == [
        ("process", "operator", "records")
    ]
    # The assessment, reasons and way back are those of GET /me/assessment, not a second copy.
    a = world.call("alice", "GET", "/me/assessment").json()
    got = doc["assessment"]
    assert (got["score"], got["grade"], got["policy_version"]) == (9, "high", "1")
    assert (got["reasons"], got["way_back"]) == (a["reasons"], a["way_back"])
    # The export is a logged read of its own.
    reads = world.call("alice", "GET", "/me/accesses").json()["items"]
    assert [(r["actor"], r["role"], r["what"]) for r in reads][-2:] == [
        ("alice", "subject", "export"), ("alice", "subject", "assessment")
    ]  # fmt: skip


def test_an_objection_appears_with_its_decision_pending(sqlite_world: World) -> None:
    filed = sqlite_world.call(
        "alice", "POST", "/me/objections",
        json={"record_id": "agency:A1", "statement": "Not me", "evidence": []},
    )  # fmt: skip
    assert filed.status_code == 201, filed.text
    doc = sqlite_world.call("alice", "GET", "/me/export").json()
    assert [(o["record_id"], o["status"], o["outcome"], o["statement"], o["review_deadline"])
            for o in doc["objections"]] == [("agency:A1", "under_review", None, "Not me", "2026-07-02")]  # fmt: skip
    # While the objection is open the record does not count: 6 points, grade mid.
    assert (doc["assessment"]["score"], doc["assessment"]["grade"]) == (6, "mid")


def test_a_subject_the_store_holds_nothing_about_is_404(sqlite_world: World) -> None:
    with sqlite_world.backend.store.session() as s:
        _, key = add_principal(
            s, sqlite_world.backend.keys, "nemo", "subject", "f" * 64,
            actor="admin", now=datetime(2026, 6, 1, tzinfo=UTC), hasher=CHEAP,
        )  # fmt: skip
        s.commit()
    headers = {"Authorization": f"Bearer {key}"}
    for path in ("/me/export", "/me/export/pdf"):
        got = sqlite_world.client.get(path, headers=headers)
        assert (got.status_code, got.json()["detail"]) == (404, "the store holds no data about you")
    # Another role has no file of its own.
    assert sqlite_world.call("rev", "GET", "/me/export").status_code == 403


def test_the_file_as_pdf(sqlite_world: World) -> None:
    got = sqlite_world.call("alice", "GET", "/me/export/pdf")
    assert (got.status_code, got.headers["content-type"]) == (200, "application/pdf")
    lines = pdf_text(got.content).splitlines()
    assert lines[:5] == [
        "Your file",
        f"Subject: {sqlite_world.alice}",
        "Policy scheme, as of 2 June 2026.",
        "Assessment",
        "Score 9, grade high, policy version 1.",
    ]
    assert "Records (5)" in lines and "Notices (3)" in lines and "Measures (1)" in lines
    assert (
        "agency:A1: major on 2026-01-10, reported by agency, legal basis Act s.2, status active."
        in lines
    )


BAN_LETTER = """Notice: ban
Reference number: ban@2026-05-10
Policy: scheme, version 1
To: subject {sid}
Issued on 10 May 2026.
Served on 12 May 2026.
Why you receive this notice
On 1 June 2026 your score was 9 (grade high) under policy scheme 1; a score of 8 reaches the
stage ban.
The principal reasons
1. Major: record agency:A1 of 2026-01-10, reported by agency, +3 points; it stops counting on
2028-01-10. Legal basis: Act s.2.
2. Major: record agency:A5 of 2026-05-10, reported by agency, +3 points; it stops counting on
2028-05-10. Legal basis: Act s.2.
3. Minor: record agency:A2 of 2026-02-10, reported by agency, +1 point; it stops counting on
2027-02-10. Legal basis: Act s.1.
4. Minor: record agency:A3 of 2026-03-10, reported by agency, +1 point; it stops counting on
2027-03-10. Legal basis: Act s.1.
Deadline
You have until 26 May 2026 to act.
If you do nothing
The measure ban (Act s.8) takes effect after the deadline unless the situation is rectified, and
only after a human reviewer signs off.
How to object
You may object to any record listed here; it will be reviewed within P30D (extended once by
P15D if you add evidence), and it will not count while your objection is open.
Appeal: Court within a month
Quote the reference number ban@2026-05-10 in any reply."""


def test_a_notice_as_a_letter_on_a4_and_us_letter(sqlite_world: World) -> None:
    items = sqlite_world.call("alice", "GET", "/me/notices").json()["items"]
    ban = next(n["id"] for n in items if n["ref"] == "ban@2026-05-10")
    a4 = sqlite_world.call("alice", "GET", f"/me/notices/{ban}/letter")
    assert (a4.status_code, a4.headers["content-type"]) == (200, "application/pdf")
    assert pdf_text(a4.content) == BAN_LETTER.format(sid=sqlite_world.alice)
    page = pypdf.PdfReader(io.BytesIO(a4.content)).pages[0].mediabox
    assert (round(float(page.width)), round(float(page.height))) == (595, 842)
    us = sqlite_world.call("alice", "GET", f"/me/notices/{ban}/letter?paper=Letter")
    page = pypdf.PdfReader(io.BytesIO(us.content)).pages[0].mediabox
    assert (float(page.width), float(page.height)) == (612.0, 792.0)
    bad = sqlite_world.call("alice", "GET", f"/me/notices/{ban}/letter?paper=A5")
    assert bad.status_code == 422
    # Bob's letter route does not find Alice's notice (404, revealing nothing).
    other = sqlite_world.call("bob", "GET", f"/me/notices/{ban}/letter")
    assert (other.status_code, other.json()["detail"]) == (404, f"no notice {ban} of yours")
