"""Schemathesis against the app's own OpenAPI document: no 5xx, and every answer conforms
(status documented, content type declared, body valid against the declared schema).

Each operation is called as the role that owns it, so the fuzzer reaches the routes' logic
rather than stopping at 401/403. The example count is kept small so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.world import World, build
from tests.store.backends import open_backend

OWNER = {
    "/agency": "agency-1",
    "/me": "alice",
    "/status": "bank",
    "/review": "rev",
    "/audit": "aud",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 10


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One SQLite world for the whole fuzzing run."""
    tmp = tmp_path_factory.mktemp("fuzz")
    gen = open_backend("sqlite", tmp / "data", "5e" * 32)
    world = build(next(gen), tmp)
    yield world
    gen.close()


def _principal(path: str) -> str:
    for prefix, name in OWNER.items():
        if path.startswith(prefix):
            return name
    return "alice"


def test_the_api_answers_every_input_within_its_schema(fuzz_world: World) -> None:
    # The schemathesis pytest plugin's lazy loader does not run under pytest 9, so each
    # operation's Hypothesis strategy is driven here directly; the checks are the same.
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        _fuzz(operation, fuzz_world.headers(_principal(operation.path)))


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
