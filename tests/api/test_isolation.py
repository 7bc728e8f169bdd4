"""Scopes: a subject never reads another subject, an agency never touches another source's
records, a relying party never sees a record."""

from __future__ import annotations

import json

from tests.api.world import World


def test_a_subject_sees_only_their_own_records(module_world: World) -> None:
    w = module_world
    mine = w.call("alice", "GET", "/me/records").json()["items"]
    theirs = w.call("bob", "GET", "/me/records").json()["items"]
    assert {r["record_id"] for r in mine} >= {"agency:A1", "agency:A5"}
    assert all(r["source"] == "agency" for r in mine)
    assert [r["record_id"] for r in theirs] == ["court:C1"]
    assert w.call("alice", "GET", "/me/assessment").json()["subject_id"] == w.alice
    assert w.call("bob", "GET", "/me/listings").json()["items"][0]["list_id"] == "debtors"
    assert w.call("alice", "GET", "/me/listings").json()["items"] == []


def test_a_subject_cannot_contest_or_support_what_is_not_theirs(module_world: World) -> None:
    w = module_world
    r = w.call(
        "alice", "POST", "/me/objections", json={"record_id": "court:C1", "statement": "x y"}
    )
    assert r.status_code == 404
    assert r.json()["field"] == "body.record_id"
    filed = w.call(
        "bob", "POST", "/me/objections", json={"record_id": "court:C1", "statement": "paid it"}
    )
    assert filed.status_code == 201, filed.text
    oid = filed.json()["id"]
    r = w.call("alice", "POST", f"/me/objections/{oid}/evidence", json={"evidence": ["e:1"]})
    assert r.status_code == 404
    assert all(o["id"] != oid for o in w.call("alice", "GET", "/me/objections").json()["items"])


def test_no_route_takes_a_subject_id_from_a_subject(module_world: World) -> None:
    paths = list(module_world.app.openapi()["paths"])
    assert any(p.startswith("/me/") for p in paths)
    for path in paths:
        if path.startswith("/me/"):
            assert "subject" not in path


def test_an_agency_cannot_touch_another_sources_records(module_world: World) -> None:
    w = module_world
    r = w.call("court-1", "POST", "/agency/records/agency:A5/revoke", json={"reason": "mine?"})
    assert r.status_code == 404
    listed = w.call("court-1", "GET", "/agency/records").json()["items"]
    assert {x["source"] for x in listed} == {"court"}


def test_a_relying_party_sees_public_status_only(module_world: World) -> None:
    w = module_world
    r = w.call(
        "bank", "POST", "/status", json={"national_id": "NID-2", "purpose": "loan application"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"policy_id", "as_of", "lists", "measures", "grade"}
    assert body["grade"] is None
    assert body["lists"] == [
        {
            "list_id": "debtors",
            "title": "Debtors",
            "type": "blacklist",
            "listed": True,
            "since": "2026-04-02",
        }
    ]
    assert [m["measure_id"] for m in body["measures"]] == ["restrict"]
    text = json.dumps(body)
    for secret in ("court:C1", '"debt"', w.bob, "contributions", "score"):
        assert secret not in text
    clean = w.call("bank", "POST", "/status", json={"national_id": "NID-1", "purpose": "loan"})
    assert clean.json()["lists"][0]["listed"] is False
    assert clean.json()["measures"] == []


def test_a_relying_party_must_state_a_purpose(module_world: World) -> None:
    w = module_world
    for body in ({"national_id": "NID-2"}, {"national_id": "NID-2", "purpose": "  "}):
        r = w.call("bank", "POST", "/status", json=body)
        assert r.status_code == 422
        assert r.json()["field"] == "body.purpose"
