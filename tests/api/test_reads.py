"""Access events, pagination and the reviewer's and auditor's views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from credence.audit import chain
from credence.audit.tables import AccessEvent
from tests.api.world import World


def _events(w: World, subject_id: str) -> list[tuple[str, str, str, str]]:
    with w.backend.store.session() as s:
        return [
            (e.actor, e.role, e.purpose, e.what)
            for e in s.scalars(
                select(AccessEvent)
                .where(AccessEvent.subject_id == subject_id)
                .order_by(AccessEvent.id)
            )
        ]


def test_every_read_writes_an_access_event_the_subject_can_see(world: World) -> None:
    w = world
    before = len(_events(w, w.bob))
    assert (
        w.call(
            "bank", "POST", "/status", json={"national_id": "NID-2", "purpose": "tenancy"}
        ).status_code
        == 200
    )
    assert w.call("bob", "GET", "/me/assessment").status_code == 200
    r = w.call(
        "rev", "GET", f"/review/subjects/{w.bob}/assessment", params={"purpose": "appeal file 7"}
    )
    assert r.status_code == 200
    assert w.call("rev", "GET", "/review/objections").status_code == 200
    events = _events(w, w.bob)[before:]
    assert events[:3] == [
        ("bank", "relying_party", "tenancy", "status"),
        ("bob", "subject", "self-service: the subject reads their own data", "assessment"),
        ("rev", "reviewer", "appeal file 7", "assessment"),
    ]
    seen = w.call("bob", "GET", "/me/accesses", params={"limit": 500}).json()["items"]
    assert ("bank", "relying_party", "tenancy", "status") in {
        (a["actor"], a["role"], a["purpose"], a["what"]) for a in seen
    }
    # Reads are in the audit chain too, and the chain still verifies.
    verdict = w.call("aud", "GET", "/audit/verify").json()
    assert verdict["ok"] is True
    with w.backend.store.session() as s:
        assert chain.verify(s, w.backend.keys).ok
    log = w.call("aud", "GET", "/audit/log", params={"subject_id": w.bob, "limit": 500}).json()
    assert any(
        e["action"] == "read.status" and e["detail"]["purpose"] == "tenancy" for e in log["items"]
    )


def test_a_failed_read_of_nothing_logs_nothing_about_anyone(module_world: World) -> None:
    w = module_world
    ghost = "0" * 64
    r = w.call("rev", "GET", f"/review/subjects/{ghost}/assessment", params={"purpose": "curious"})
    assert r.status_code == 404
    assert _events(w, ghost) == []


def _all(w: World, who: str, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        q = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = w.call(who, "GET", path, params=q).json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_pages_cover_every_item_once(module_world: World) -> None:
    w = module_world
    records = _all(w, "agency-1", "/agency/records", 2)
    ids = [r["record_id"] for r in records]
    assert ids == sorted(set(ids)) and {"agency:A1", "agency:A5"} <= set(ids)
    whole = w.call("agency-1", "GET", "/agency/records", params={"limit": 500}).json()
    assert [r["record_id"] for r in whole["items"]] == ids and whole["next_cursor"] is None
    mine = _all(w, "alice", "/me/records", 2)
    assert [r["record_id"] for r in mine][:5] == [f"agency:A{i}" for i in range(1, 6)]
    seqs = [e["seq"] for e in _all(w, "aud", "/audit/log", 7)]
    assert seqs == list(range(1, len(seqs) + 1))
    events = [e["id"] for e in _all(w, "aud", "/audit/access-events", 3)]
    assert events == sorted(set(events))


def test_reviewer_decides_an_objection_and_a_measure(world: World) -> None:
    w = world
    filed = w.call(
        "alice",
        "POST",
        "/me/objections",
        json={"record_id": "agency:A5", "statement": "I was abroad", "evidence": ["passport:p3"]},
    ).json()
    assert filed["status"] == "under_review" and filed["evidence"] == ["passport:p3"]
    more = w.call(
        "alice", "POST", f"/me/objections/{filed['id']}/evidence", json={"evidence": ["ticket:t9"]}
    )
    assert more.json()["evidence"] == ["passport:p3", "ticket:t9"]
    queue = w.call("rev", "GET", "/review/objections").json()["items"]
    assert [(o["id"], o["subject_id"]) for o in queue] == [(filed["id"], w.alice)]
    detail = w.call("rev", "GET", f"/review/objections/{filed['id']}").json()
    assert (
        detail["record"]["record_id"] == "agency:A5" and detail["record"]["status"] == "contested"
    )
    decided = w.call(
        "rev", "POST", f"/review/objections/{filed['id']}/decision", json={"outcome": "overturned"}
    ).json()
    assert decided["status"] == "overturned"
    assert w.call("rev", "GET", "/review/objections").json()["items"] == []
    records = {
        r["record_id"]: r["status"] for r in w.call("alice", "GET", "/me/records").json()["items"]
    }
    assert records["agency:A5"] == "overturned"
    measures = w.call("rev", "GET", "/review/measures").json()["items"]
    assert [m["id"] for m in measures] == [w.measure_id]
    refused = w.call(
        "rev",
        "POST",
        f"/review/measures/{w.measure_id}/decision",
        json={"approve": False, "reason": "the record behind it was overturned"},
    ).json()
    assert refused["status"] == "refused"
    assert refused["detail"]["review"]["reason"] == "the record behind it was overturned"
    assert w.call("rev", "GET", "/review/measures").json()["items"] == []


def test_agency_reports_corrects_and_revokes(world: World) -> None:
    w = world
    body = {
        "source_record_id": "R1",
        "national_id": "NID-1",
        "kind": "minor",
        "occurred_on": "2026-05-30",
        "amount": "12.50",
        "evidence_ref": "file 12",
    }
    assert w.call("agency-1", "POST", "/agency/records", json=body).json() == {
        "record_id": "agency:R1",
        "status": "active",
    }
    fixed = w.call(
        "agency-1",
        "POST",
        "/agency/records/agency:R1/correct",
        json={"reason": "wrong kind", "changes": {"kind": "major"}},
    )
    assert fixed.status_code == 201
    assert fixed.json() == {"record_id": "agency:R1~c1", "supersedes": "agency:R1"}
    gone = w.call("agency-1", "POST", "/agency/records/agency:R1~c1/revoke", json={"reason": "dup"})
    assert gone.json()["status"] == "revoked"
    mine = {r["record_id"]: r for r in w.call("alice", "GET", "/me/records").json()["items"]}
    assert mine["agency:R1"]["status"] == "corrected_by"
    assert mine["agency:R1~c1"]["kind"] == "major" and mine["agency:R1~c1"]["status"] == "revoked"
    assert mine["agency:R1"]["amount"] == "12.50"
