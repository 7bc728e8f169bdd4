"""Errors: every bad input is a 4xx problem+json naming the field at fault, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.world import World

PROBLEM = "application/problem+json"
GOOD = {
    "source_record_id": "P1",
    "national_id": "NID-5",
    "kind": "minor",
    "occurred_on": "2026-05-01",
}


def _problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"]
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "unheard-of"}, "body.kind"),
        ({"kind": "debt"}, "body.kind"),  # the court's kind: this agency may not report it
        ({"occurred_on": "2026-13-01"}, "body.occurred_on"),
        ({"occurred_on": "2027-01-01"}, "body.occurred_on"),  # in the future
        ({"occurred_on": "2025-01-01"}, "body.occurred_on"),  # before the policy
        ({"effective_on": "2026-04-01"}, "body.effective_on"),  # before the act
        ({"national_id": ""}, "body.national_id"),
        ({"national_id": "bad\u0000id"}, "body.national_id"),
        ({"amount": "lots"}, "body.amount"),
        ({"surprise": 1}, "body.surprise"),
        ({"source_record_id": None}, "body.source_record_id"),
    ],
)
def test_a_bad_record_names_its_field(
    module_world: World, change: dict[str, Any], field: str
) -> None:
    body = {**GOOD, **change}
    r = module_world.call("agency-1", "POST", "/agency/records", json=body)
    problem = _problem(r, 422, field)
    assert problem["errors"][0]["field"] == field
    assert problem["instance"] == "/agency/records"


def test_a_duplicate_report_is_a_conflict(module_world: World) -> None:
    w = module_world
    body = {**GOOD, "source_record_id": "DUP"}
    assert w.call("agency-1", "POST", "/agency/records", json=body).status_code == 201
    _problem(w.call("agency-1", "POST", "/agency/records", json=body), 409, "body.source_record_id")


def test_malformed_json_is_a_bad_request(module_world: World) -> None:
    r = module_world.call(
        "agency-1",
        "POST",
        "/agency/records",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    _problem(r, 400)


def test_a_body_over_the_limit_is_refused(module_world: World) -> None:
    big = {**GOOD, "evidence_ref": "x" * 70_000}
    _problem(module_world.call("agency-1", "POST", "/agency/records", json=big), 413, "body")


def test_query_parameters_are_checked(module_world: World) -> None:
    w = module_world
    _problem(w.call("alice", "GET", "/me/records", params={"limit": 0}), 422, "query.limit")
    _problem(w.call("alice", "GET", "/me/notices", params={"cursor": "x"}), 400, "query.cursor")
    _problem(
        w.call(
            "alice",
            "GET",
            "/me/assessment",
            params={"as_of": "2026-05-01", "known_at": "2026-04-01"},
        ),
        422,
        "query.known_at",
    )
    _problem(
        w.call("alice", "GET", "/me/assessment", params={"as_of": "2020-01-01"}), 422, "query.as_of"
    )
    _problem(
        w.call("alice", "GET", "/me/assessment", params={"as_of": "9999-12-31"}), 422, "query.as_of"
    )


def test_unknown_routes_methods_and_keys(module_world: World) -> None:
    w = module_world
    _problem(w.call("alice", "GET", "/nowhere"), 404)
    _problem(w.call("alice", "DELETE", "/me/records"), 405)
    _problem(w.client.get("/whoami", headers={"Authorization": "Bearer crd_1_wrong"}), 401)
    _problem(w.client.get("/whoami", headers={"Authorization": "Bearer nonsense"}), 401)
    _problem(w.client.get("/whoami", headers={"Authorization": "Basic abc"}), 401)


def test_decisions_need_their_reasons(module_world: World) -> None:
    w = module_world
    r = w.call("rev", "POST", f"/review/measures/{w.measure_id}/decision", json={"approve": False})
    _problem(r, 422, "body.reason")
    r = w.call("rev", "POST", "/review/objections/999999/decision", json={"outcome": "upheld"})
    _problem(r, 422, "body.reason")
    r = w.call(
        "rev",
        "POST",
        "/review/objections/999999/decision",
        json={"outcome": "upheld", "reason": "r"},
    )
    _problem(r, 404)
    r = w.call("rev", "POST", "/review/measures/999999/decision", json={"approve": True})
    _problem(r, 404)


def test_a_void_record_cannot_change_again(module_world: World) -> None:
    w = module_world
    body = {**GOOD, "source_record_id": "VOID"}
    assert w.call("agency-1", "POST", "/agency/records", json=body).status_code == 201
    revoke = {"reason": "reported in error"}
    assert (
        w.call("agency-1", "POST", "/agency/records/agency:VOID/revoke", json=revoke).status_code
        == 200
    )
    _problem(w.call("agency-1", "POST", "/agency/records/agency:VOID/revoke", json=revoke), 409)
    fix = {"reason": "wrong", "changes": {"kind": "major"}}
    _problem(w.call("agency-1", "POST", "/agency/records/agency:VOID/correct", json=fix), 409)
    empty = {"reason": "wrong", "changes": {}}
    _problem(
        w.call("agency-1", "POST", "/agency/records/agency:A5/correct", json=empty),
        422,
        "body.changes",
    )
    bad = {"reason": "wrong", "changes": {"kind": "debt"}}
    _problem(
        w.call("agency-1", "POST", "/agency/records/agency:A5/correct", json=bad),
        422,
        "body.changes",
    )


def test_the_openapi_document_declares_problems(module_world: World) -> None:
    doc = module_world.client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for code, response in op["responses"].items():
                if int(code) >= 400:
                    assert list(response["content"]) == [PROBLEM], (path, code)
