"""One check of control characters for every way a record comes in: files and the agency API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credence.ingest.run import ingest_file
from credence.rows.text import control_problem
from tests.api.world import NOW, World, build, policy
from tests.ingest.helpers import quarantine
from tests.store.backends import Backend

GOOD = {
    "source_record_id": "P1",
    "national_id": "NID-5",
    "kind": "minor",
    "occurred_on": "2026-05-01",
}


@pytest.fixture
def world(sqlite_backend: Backend, tmp_path: Path) -> World:
    """The API's world on SQLite."""
    return build(sqlite_backend, tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("source_record_id", "P\t1", "contains control character U+0009 at character 2"),
        ("source_record_id", "P\u00852", "contains control character U+0085 at character 2"),
        ("source_record_id", "P\x7f3", "contains control character U+007F at character 2"),
        ("evidence_ref", "doc\n4", "contains control character U+000A at character 4"),
        ("evidence_ref", "doc\u009b5", "contains control character U+009B at character 4"),
    ],
)
def test_the_api_and_a_file_refuse_the_same_value_for_the_same_reason(
    world: World, tmp_path: Path, field: str, value: str, reason: str
) -> None:
    assert control_problem(value) == reason
    r = world.call("agency-1", "POST", "/agency/records", json={**GOOD, field: value})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": f"body.{field}", "reason": reason}]

    path = tmp_path / "one.csv"
    row = {"source": "agency", "subject_id": "NID-5", "kind": "minor", **GOOD, field: value}
    row.pop("national_id")
    columns = ["source", "source_record_id", "subject_id", "kind", "occurred_on", field]
    columns = list(dict.fromkeys(columns))
    quoted = [f'"{row[c]}"' for c in columns]
    path.write_text(",".join(columns) + "\n" + ",".join(quoted) + "\n", newline="")
    summary = ingest_file(
        world.backend.store, path, source="agency", policy=policy(), actor="t", now=NOW
    )
    assert summary.rejected == 1
    assert (2, field, reason) in quarantine(world.backend)


def test_a_correction_is_refused_by_the_same_check(world: World) -> None:
    fix = {"reason": "wrong reference", "changes": {"evidence_ref": "doc\t9"}}
    r = world.call("agency-1", "POST", "/agency/records/agency:A5/correct", json=fix)
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "body.changes.evidence_ref"
    assert error["reason"].endswith("contains control character U+0009 at character 4")


def test_a_lone_surrogate_spelled_in_json_is_refused(world: World) -> None:
    # JSON can spell a surrogate with no pair ("\\ud800"); no database can store it.
    body = json.dumps({**GOOD, "source_record_id": "P\ud8006"})
    r = world.call(
        "agency-1",
        "POST",
        "/agency/records",
        content=body,
        headers={"content-type": "application/json"},
    )
    # pydantic's JSON parser refuses it before parse_row would (as a file's JSONL row is).
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.source_record_id"]
