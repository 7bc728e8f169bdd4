"""The compiled policy: built and linted once, and the dates and points it decides."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

import credence.policy.compiled as compiled_module
from credence.engine.reference import evaluate
from credence.errors import EvaluationError
from credence.policy.compiled import compile_policy
from credence.policy.load import loads_policy
from credence.records import Record

POLICY = """
id: toy
versions:
  - version: "1"
    effective_from: 2024-01-01
    count_from: effective
    direction: higher_is_better
    scale: {base: 100, min: 0, max: 200}
    grades: [{grade: B, min: 0, max: 99}, {grade: A, min: 100, max: 200}]
    categories: [{id: conduct, min: -50}]
    rules:
      - kind: fine
        category: conduct
        points: {bands: [{at_least: 0, points: -5}, {at_least: 1000, points: -20}]}
        expires_after: P1M
        expiry_from: effective
        legal_basis: Act s.1
        data_category: administrative
  - version: "2"
    effective_from: 2025-01-01
    rules:
      - kind: fine
        category: conduct
        points: -3
        expires_after: P1Y
        legal_basis: Act s.1 (amended)
        data_category: administrative
"""


def _record(amount: str | None = "1500") -> Record:
    return Record(
        record_id="r1",
        source="court",
        source_record_id="r1",
        subject_id="s1",
        kind="fine",
        occurred_on=date(2024, 1, 31),
        effective_on=date(2024, 3, 31),
        recorded_at=datetime(2024, 3, 31, tzinfo=UTC),
        amount=None if amount is None else Decimal(amount),
    )


def test_the_rule_decides_its_count_date_expiry_and_points() -> None:
    compiled = compile_policy(loads_policy(POLICY))
    first = compiled.versions[0]
    rule = first.rule("fine")
    assert rule is not None
    assert first.counts_from(date(2024, 1, 31), date(2024, 3, 31)) == date(2024, 3, 31)
    # P1M from the effective date 31 March ends on the month's last day, 30 April.
    assert rule.expires_on(date(2024, 1, 31), date(2024, 3, 31)) == date(2024, 4, 30)
    assert rule.alive_from(date(2024, 4, 29)) == date(2024, 3, 30)
    assert rule.alive_from(date(2024, 4, 30)) == date(2024, 4, 1)
    assert [rule.points_for(Decimal(a)) for a in ("0", "999", "1000")] == [-5, -5, -20]
    assert rule.points_for(None) is None


def test_lex_mitior_takes_the_later_milder_rule_and_an_abolished_kinds_zero() -> None:
    compiled = compile_policy(loads_policy(POLICY))
    now = compiled.versions[1]
    rule = compiled.rule_then("fine", date(2024, 6, 1))
    assert rule is not None
    assert compiled.lenient_choice(now, rule, -20, -3) == "now"
    assert compiled.lenient_choice(now, rule, -3, -20) == "then"
    assert compiled.lenient_choice(now, rule, -20, None) == "gone"
    assert compiled.lenient_choice(now, rule, 5, None) == "then"


def test_the_stretches_follow_the_versions() -> None:
    compiled = compile_policy(loads_policy(POLICY))
    assert [(s.kind, s.begin, s.until, s.version.label) for s in compiled.stretches] == [
        ("fine", date(2024, 1, 1), date(2025, 1, 1), "1"),
        ("fine", date(2025, 1, 1), None, "2"),
    ]


def test_a_policy_is_linted_once_not_on_every_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = compiled_module.unlawful

    def counting(policy):  # type: ignore[no-untyped-def]
        calls.append(policy.id)
        return real(policy)

    monkeypatch.setattr(compiled_module, "unlawful", counting)
    policy = loads_policy(POLICY)
    days = [date(2024, 4, d) for d in (1, 29, 30)]
    scores = [evaluate(policy, [_record()], d, date(2024, 5, 1)).score for d in days]
    assert scores == [80, 80, 100]  # -20 from the effective date until its expiry on 30 April
    assert calls == ["toy"]
    assert compile_policy(policy) is compile_policy(policy)


def test_an_unlawful_policy_is_refused_when_compiled() -> None:
    policy = loads_policy(POLICY.replace("        legal_basis: Act s.1\n", "", 1))
    with pytest.raises(EvaluationError, match="refused by the linter"):
        compile_policy(policy)
    with pytest.raises(EvaluationError, match="refused by the linter"):
        evaluate(policy, [], date(2024, 6, 1), date(2024, 6, 1))


def test_the_compiled_form_does_not_keep_its_policy_alive() -> None:
    policy = loads_policy(POLICY)
    compiled = compile_policy(policy)
    gone = weakref.ref(policy)
    del policy
    gc.collect()
    assert gone() is None
    assert compiled.versions[1].label == "2"
