"""Incremental rescoring: rescore only the subjects whose result can have changed since last run.

Between a run at (as_of D0, known_at K0) and one at (D1, K1), with D0 <= D1 and K0 <= K1, a
subject's score, grade, category totals and list criteria change only if one of its records

* became known (recorded, or became final) in (K0, K1], or changed status in (K0, K1];
* starts counting (its occurred or effective date) in (D0, D1];
* crosses an expiry date in (D0, D1] under the rule of any version;

or a policy version starts in (D0, D1] (then everyone is rescored). For subjects assessed by
the timeline replay (credits, stage clamps) the replay also walks the days between D0 and K0 with
what was known on each day, so for them the window is (D0, K1]; using that wider window for
everyone is still exact. A replayed subject with a pending stage step (a notice not yet served, a
deadline or a measure falling due) is rescored when that day falls in the interval.

The state lives in one DuckDB database in a folder (``state.duckdb``): the last result, one row
per subject, and the run it belongs to (policy fingerprint, as_of, known_at, the source's
fingerprint), written in one transaction. Each row keeps its **calendar**: ``next_change``, the
first day after its as_of on which any of the subject's records starts to count, becomes known,
changes status or expires (see :meth:`credence.engine.batch_compile._Compiler.with_next_event`).
A night then finds the subjects to rescore without reading the records:

* the subjects whose ``next_change`` (or ``next_stage_day``) falls in the interval;
* plus what is new in the data: for the store, the records ingested and the status changes logged
  since the day before the last run; for Parquet files unchanged since the last run (same
  files, inodes, sizes and times), nothing; for changed files, every subject with a record
  event in the interval or a record dated after it; for any other source, every subject with a
  record event in the interval (one scan, :func:`touched_subjects`).

Only those subjects' rows are replaced, in place. A run that cannot be incremental (no state,
another policy, dates going backwards, a version starting in the interval) is a full run.
:func:`export_result` writes the stored result as the batch's Parquet (every row restamped with
the run's dates).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce
from pathlib import Path
from typing import Any

import duckdb
import ibis  # type: ignore[import-untyped]
import ibis.expr.types as ir  # type: ignore[import-untyped]
import pyarrow as pa

from credence.engine.batch import BatchSource, score_batch, scratch_dir
from credence.engine.batch_compile import expiry_threshold
from credence.policy.load import PolicySet
from credence.policy.model import CountFrom

STATE_DB = "state.duckdb"
# Restamped on export: every stored row is valid at the last run's dates.
_STAMPS = ("as_of", "known_at")


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


def _read_state(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The last run's description, or None before the first full run."""
    row = con.execute("SELECT body FROM run").fetchone()
    if row is None:
        return None
    data: dict[str, Any] = json.loads(row[0])
    return data


def _state_body(
    policy: PolicySet, source: BatchSource, as_of: date, known_at: date, calendar: bool
) -> str:
    return json.dumps(
        {
            "policy_id": policy.id,
            "fingerprint": fingerprint(policy),
            "as_of": as_of.isoformat(),
            "known_at": known_at.isoformat(),
            "source": source.fingerprint(),
            "identity": source.identity,
            "calendar": calendar,
        }
    )


def _why_full(
    state: dict[str, Any] | None,
    policy: PolicySet,
    source: BatchSource,
    as_of: date,
    known_at: date,
    calendar: bool,
) -> str | None:
    if state is None:
        return "no previous run"
    if state.get("fingerprint") != fingerprint(policy):
        return "the policy changed"
    if state.get("identity") != source.identity:
        return "the records come from elsewhere"
    if calendar and not state.get("calendar"):
        # Rows written without a calendar would never fall due.
        return "the stored result has no calendar"
    d0, k0 = date.fromisoformat(state["as_of"]), date.fromisoformat(state["known_at"])
    if as_of < d0 or known_at < k0:
        return "the dates go backwards"
    started = [v.version for v in policy.versions if d0 < v.effective_from <= as_of]
    if started:
        return f"version {started[-1]} came into force"
    return None


def _open(folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(folder / STATE_DB))
    con.execute("CREATE TABLE IF NOT EXISTS run (body VARCHAR)")
    return con


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
    # The calendar's expiry days are the backend's date arithmetic, which DuckDB and PostgreSQL
    # do as the reference evaluator does; elsewhere every night scans for record events.
    calendar = source.con.name in ("duckdb", "postgres")
    con = _open(out)
    try:
        state = _read_state(con)
        reason = _why_full(state, policy, source, as_of, known_at, calendar)
        if reason is not None:
            full = _full_run(con, policy, source, as_of, known_at, calendar)
            grades = _grades(con)
            return IncrementalResult(
                True,
                reason,
                sum(grades.values()),
                sum(grades.values()),
                full,
                grades,
                time.perf_counter() - started,
                out / STATE_DB,
            )
        assert state is not None
        d0 = date.fromisoformat(state["as_of"])
        hi = max(as_of, known_at)
        ids = _due(con, as_of, hi, calendar)
        ids |= _new_in_data(policy, source, state, d0, hi, calendar)
        fresh = (
            score_batch(policy, source, as_of, known_at, subjects=sorted(ids), calendar=calendar)
            if ids
            else None
        )
        table = fresh.table if fresh is not None and fresh.table is not None else None
        _replace(con, sorted(ids), table, _state_body(policy, source, as_of, known_at, calendar))
        grades = _grades(con)
        return IncrementalResult(
            False,
            "incremental",
            sum(grades.values()),
            table.num_rows if table is not None else 0,
            fresh.replayed if fresh is not None else 0,
            grades,
            time.perf_counter() - started,
            out / STATE_DB,
        )
    finally:
        con.close()


def _full_run(
    con: duckdb.DuckDBPyConnection,
    policy: PolicySet,
    source: BatchSource,
    as_of: date,
    known_at: date,
    calendar: bool,
) -> int:
    """Score everyone into a fresh ``assessments`` table; return how many were replayed."""
    tmp = scratch_dir() / f"incremental-{time.monotonic_ns()}.parquet"
    try:
        full = score_batch(policy, source, as_of, known_at, output=tmp, calendar=calendar)
        no_calendar = "" if calendar else ", NULL::DATE AS next_change"
        con.execute("BEGIN")
        con.execute("DROP TABLE IF EXISTS assessments")
        con.execute(
            "CREATE TABLE assessments AS "
            f"SELECT * EXCLUDE (as_of, known_at){no_calendar} FROM read_parquet(?)",
            [str(tmp)],
        )
        con.execute("DELETE FROM run")
        con.execute(
            "INSERT INTO run VALUES (?)",
            [_state_body(policy, source, as_of, known_at, calendar)],
        )
        con.execute("COMMIT")
        return full.replayed
    finally:
        tmp.unlink(missing_ok=True)


def _due(con: duckdb.DuckDBPyConnection, as_of: date, hi: date, calendar: bool) -> set[str]:
    """Subjects whose calendar or pending stage step falls due by this run."""
    query = "SELECT subject_id FROM assessments WHERE next_stage_day <= ?"
    params: list[Any] = [as_of]
    if calendar:
        query += " OR next_change <= ?"
        params.append(hi)
    return {r[0] for r in con.execute(query, params).fetchall()}


def _new_in_data(
    policy: PolicySet,
    source: BatchSource,
    state: dict[str, Any],
    d0: date,
    hi: date,
    calendar: bool,
) -> set[str]:
    """Subjects with data the last run's calendar could not know of."""
    if not calendar:
        found = touched_subjects(policy, source, d0, hi)
    elif source.ingested_column:
        found = _store_delta(source, d0 - timedelta(days=1), hi)
    else:
        now = source.fingerprint()
        if now is not None and now == state.get("source"):
            return set()
        # Changed files: a record added with every day after this run's would be in no window
        # tonight and, the files unchanged tomorrow, in no calendar either; so it counts now.
        found = touched_subjects(policy, source, d0, hi).union(
            _dated_after(source, hi), distinct=True
        )
    return set(found.to_pyarrow().column("subject_id").to_pylist())


def _dated_after(source: BatchSource, day: date) -> ir.Table:
    """Subjects with a record, or a status change, dated after ``day``."""
    recs, status = source.normalised(date.max)
    after = ibis.literal(day)
    later = status.filter(status.on > after).select("record_id")
    return recs.filter(
        (recs.occurred_on > after)
        | (recs.effective_on > after)
        | (recs.recorded_on > after)
        | recs.record_id.isin(later.record_id)
    ).select("subject_id")


def _store_delta(source: BatchSource, since: date, until: date) -> ir.Table:
    """Subjects with records ingested, or status changes logged, in [since, until].

    Inclusive, and called with the day before the last run's: a row committed after the last
    run read the store may carry that run's day, or the day before when its batch was stamped
    before midnight.
    """
    r = source.records
    lo, hi = ibis.literal(since), ibis.literal(until)
    assert source.ingested_column is not None
    ing = r[source.ingested_column].cast("timestamp").date()
    parts = [r.filter((ing >= lo) & (ing <= hi)).select("subject_id")]
    if source.status is not None and source.logged_column:
        s = source.status
        logged = s[source.logged_column].cast("timestamp").date()
        changed = s.filter((logged >= lo) & (logged <= hi)).select("record_id")
        parts.append(r.filter(r.record_id.isin(changed.record_id)).select("subject_id"))
    return reduce(lambda a, b: a.union(b, distinct=False), parts).distinct()


def _replace(
    con: duckdb.DuckDBPyConnection, ids: Sequence[str], fresh: pa.Table | None, body: str
) -> None:
    """Replace the rows of ``ids`` with ``fresh`` and record the run, in one transaction."""
    con.execute("BEGIN")
    if ids:
        con.register("touched", pa.table({"subject_id": pa.array(ids, pa.string())}))
        con.execute("DELETE FROM assessments WHERE subject_id IN (SELECT subject_id FROM touched)")
        con.unregister("touched")
    if fresh is not None and fresh.num_rows:
        stored = fresh.drop_columns(list(_STAMPS))
        con.register("fresh", stored)
        names = ", ".join(f'"{c}"' for c in stored.column_names)
        con.execute(f"INSERT INTO assessments ({names}) SELECT {names} FROM fresh")
        con.unregister("fresh")
    con.execute("DELETE FROM run")
    con.execute("INSERT INTO run VALUES (?)", [body])
    con.execute("COMMIT")


def _grades(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute("SELECT grade, count(*) FROM assessments GROUP BY grade").fetchall()
    return {str(g): int(n) for g, n in rows}


def export_result(folder: str | Path, path: str | Path) -> Path:
    """Write the stored result as the batch's Parquet, sorted by subject, dates restamped."""
    con = _open(Path(folder))
    try:
        state = _read_state(con)
        if state is None:
            raise FileNotFoundError(f"no incremental state in {folder}")
        schema = _result_columns(con)
        cols = ", ".join(f"DATE '{state[c]}' AS {c}" if c in _STAMPS else f'"{c}"' for c in schema)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and moved into place: a killed export leaves the last one whole.
        tmp = target.with_name(f".{target.name}.{time.monotonic_ns()}.tmp")
        quoted = str(tmp).replace("'", "''")
        try:
            con.execute(
                f"COPY (SELECT {cols} FROM assessments ORDER BY subject_id) "
                f"TO '{quoted}' (FORMAT parquet)"
            )
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return target
    finally:
        con.close()


def _result_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The batch result's columns, in order, from the stored table (calendar left out)."""
    stored = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'assessments' ORDER BY ordinal_position"
        ).fetchall()
    ]
    body = [c for c in stored if c != "next_change"]
    # as_of and known_at sit after the policy version, as in the batch output.
    i = body.index("policy_version") + 1
    return [*body[:i], *_STAMPS, *body[i:]]
