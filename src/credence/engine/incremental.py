"""Incremental rescoring: rescore only the subjects whose result can have changed since last run.

Between a run at (as_of D0, known_at K0) and one at (D1, K1), with D0 <= D1 and K0 <= K1, a
subject's score, grade, category totals and list criteria change only if one of its records

* became known (recorded, or became final) in (K0, K1], or changed status in (K0, K1];
* starts counting (its occurred or effective date) in (D0, D1];
* crosses an expiry date in (D0, D1] under the rule of any version;

or a policy version starts in (D0, D1] (then everyone is rescored). For subjects assessed by
the timeline replay (credits, stage clamps) the replay also walks the days between D0 and K0 with
what was known on each day, so for them the window is (D0, K1]; using that wider window for
everyone keeps one simple scan and is still exact. A replayed subject with a pending stage step
(a notice not yet served, a deadline or a measure falling due) after D0 is rescored when that
day falls in the interval.

The state of the last run lives in a folder: ``assessments.parquet`` (the full batch result)
and ``state.json`` (policy fingerprint, as_of, known_at). A run that cannot be incremental (no
state, another policy, dates going backwards, a version starting in the interval) is a full run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import reduce
from pathlib import Path
from typing import Any

import duckdb
import ibis  # type: ignore[import-untyped]
import ibis.expr.types as ir  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.parquet as pq

from credence.engine.batch import BatchSource, layout, score_batch
from credence.engine.batch_compile import expiry_threshold
from credence.policy.load import PolicySet
from credence.policy.model import CountFrom

RESULT = "assessments.parquet"
STATE = "state.json"


@dataclass(frozen=True)
class IncrementalResult:
    """What an incremental run did."""

    full: bool
    reason: str
    subjects: int
    rescored: int
    replayed: int
    grades: dict[str, int]
    seconds: float
    path: Path


def fingerprint(policy: PolicySet) -> str:
    """A hash of every version of the policy: a changed policy means a full rescore."""
    body = json.dumps(
        [v.model_dump(mode="json", exclude={"tests"}) for v in policy.versions], sort_keys=True
    )
    return hashlib.sha256(body.encode()).hexdigest()


def touched_subjects(policy: PolicySet, source: BatchSource, since: date, until: date) -> ir.Table:
    """Subjects with a record event (known, final, counting, expiring, status) in (since, until]."""
    r = source.records
    recs, status = source.normalised(until)
    lo, hi = ibis.literal(since), ibis.literal(until)

    def within(col: ir.DateValue) -> ir.BooleanValue:
        return (col > lo) & (col <= hi)

    conds = [within(recs.occurred_on), within(recs.effective_on), within(recs.recorded_on)]
    for version in policy.versions:
        for rule in (*version.rules, *version.credits):
            if rule.expires_after is None:
                continue
            anchor = (
                recs.occurred_on if rule.expiry_from is CountFrom.OCCURRED else recs.effective_on
            )
            # Expiry in (lo, hi] <=> anchor in [T(lo), T(hi)); see expiry_threshold.
            first = ibis.literal(expiry_threshold(rule.expires_after, since))
            last = ibis.literal(expiry_threshold(rule.expires_after, until))
            conds.append((recs.kind == rule.kind) & (anchor >= first) & (anchor < last))
    by_record = recs.filter(reduce(lambda a, b: a | b, conds)).select("subject_id")
    changed = status.filter(within(status.on)).select("record_id")
    by_status = recs.filter(recs.record_id.isin(changed.record_id)).select("subject_id")
    parts = [by_record, by_status]
    if source.ingested_column:
        ing = r[source.ingested_column].cast("timestamp").date()
        parts.append(r.filter((ing > lo) & (ing <= hi)).select("subject_id"))
    return reduce(lambda a, b: a.union(b, distinct=False), parts).distinct()


def _read_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE
    if not path.exists() or not (folder / RESULT).exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write_state(folder: Path, policy: PolicySet, as_of: date, known_at: date) -> None:
    state = {
        "policy_id": policy.id,
        "fingerprint": fingerprint(policy),
        "as_of": as_of.isoformat(),
        "known_at": known_at.isoformat(),
    }
    tmp = folder / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / STATE)


def _why_full(
    state: dict[str, Any] | None, policy: PolicySet, as_of: date, known_at: date
) -> str | None:
    if state is None:
        return "no previous run"
    if state.get("fingerprint") != fingerprint(policy):
        return "the policy changed"
    d0, k0 = date.fromisoformat(state["as_of"]), date.fromisoformat(state["known_at"])
    if as_of < d0 or known_at < k0:
        return "the dates go backwards"
    started = [v.version for v in policy.versions if d0 < v.effective_from <= as_of]
    if started:
        return f"version {started[-1]} came into force"
    return None


def score_incremental(
    policy: PolicySet,
    source: BatchSource,
    as_of: date,
    known_at: date,
    folder: str | Path,
) -> IncrementalResult:
    """Bring the assessments in ``folder`` to (as_of, known_at), rescoring only what changed."""
    started = time.perf_counter()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = _read_state(out)
    reason = _why_full(state, policy, as_of, known_at)
    if reason is not None:
        tmp = out / (RESULT + ".tmp")
        full = score_batch(policy, source, as_of, known_at, output=tmp)
        tmp.replace(out / RESULT)
        _write_state(out, policy, as_of, known_at)
        return IncrementalResult(
            True,
            reason,
            full.subjects,
            full.subjects,
            full.replayed,
            full.grades,
            time.perf_counter() - started,
            out / RESULT,
        )
    assert state is not None
    d0 = date.fromisoformat(state["as_of"])
    ids = set(
        touched_subjects(policy, source, d0, max(as_of, known_at))
        .to_pyarrow()
        .column("subject_id")
        .to_pylist()
    )
    ids |= _stage_due(out / RESULT, as_of)
    fresh = score_batch(policy, source, as_of, known_at, subjects=sorted(ids)) if ids else None
    schema = layout(policy, as_of)
    table = fresh.table if fresh is not None and fresh.table is not None else schema.empty_table()
    grades, n = _merge(out, table, as_of, known_at, schema)
    _write_state(out, policy, as_of, known_at)
    return IncrementalResult(
        False,
        "incremental",
        n,
        table.num_rows,
        fresh.replayed if fresh is not None else 0,
        grades,
        time.perf_counter() - started,
        out / RESULT,
    )


def _stage_due(result: Path, as_of: date) -> set[str]:
    """Replayed subjects whose next stage step falls on or before ``as_of``."""
    con = duckdb.connect()
    try:
        names = pq.ParquetFile(str(result)).schema_arrow.names
        if "next_stage_day" not in names:
            return set()
        rows = con.execute(
            "SELECT subject_id FROM read_parquet(?) WHERE next_stage_day <= ?",
            [str(result), as_of],
        ).fetchall()
        return {r[0] for r in rows}
    finally:
        con.close()


def _merge(
    folder: Path, fresh: pa.Table, as_of: date, known_at: date, schema: pa.Schema
) -> tuple[dict[str, int], int]:
    """Replace the rescored subjects' rows and restamp the rest with the new dates."""
    con = duckdb.connect()
    try:
        con.register("fresh", fresh.cast(schema))
        old = str(folder / RESULT)
        tmp = folder / (RESULT + ".tmp")
        # Column order as in the schema, with the two dates restamped on the kept rows.
        select_old = ", ".join(
            "?::DATE AS as_of"
            if c == "as_of"
            else "?::DATE AS known_at"
            if c == "known_at"
            else f'o."{c}"'
            for c in schema.names
        )
        select_new = ", ".join(f'"{c}"' for c in schema.names)
        con.execute(
            f"COPY (SELECT {select_old} FROM read_parquet(?) o "
            "WHERE o.subject_id NOT IN (SELECT subject_id FROM fresh) "
            f"UNION ALL SELECT {select_new} FROM fresh) TO '{tmp}' (FORMAT parquet)",
            [as_of, known_at, old],
        )
        tmp.replace(folder / RESULT)
        rows = con.execute(
            "SELECT grade, count(*) FROM read_parquet(?) GROUP BY grade",
            [str(folder / RESULT)],
        ).fetchall()
        grades = {str(g): int(n) for g, n in rows}
        return grades, sum(grades.values())
    finally:
        con.close()


def subjects_of(result: Path) -> Sequence[str]:
    """The subject ids of a stored result (for tests and reports)."""
    table = pq.read_table(str(result), columns=["subject_id"])
    ids: list[str] = table.column("subject_id").to_pylist()
    return ids
