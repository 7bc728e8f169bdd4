"""Credits and stage clamps: the plan flags who needs the replay; the result still equals the
reference evaluator for every subject, and subjects that cannot be affected are not replayed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.compute.batch import connect, score_batch, source_from_records
from credence.policy.load import PolicySet, load_policy
from credence.policy.model import PolicyVersion
from credence.records import Record
from tests.compute.test_batch_support import (
    DIFFERENTIAL,
    comparable,
    list_dicts,
    population,
    reference_rows,
)
from tests.strategies import DURATIONS, eval_days, version_dicts

LIBRARY = "src/credence/policy/library"


@st.composite
def history_policies(draw: st.DrawFn) -> PolicySet:
    """A random policy with a credit kind and/or a stage ladder (clamp or hold)."""
    doc: dict[str, Any] = draw(version_dicts(weighted=draw(st.booleans())))
    doc["lists"] = draw(list_dicts(doc))
    merit = doc["direction"] == "higher_is_better"
    if len(doc["rules"]) > 1 and draw(st.booleans()):
        gone = doc["rules"].pop()
        points = draw(st.integers(1, 40)) * (1 if merit else -1)
        credit: dict[str, Any] = {
            **{k: v for k, v in gone.items() if k not in ("points", "expires_after")},
            "points": points,
            "expires_after": draw(st.sampled_from(DURATIONS)),
            "at_most": {"count": draw(st.integers(1, 3)), "per": draw(st.sampled_from(DURATIONS))},
        }
        if draw(st.booleans()):
            low, high = doc["scale"]["min"], doc["scale"]["max"]
            credit["score_range"] = {"min": draw(st.integers(low, high))}
        doc["credits"] = [credit]
    if draw(st.booleans()) or "credits" not in doc:
        low, high = doc["scale"]["min"], doc["scale"]["max"]
        cuts = sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=3)))
        ladder = cuts[::-1] if merit else cuts
        doc["stages"] = {
            "on_skip": draw(st.sampled_from(["clamp", "hold"])),
            "require_earlier_notices": draw(st.booleans()),
            "service_lag": draw(st.sampled_from(["P0D", "P10D"])),
            "ladder": [{"id": f"st{i}", "threshold": t} for i, t in enumerate(ladder)],
        }
    return PolicySet.of(PolicyVersion.model_validate(doc))


@settings(DIFFERENTIAL, max_examples=60)
@given(history_policies(), population(), eval_days, st.sampled_from([0, 0, 30]))
def test_history_dependent_policies_equal_reference(policy, recs, as_of, lag) -> None:
    known = as_of + timedelta(days=lag)
    con = connect("duckdb")
    result = score_batch(policy, source_from_records(con, recs), as_of, known)
    assert result.table is not None
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = {k: comparable(v) for k, v in reference_rows(policy, recs, as_of, known, con).items()}
    assert got == want


def _rec(rid: str, subject: str, kind: str, day: date) -> Record:
    return Record(
        record_id=rid,
        source="authority",
        source_record_id=rid,
        subject_id=subject,
        kind=kind,
        occurred_on=day,
        effective_on=day,
        recorded_at=datetime.combine(day, time(), tzinfo=UTC),
    )


def test_only_subjects_that_can_reach_a_clamp_are_replayed() -> None:
    policy = load_policy(f"{LIBRARY}/licence-demerit.yaml")
    day = date(2026, 3, 1)
    recs = [
        _rec("a1", "light", "traffic.offence_minor", day),  # 1 point: can never reach 6
        _rec("b1", "heavy", "traffic.offence_criminal", day),
        _rec("b2", "heavy", "traffic.offence_criminal", day + timedelta(days=1)),
        _rec("c1", "seminar", "course.aptitude_seminar", day),  # a credit: decided by replay
    ]
    con = connect("duckdb")
    result = score_batch(policy, source_from_records(con, recs), date(2026, 6, 1), date(2026, 6, 1))
    assert result.table is not None
    replayed = {r["subject_id"]: r["replayed"] for r in result.table.to_pylist()}
    assert replayed == {"light": False, "heavy": True, "seminar": True}
    assert result.replayed == 2
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = reference_rows(policy, recs, date(2026, 6, 1), date(2026, 6, 1), con)
    assert got == {k: comparable(v) for k, v in want.items()}


def test_a_written_result_has_its_flagged_rows_replaced(tmp_path: Path) -> None:
    """Parquet out: the flagged rows (found by the file's statistics, then read) are replayed."""
    policy = load_policy(f"{LIBRARY}/licence-demerit.yaml")
    day = date(2026, 3, 1)
    recs = [
        _rec("a1", "light", "traffic.offence_minor", day),
        _rec("b1", "heavy", "traffic.offence_criminal", day),
        _rec("b2", "heavy", "traffic.offence_criminal", day + timedelta(days=1)),
    ]
    con = connect("duckdb")
    as_of = date(2026, 6, 1)
    out = tmp_path / "out.parquet"
    result = score_batch(policy, source_from_records(con, recs), as_of, as_of, output=out)
    assert (result.subjects, result.replayed) == (2, 1)
    rows = {r["subject_id"]: r for r in pq.read_table(out).to_pylist()}
    assert {k: r["replayed"] for k, r in rows.items()} == {"light": False, "heavy": True}
    want = reference_rows(policy, recs, as_of, as_of, con)
    assert {k: comparable(r) for k, r in rows.items()} == {
        k: comparable(v) for k, v in want.items()
    }
    light = score_batch(policy, source_from_records(con, recs[:1]), as_of, as_of, output=out)
    assert (light.subjects, light.replayed) == (1, 0)


def test_a_policy_without_history_replays_nobody() -> None:
    policy = load_policy(f"{LIBRARY}/court-debtor-list.yaml")
    version = policy.latest
    kind = version.rules[0].kind
    recs = [_rec(f"r{i}", f"s{i % 3}", kind, version.effective_from) for i in range(6)]
    con = connect("duckdb")
    as_of = version.effective_from + timedelta(days=400)
    result = score_batch(policy, source_from_records(con, recs), as_of, as_of)
    assert result.replayed == 0
    assert result.subjects == 3


def test_a_base_score_already_past_the_second_rung_is_replayed() -> None:
    # No rule can lower the score, but the base itself sits at the second rung: a clamp
    # follows on the first day, so the subject must be replayed.
    doc = {
        "id": "gen",
        "version": "1",
        "effective_from": date(2025, 1, 1),
        "direction": "higher_is_better",
        "scale": {"base": 0, "min": -100, "max": 100},
        "grades": [{"grade": "G0", "min": -100, "max": 100}],
        "categories": [{"id": "c0"}],
        "rules": [
            {"kind": "k0", "category": "c0", "points": 5, "legal_basis": "x"}
            | {"data_category": "administrative"}
        ],
        "stages": {
            "on_skip": "clamp",
            "ladder": [{"id": "a", "threshold": 10}, {"id": "b", "threshold": 0}],
        },
    }
    policy = PolicySet.of(PolicyVersion.model_validate(doc))
    recs = [_rec("r1", "s0", "k0", date(2025, 1, 1))]
    con = connect("duckdb")
    day = date(2025, 1, 1)
    result = score_batch(policy, source_from_records(con, recs), day, day)
    assert result.replayed == 1
    assert result.table is not None
    got = {r["subject_id"]: comparable(r) for r in result.table.to_pylist()}
    want = {k: comparable(v) for k, v in reference_rows(policy, recs, day, day).items()}
    assert got == want
