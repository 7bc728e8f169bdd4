"""The lab under attack: hostile policy files are 422s with the line, impact runs have limits."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from credence.policy import library
from credence.sim.limited import LimitExceeded, Limits, diff_refs, run_limited
from credence.sim.scenarios import Scenario
from credence.web.views import lab
from tests.policy.test_hostile_yaml import billion_laughs
from tests.web.conftest import csrf_of, sign_in
from tests.web.world import World


def _token(client: TestClient, world: World) -> str:
    sign_in(client, world, "audrey")
    return csrf_of(client.get("/lab").text)


def test_billion_laughs_uploaded_to_the_lab_is_a_422_naming_the_alias(
    client: TestClient, world: World
) -> None:
    token = _token(client, world)
    r = client.post(
        "/lab/check",
        data={"csrf": token},
        files={"policy_file": ("laughs.yaml", billion_laughs().encode(), "text/yaml")},
    )
    assert r.status_code == 422
    assert "<code>laughs.yaml:2:8</code>: CR102 error: YAML aliases are not allowed" in r.text


def test_a_hundred_thousand_brackets_pasted_into_the_lab_are_a_422_at_the_depth_limit(
    client: TestClient, world: World
) -> None:
    token = _token(client, world)
    r = client.post("/lab/check", data={"csrf": token, "text": "[" * 100_000})
    assert r.status_code == 422
    assert "<code>pasted policy:1:65</code>: CR103 error: nested deeper than 64 levels" in r.text


def test_an_impact_run_past_its_time_limit_says_so(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab, "LIMITS", Limits(seconds=0.5, memory_mib=1024))
    token = _token(client, world)
    form = {"a": "city-merit@2026.1", "b": "city-merit@2026.2", "csrf": token}
    r = client.post("/lab/diff", data={**form, "population": "10000", "years": "10"})
    assert r.status_code == 422
    assert "The impact run did not finish: the run was stopped after 0.5 seconds" in r.text


def test_an_impact_run_past_its_memory_limit_says_so(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab, "LIMITS", Limits(seconds=120, memory_mib=24))
    token = _token(client, world)
    form = {"a": "city-merit@2026.1", "b": "city-merit@2026.2", "csrf": token}
    r = client.post("/lab/diff", data={**form, "population": "10000", "years": "10"})
    assert r.status_code == 422
    assert "needed more than 24 MiB" in r.text


def test_a_run_within_its_limits_gives_the_same_figures_as_in_process() -> None:
    scenario = Scenario(population=200, years=1, seed=4)
    args = ("city-merit@2026.1", "city-merit@2026.2", scenario)
    assert run_limited(diff_refs, args, Limits(seconds=120)) == diff_refs(*args)
    with pytest.raises(LimitExceeded):
        run_limited(diff_refs, args, Limits(seconds=0.001))


def test_an_embedded_test_the_evaluator_cannot_build_is_a_422_not_a_500(
    client: TestClient, world: World
) -> None:
    data = yaml.safe_load((Path(library.__file__).parent / "city-merit.yaml").read_text())
    case = next(c for c in _cases(data) if c.get("records"))
    record = case["records"][0]
    record.update(occurred_on=date(2999, 12, 31), effective_on=date(2026, 1, 1))
    token = _token(client, world)
    r = client.post("/lab/check", data={"csrf": token, "text": yaml.safe_dump(data)})
    assert r.status_code == 422
    assert f"an embedded test cannot run: record {record['id']}: effective_on 2026-01-01 is " in (
        r.text
    )
    record.update(occurred_on=date(9999, 12, 31), effective_on=None)  # past the last date
    r = client.post("/lab/check", data={"csrf": token, "text": yaml.safe_dump(data)})
    assert r.status_code == 422
    assert "an embedded test cannot run: year 10002 is out of range" in r.text


def _cases(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every embedded test case of a policy file's mapping."""
    found = list(data.get("tests") or [])
    for version in data.get("versions") or []:
        found += version.get("tests") or []
    return found
