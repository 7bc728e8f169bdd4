"""Cursors: a cursor the API did not give is a 400 naming ``query.cursor`` on every list."""

from __future__ import annotations

from typing import Any

import pytest

from credence.api.deps import cursor_key, cursor_of
from tests.api.world import World

LISTS = [
    ("alice", "/me/records"),
    ("alice", "/me/notices"),
    ("alice", "/me/listings"),
    ("alice", "/me/measures"),
    ("alice", "/me/accesses"),
    ("alice", "/me/objections"),
    ("agency-1", "/agency/records"),
    ("rev", "/review/objections"),
    ("rev", "/review/measures"),
    ("aud", "/audit/log"),
    ("aud", "/audit/access-events"),
]


def _bad_cursor(r: Any) -> None:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["field"] == "query.cursor"
    assert body["detail"] == "cursor is not one this endpoint gave"


@pytest.mark.parametrize(("who", "path"), LISTS)
@pytest.mark.parametrize("cursor", ["zzz", "A1", "0", "cAAAAAAA", "é", "%00"])
def test_a_made_up_cursor_is_a_400_on_every_list(
    module_world: World, who: str, path: str, cursor: str
) -> None:
    _bad_cursor(module_world.call(who, "GET", path, params={"cursor": cursor}))


def test_me_records_with_cursor_zzz_is_a_400_not_an_empty_page(module_world: World) -> None:
    r = module_world.call("alice", "GET", "/me/records?cursor=zzz")
    _bad_cursor(r)


def _walk(w: World, who: str, path: str) -> tuple[list[Any], list[str]]:
    items: list[Any] = []
    cursors: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    for _ in range(50):
        page = w.call(who, "GET", path, params=params).json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items, cursors
        cursors.append(page["next_cursor"])
        params = {"limit": 1, "cursor": page["next_cursor"]}
    raise AssertionError("more than 50 pages")


@pytest.mark.parametrize(
    ("who", "path"), [("alice", "/me/records"), ("agency-1", "/agency/records")]
)
def test_the_cursors_given_walk_every_record_once_and_a_tampered_one_is_refused(
    module_world: World, who: str, path: str
) -> None:
    items, cursors = _walk(module_world, who, path)
    ids = [r["record_id"] for r in items]
    assert len(ids) == 5 and ids == sorted(set(ids))  # alice's five, each once, in key order
    assert len(cursors) == 4
    tampered = cursors[0][:-1] + ("A" if cursors[0][-1] != "A" else "B")
    _bad_cursor(module_world.call(who, "GET", path, params={"cursor": tampered}))


def test_a_cursor_stands_for_its_key_and_nothing_else() -> None:
    for key in ("agency:A1", 17, "ü-ß", ""):
        assert cursor_key(cursor_of(key)) == str(key)
    assert cursor_of("agency:A1") != cursor_of("agency:A2")
