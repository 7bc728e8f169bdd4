"""Shared helpers of the batch tests: strategies with lists and many subjects, and the oracle."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from credence.compute.batch import assessment_row
from credence.engine.reference import evaluate
from credence.policy.load import PolicySet
from credence.policy.model import PolicyVersion
from credence.records import Record
from tests.strategies import START, records, rule_dicts, version_dicts

# No "explain" phase: it reruns a failing case hundreds of times, each a full backend query.
DIFFERENTIAL = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
)


@st.composite
def list_dicts(draw: st.DrawFn, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Zero to two lists whose entry criteria mix grades, score bounds and record kinds."""
    kinds = [r["kind"] for r in doc["rules"]]
    grades = [g["grade"] for g in doc["grades"]]
    low, high = doc["scale"]["min"], doc["scale"]["max"]
    out = []
    for i in range(draw(st.integers(0, 2))):
        entry: dict[str, Any] = {}
        choice = draw(st.sets(st.sampled_from(["grades", "most", "least", "kinds"]), min_size=1))
        if "grades" in choice:
            entry["grades"] = draw(st.lists(st.sampled_from(grades), min_size=1, unique=True))
        if "most" in choice:
            entry["score_at_most"] = draw(st.integers(low, high))
        if "least" in choice:
            entry["score_at_least"] = draw(st.integers(low, high))
        if "kinds" in choice:
            entry["record_kinds"] = draw(st.lists(st.sampled_from(kinds), min_size=1, unique=True))
        out.append(
            {
                "id": f"l{i}",
                "type": "blacklist",
                "entry": entry,
                "legal_basis": "Act s.9",
                "duration": "P1Y",
                "notice_period": "P30D",
                "appeal_route": "court",
            }
        )
    return out


@st.composite
def batch_policies(draw: st.DrawFn, **kw: Any) -> PolicySet:
    """Like ``tests.strategies.policies`` (one or two versions), with lists in each version."""
    first = draw(version_dicts(**kw))
    first["lists"] = draw(list_dicts(first))
    versions = [first]
    if draw(st.booleans()):
        second = dict(first)
        second["version"] = "2"
        second["effective_from"] = START + timedelta(days=draw(st.integers(30, 500)))
        merit = first["direction"] == "higher_is_better"
        cats = [c["id"] for c in first["categories"]]
        rules = [
            draw(rule_dicts(r["kind"], cats, merit)) if draw(st.booleans()) else r
            for r in first["rules"]
        ]
        if len(rules) > 1 and draw(st.booleans()):
            rules = rules[:-1]  # a kind abolished by the later version
        second["rules"] = rules
        second["lists"] = [
            lst
            for lst in draw(list_dicts(second))
            if set(lst["entry"].get("record_kinds", [])) <= {r["kind"] for r in rules}
        ]
        versions.append(second)
    return PolicySet.of(*(PolicyVersion.model_validate(v) for v in versions))


@st.composite
def population(draw: st.DrawFn, max_subjects: int = 5, max_records: int = 10) -> list[Record]:
    """Records of several subjects, record ids unique across the population."""
    out: list[Record] = []
    for i in range(draw(st.integers(1, max_subjects))):
        sid = f"s{i}"
        for r in draw(records(subject=sid, max_size=max_records)):
            out.append(dataclasses.replace(r, record_id=f"{sid}-{r.record_id}"))
    return out


def reference_rows(
    policy: PolicySet, recs: list[Record], as_of: date, known_at: date, con: Any = None
) -> dict[str, dict[str, Any]]:
    """The reference evaluator's result per subject, in the batch row layout."""
    version = policy.version_at(as_of)
    assert version is not None
    cats = [c.id for c in version.categories]
    lists = [x.id for x in version.lists]
    by: dict[str, list[Record]] = {}
    for r in recs:
        by.setdefault(r.subject_id, []).append(r)
    out = {}
    for sid, mine in by.items():
        row = assessment_row(evaluate(policy, mine, as_of, known_at, subject_id=sid), cats, lists)
        out[sid] = row
    return out


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """The fields both evaluators must agree on.

    Not how a row was computed (``replayed``), nor ``next_stage_day``, which only replayed
    subjects carry: stage state is not part of the batch result.
    """
    return {k: v for k, v in row.items() if k not in ("replayed", "next_stage_day")}
