"""The access matrix: every endpoint, called as every role, is allowed or refused as designed.

The table below must name every route the application has, so a new endpoint cannot ship
without its line here. Refused callers get 403 before their input is even looked at, and a
call without a key gets 401.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.world import AS_ROLE, ROLES, World

Request = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One route, who may call it, a valid request and the status it then answers."""

    method: str
    path: str
    allowed: tuple[str, ...]
    request: Request
    ok: int = 200

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _record(w: World) -> dict[str, Any]:
    return {
        "json": {
            "source_record_id": "N1",
            "national_id": "NID-9",
            "kind": "minor",
            "occurred_on": "2026-05-20",
        }
    }


ENDPOINTS = [
    Endpoint("GET", "/whoami", ROLES, lambda w: {}),
    Endpoint("POST", "/agency/records", ("agency",), _record, 201),
    Endpoint("GET", "/agency/records", ("agency",), lambda w: {}),
    Endpoint(
        "POST",
        "/agency/records/{record_id}/revoke",
        ("agency",),
        lambda w: {"path": {"record_id": "agency:A2"}, "json": {"reason": "reported in error"}},
    ),
    Endpoint(
        "POST",
        "/agency/records/{record_id}/correct",
        ("agency",),
        lambda w: {
            "path": {"record_id": "agency:A3"},
            "json": {"reason": "wrong date", "changes": {"occurred_on": "2026-03-09"}},
        },
        201,
    ),
    Endpoint("GET", "/me/records", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/assessment", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/notices", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/listings", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/measures", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/accesses", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/objections", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/export", ("subject",), lambda w: {}),
    Endpoint("GET", "/me/export/pdf", ("subject",), lambda w: {}),
    Endpoint(
        "GET", "/me/notices/{notice_id}/letter", ("subject",), lambda w: {"path": {"notice_id": 1}}
    ),
    Endpoint(
        "POST",
        "/me/objections",
        ("subject",),
        lambda w: {
            "json": {"record_id": "agency:A4", "statement": "not me", "evidence": ["doc:1"]}
        },
        201,
    ),
    Endpoint(
        "POST",
        "/me/objections/{objection_id}/evidence",
        ("subject",),
        lambda w: {"path": {"objection_id": _objection(w)}, "json": {"evidence": ["doc:2"]}},
    ),
    Endpoint(
        "POST",
        "/status",
        ("relying_party",),
        lambda w: {"json": {"national_id": "NID-2", "purpose": "tenancy application"}},
    ),
    Endpoint("GET", "/review/objections", ("reviewer",), lambda w: {}),
    Endpoint(
        "GET",
        "/review/objections/{objection_id}",
        ("reviewer",),
        lambda w: {"path": {"objection_id": _objection(w)}},
    ),
    Endpoint(
        "POST",
        "/review/objections/{objection_id}/decision",
        ("reviewer",),
        lambda w: {
            "path": {"objection_id": _objection(w)},
            "json": {"outcome": "overturned", "reason": "the evidence shows it"},
        },
    ),
    Endpoint("GET", "/review/measures", ("reviewer",), lambda w: {}),
    Endpoint(
        "POST",
        "/review/measures/{measure_id}/decision",
        ("reviewer",),
        lambda w: {
            "path": {"measure_id": w.measure_id},
            "json": {"approve": False, "reason": "disproportionate"},
        },
    ),
    Endpoint(
        "GET",
        "/review/subjects/{subject_id}/assessment",
        ("reviewer",),
        lambda w: {"path": {"subject_id": w.alice}, "params": {"purpose": "deciding a review"}},
    ),
    Endpoint("GET", "/audit/log", ("auditor",), lambda w: {}),
    Endpoint("GET", "/audit/verify", ("auditor",), lambda w: {}),
    Endpoint("GET", "/audit/access-events", ("auditor",), lambda w: {}),
]


def _objection(w: World) -> int:
    """An open objection of alice's (filed once per world)."""
    cached = getattr(w, "_objection", None)
    if cached is None:
        r = w.call(
            "alice",
            "POST",
            "/me/objections",
            json={"record_id": "agency:A1", "statement": "this was not me"},
        )
        assert r.status_code == 201, r.text
        cached = r.json()["id"]
        object.__setattr__(w, "_objection", cached)
    return int(cached)


def _send(w: World, e: Endpoint, name: str | None) -> Any:
    kw = e.request(w)
    path = e.path.format(**kw.pop("path", {}))
    return w.call(name, e.method, path, **kw)


def test_the_matrix_names_every_operation(module_world: World) -> None:
    # The OpenAPI document lists every operation a client can call; each needs its line here.
    paths = module_world.app.openapi()["paths"]
    operations = {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops}
    assert {e.id for e in ENDPOINTS} == operations - {"GET /health"}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_every_role_is_allowed_or_refused(module_world: World, endpoint: Endpoint) -> None:
    # One world for the module: refused calls change nothing, and the allowed ones act on
    # different records in the table's order (the evidence comes before the decision).
    w = module_world
    anonymous = _send(w, endpoint, None)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for role in ROLES:
        if role in endpoint.allowed:
            continue
        refused = _send(w, endpoint, AS_ROLE[role])
        assert refused.status_code == 403, (role, refused.text)
        assert refused.json()["status"] == 403
    for role in endpoint.allowed:
        allowed = _send(w, endpoint, AS_ROLE[role])
        assert allowed.status_code == endpoint.ok, (role, allowed.text)


def test_the_matrix_holds_on_postgresql_too(world: World) -> None:
    # The whole matrix once more, on whichever backend this run brings (SQLite, PostgreSQL).
    for endpoint in ENDPOINTS:
        for role in ROLES:
            r = _send(world, endpoint, AS_ROLE[role])
            expected = endpoint.ok if role in endpoint.allowed else 403
            assert r.status_code == expected, (endpoint.id, role, r.text)
