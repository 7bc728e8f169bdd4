"""Benchmark of batch scoring: the compiled plan against hand-written queries and the reference.

    python benchmarks/batch.py --subjects 1000000 --records 10000000

Generates a seeded population for the bundled ``city-merit`` policy (rule kinds only: credits
are left out so that the hand-written queries, which do not replay history, compute the same
thing), then runs, each in its own process so that each peak RSS is its own:

* ``batch``: :func:`credence.compute.batch.score_batch` on DuckDB, Parquet in, Parquet out;
* ``sql``: a hand-written DuckDB SQL query for the same policy;
* ``polars``: a hand-written Polars lazy query for the same policy;
* ``reference``: the reference evaluator looping per subject over a sample, extrapolated;
* ``incremental``: three nights of incremental rescoring after a full run, each timed.

It prints records/s, wall time and peak RSS for each, the ratios, and whether the three
population results agree (same score and grade for every subject).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

POLICY = "city-merit"
AS_OF = date(2027, 3, 1)
# (kind, source, share in percent); shares add up to 100.
KINDS = [
    ("civic.traffic_violation", "traffic_police", 30),
    ("civic.traffic_serious", "traffic_police", 8),
    ("civic.award", "city_hall", 7),
    ("financial.tax_arrears", "tax_office", 15),
    ("financial.utility_arrears", "utility", 20),
    ("financial.loan_default", "bank", 8),
    ("legal.admin_penalty", "inspectorate", 9),
    ("legal.judgment_unfulfilled", "court", 3),
]


def generate(folder: Path, subjects: int, records: int, seed: int) -> tuple[Path, Path]:
    """Write records.parquet and status.parquet (1% of records change status), deterministically."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    rec, st = folder / "records.parquet", folder / "status.parquet"
    if rec.exists() and st.exists():
        return rec, st
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    bounds, acc = [], 0
    for kind, source, share in KINDS:
        acc += share
        bounds.append(f"WHEN k < {acc} THEN ['{kind}', '{source}']")
    kind_case = "CASE " + " ".join(bounds) + " END"

    def h(n: int) -> str:
        # DuckDB's hash is a pure function of its arguments: the same data on every run.
        return f"hash(i, {seed}, {n})"

    con.execute(
        f"""
        COPY (
          WITH base AS (
            SELECT i,
                   ({h(1)} % {subjects})::BIGINT AS s,
                   ({h(2)} % 100)::INT AS k,
                   DATE '2025-06-01' + ({h(3)} % 640)::INT AS occ,
                   CASE WHEN {h(4)} % 10 < 7 THEN 0 ELSE ({h(5)} % 120)::INT END AS lag,
                   ({h(6)} % 40)::INT AS rec_lag,
                   ({h(7)} % 25000)::DECIMAL(38, 10) AS amt
            FROM range({records}) t(i)
          ), kinds AS (SELECT *, {kind_case} AS ks FROM base)
          SELECT printf('r%012d', i) AS record_id,
                 ks[2] AS source,
                 printf('%d', i) AS source_record_id,
                 printf('s%010d', s) AS subject_id,
                 ks[1] AS kind,
                 occ AS occurred_on,
                 occ + lag AS effective_on,
                 (occ + lag + rec_lag)::TIMESTAMP + INTERVAL 9 HOUR AS recorded_at,
                 CASE WHEN ks[1] = 'financial.tax_arrears' THEN amt END AS amount
          FROM kinds
        ) TO '{rec}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
        """
    )
    con.execute(
        f"""
        COPY (
          SELECT record_id, 0::BIGINT AS seq,
                 ['revoked', 'contested', 'overturned', 'upheld'][1 + (hash(record_id) % 4)::INT]
                   AS status,
                 recorded_at + INTERVAL 20 DAY AS at, NULL::VARCHAR AS ref
          FROM read_parquet('{rec}') WHERE hash(record_id, {seed}) % 100 = 0
        ) TO '{st}' (FORMAT parquet)
        """
    )
    con.close()
    return rec, st


# The hand-written queries encode city-merit at AS_OF by hand: nothing before 1 January 2026
# counts (no rule was in force); version 2026.2 is in force; traffic violations before 1 July
# 2026 were -5 for a year, now -3 for six months (lex mitior). r and v are read twice (all
# records, and the traffic records that compete within an act): NOT MATERIALIZED keeps DuckDB
# from writing every record to a temporary table first (4.1 s against 3.2 s at 10M records).
SQL = """
WITH last AS (
  SELECT record_id, status FROM (
    SELECT record_id, status,
           row_number() OVER (PARTITION BY record_id ORDER BY seq DESC) AS n
    FROM read_parquet('{st}') WHERE CAST("at" AS DATE) <= DATE '{d}'
  ) WHERE n = 1
), r AS NOT MATERIALIZED (
  SELECT r.subject_id, r.record_id, r.kind, r.occurred_on, r.effective_on, r.amount,
         (CAST(r.recorded_at AS DATE) <= DATE '{d}' AND r.effective_on <= DATE '{d}'
          AND r.occurred_on <= DATE '{d}' AND r.occurred_on >= DATE '2026-01-01'
          AND coalesce(l.status, 'active') NOT IN
              ('overturned', 'revoked', 'corrected_by', 'lapsed', 'contested')) AS ok
  FROM read_parquet('{rec}') r LEFT JOIN last l USING (record_id)
), v AS NOT MATERIALIZED (
  SELECT subject_id, record_id, occurred_on, kind,
    CASE WHEN NOT ok THEN NULL
      WHEN kind = 'civic.traffic_violation' THEN
        CASE WHEN occurred_on >= DATE '2026-07-01' THEN
               CASE WHEN occurred_on + INTERVAL 6 MONTH > DATE '{d}' THEN -3 END
             WHEN greatest(CASE WHEN occurred_on + INTERVAL 6 MONTH > DATE '{d}' THEN -3 ELSE 0 END,
                           CASE WHEN occurred_on + INTERVAL 1 YEAR > DATE '{d}' THEN -5 ELSE 0 END)
                  = 0 THEN NULL
             ELSE CASE WHEN occurred_on + INTERVAL 6 MONTH > DATE '{d}' THEN -3 END END
      WHEN kind = 'civic.traffic_serious' AND occurred_on + INTERVAL 2 YEAR > DATE '{d}' THEN -20
      WHEN kind = 'civic.award' AND occurred_on + INTERVAL 3 YEAR > DATE '{d}' THEN 30
      WHEN kind = 'financial.tax_arrears' AND effective_on + INTERVAL 3 YEAR > DATE '{d}' THEN
        CASE WHEN amount >= 10000 THEN -80 WHEN amount >= 1000 THEN -30
             WHEN amount >= 0 THEN -10 END
      WHEN kind = 'financial.utility_arrears' AND occurred_on + INTERVAL 1 YEAR > DATE '{d}'
        THEN -5
      WHEN kind = 'financial.loan_default' AND effective_on + INTERVAL 5 YEAR > DATE '{d}'
        THEN -50
      WHEN kind = 'legal.admin_penalty' AND effective_on + INTERVAL 2 YEAR > DATE '{d}' THEN -10
      WHEN kind = 'legal.judgment_unfulfilled' AND effective_on + INTERVAL 5 YEAR > DATE '{d}'
        THEN -100
    END AS pts
  FROM r
), g AS (
  SELECT subject_id, kind, CASE WHEN n = 1 THEN pts END AS pts FROM (
    SELECT *, row_number() OVER (PARTITION BY subject_id, occurred_on
                                 ORDER BY abs(pts) DESC, record_id) AS n
    FROM v WHERE pts IS NOT NULL AND kind IN ('civic.traffic_violation', 'civic.traffic_serious')
  )
  UNION ALL
  SELECT subject_id, kind, pts FROM v
  WHERE pts IS NULL OR kind NOT IN ('civic.traffic_violation', 'civic.traffic_serious')
), s AS (
  SELECT subject_id,
    coalesce(sum(pts) FILTER (WHERE kind LIKE 'civic.%'), 0) AS civic,
    coalesce(sum(pts) FILTER (WHERE kind LIKE 'financial.%'), 0) AS financial,
    coalesce(sum(pts) FILTER (WHERE kind LIKE 'legal.%'), 0) AS legal
  FROM g GROUP BY subject_id
), sc AS (
  SELECT subject_id, civic, financial, legal,
    least(greatest(1000 + least(greatest(civic, -200), 100) + greatest(financial, -400)
                   + greatest(legal, -600), 0), 1300) AS score
  FROM s
)
SELECT subject_id, score,
  CASE WHEN score <= 599 THEN 'D' WHEN score <= 849 THEN 'C' WHEN score <= 959 THEN 'B'
       WHEN score <= 1029 THEN 'A' WHEN score <= 1049 THEN 'AA' ELSE 'AAA' END AS grade,
  civic, financial, legal
FROM sc
"""


def run_sql(rec: Path, st: Path, out: Path, memory: str) -> dict[str, Any]:
    """The hand-written DuckDB query."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory}'")
    con.execute(f"SET temp_directory = '{SPILL}'")
    con.execute("SET TimeZone = 'UTC'")
    query = SQL.format(rec=rec, st=st, d=AS_OF.isoformat())
    con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
    return {}


def run_polars(rec: Path, st: Path, out: Path) -> dict[str, Any]:
    """The hand-written Polars lazy query."""
    import polars as pl

    d = AS_OF

    def alive(col: str, months: int) -> pl.Expr:
        return pl.col(col).dt.offset_by(f"{months}mo") > pl.lit(d)

    last = (
        pl.scan_parquet(st)
        .filter(pl.col("at").dt.date() <= d)
        .sort("seq")
        .group_by("record_id")
        .agg(pl.col("status").last())
    )
    r = pl.scan_parquet(rec).join(last, on="record_id", how="left")
    ok = (
        (pl.col("recorded_at").dt.date() <= d)
        & (pl.col("effective_on") <= d)
        & (pl.col("occurred_on") <= d)
        & (pl.col("occurred_on") >= date(2026, 1, 1))
        & ~pl.col("status")
        .fill_null("active")
        .is_in(["overturned", "revoked", "corrected_by", "lapsed", "contested"])
    )
    kind = pl.col("kind")
    amount = pl.col("amount")
    v6 = pl.when(alive("occurred_on", 6)).then(-3).otherwise(0)
    v12 = pl.when(alive("occurred_on", 12)).then(-5).otherwise(0)
    tv = (
        pl.when(pl.col("occurred_on") >= date(2026, 7, 1))
        .then(pl.when(alive("occurred_on", 6)).then(-3))
        .when(pl.max_horizontal(v6, v12) == 0)
        .then(None)
        .otherwise(pl.when(alive("occurred_on", 6)).then(-3))
    )
    pts = (
        pl.when(~ok)
        .then(None)
        .when(kind == "civic.traffic_violation")
        .then(tv)
        .when((kind == "civic.traffic_serious") & alive("occurred_on", 24))
        .then(-20)
        .when((kind == "civic.award") & alive("occurred_on", 36))
        .then(30)
        .when((kind == "financial.tax_arrears") & alive("effective_on", 36))
        .then(
            pl.when(amount >= 10000)
            .then(-80)
            .when(amount >= 1000)
            .then(-30)
            .when(amount >= 0)
            .then(-10)
        )
        .when((kind == "financial.utility_arrears") & alive("occurred_on", 12))
        .then(-5)
        .when((kind == "financial.loan_default") & alive("effective_on", 60))
        .then(-50)
        .when((kind == "legal.admin_penalty") & alive("effective_on", 24))
        .then(-10)
        .when((kind == "legal.judgment_unfulfilled") & alive("effective_on", 60))
        .then(-100)
        .otherwise(None)
        .cast(pl.Int64)
    )
    v = r.select("subject_id", "record_id", "occurred_on", "kind", pts.alias("pts"))
    traffic = kind.is_in(["civic.traffic_violation", "civic.traffic_serious"])
    grouped = (
        v.filter(pl.col("pts").is_not_null() & traffic)
        .sort([pl.col("pts").abs(), "record_id"], descending=[True, False])
        .group_by(["subject_id", "occurred_on"])
        .agg(pl.col("kind").first(), pl.col("pts").first())
        .select("subject_id", "kind", "pts")
    )
    rest = v.filter(pl.col("pts").is_null() | ~traffic).select("subject_id", "kind", "pts")
    g = pl.concat([rest, grouped])
    s = g.group_by("subject_id").agg(
        pl.col("pts").filter(kind.str.starts_with("civic.")).sum().alias("civic"),
        pl.col("pts").filter(kind.str.starts_with("financial.")).sum().alias("financial"),
        pl.col("pts").filter(kind.str.starts_with("legal.")).sum().alias("legal"),
    )
    score = (
        1000
        + pl.col("civic").clip(-200, 100)
        + pl.col("financial").clip(lower_bound=-400)
        + pl.col("legal").clip(lower_bound=-600)
    ).clip(0, 1300)
    grade = (
        pl.when(pl.col("score") <= 599)
        .then(pl.lit("D"))
        .when(pl.col("score") <= 849)
        .then(pl.lit("C"))
        .when(pl.col("score") <= 959)
        .then(pl.lit("B"))
        .when(pl.col("score") <= 1029)
        .then(pl.lit("A"))
        .when(pl.col("score") <= 1049)
        .then(pl.lit("AA"))
        .otherwise(pl.lit("AAA"))
    )
    result = s.with_columns(score.alias("score")).with_columns(grade.alias("grade"))
    result.sink_parquet(out)
    return {}


def run_batch(rec: Path, st: Path, out: Path, memory: str) -> dict[str, Any]:
    """The compiled plan on DuckDB."""
    from credence.compute.batch import connect, score_batch, scratch_dir, source_from_parquet
    from credence.policy.library import resolve

    con = connect("duckdb", memory_limit=memory, temp_directory=str(scratch_dir()))
    result = score_batch(
        resolve(POLICY), source_from_parquet(con, rec, st), AS_OF, AS_OF, output=out
    )
    return {"subjects": result.subjects, "replayed": result.replayed, "grades": result.grades}


def run_incremental(rec: Path, st: Path, folder: Path, memory: str) -> dict[str, Any]:
    """A full run at AS_OF, then three nights of incremental rescoring, each timed."""

    from credence.compute.batch import connect, scratch_dir, source_from_parquet
    from credence.compute.incremental import score_incremental
    from credence.policy.library import resolve

    policy = resolve(POLICY)
    con = connect("duckdb", memory_limit=memory, temp_directory=str(scratch_dir()))
    source = source_from_parquet(con, rec, st)
    shutil.rmtree(folder, ignore_errors=True)
    first = score_incremental(policy, source, AS_OF, AS_OF, folder)
    nights = []
    for n in (1, 2, 3):
        day = AS_OF + timedelta(days=n)
        started = time.perf_counter()
        night = score_incremental(policy, source, day, day, folder)
        nights.append(
            {
                "day": day.isoformat(),
                "seconds": time.perf_counter() - started,
                "rescored": night.rescored,
                "full": night.full,
            }
        )
    return {"full_seconds": first.seconds, "subjects": first.subjects, "nights": nights}


def run_reference(rec: Path, st: Path, sample: int, subjects: int) -> dict[str, Any]:
    """The reference evaluator per subject on a sample of subjects, timed and extrapolated."""
    import duckdb

    from credence.compute.batch import BatchSource, connect, source_from_parquet
    from credence.engine.reference import evaluate
    from credence.policy.library import resolve

    policy = resolve(POLICY)
    con = connect("duckdb")
    src: BatchSource = source_from_parquet(con, rec, st)
    step = max(1, subjects // sample)
    ids = [f"s{i:010d}" for i in range(0, subjects, step)][:sample]
    by = src.records_of(ids, AS_OF)
    del duckdb
    started = time.perf_counter()
    n = 0
    for sid in ids:
        evaluate(policy, by.get(sid, []), AS_OF, AS_OF, subject_id=sid)
        n += len(by.get(sid, []))
    took = time.perf_counter() - started
    return {"sample": len(ids), "sample_records": n, "seconds": took}


IMPORTS = {
    "batch": ("credence.compute.batch", "credence.policy.library"),
    "sql": ("duckdb",),
    "polars": ("polars",),
}

# Where both DuckDB contenders spill (the batch's own scratch folder, on the same disk); each
# phase runs with a TMPDIR of its own, so the folder holds only its own spill.
SPILL = Path(tempfile.gettempdir()) / "credence-batch"


class _SpillWatch(threading.Thread):
    """Samples the size of the spill folder: how far past its memory limit a run went."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            total = 0
            for f in SPILL.rglob("*"):
                with contextlib.suppress(OSError):
                    total += f.stat().st_size if f.is_file() else 0
            self.peak = max(self.peak, total)
            time.sleep(0.25)


def _phase(args: argparse.Namespace) -> None:
    rec, st = Path(args.data) / "records.parquet", Path(args.data) / "status.parquet"
    out = Path(args.data) / f"out-{args.phase}.parquet"
    SPILL.mkdir(parents=True, exist_ok=True)
    watch = _SpillWatch()
    watch.start()
    started, cpu0 = time.perf_counter(), _cpu()
    # The contender's libraries, timed apart: a process's start-up, not its work.
    for module in IMPORTS.get(args.phase, ()):
        importlib.import_module(module)
    imports = time.perf_counter() - started
    if args.phase == "batch":
        extra = run_batch(rec, st, out, args.memory)
    elif args.phase == "sql":
        extra = run_sql(rec, st, out, args.memory)
    elif args.phase == "polars":
        extra = run_polars(rec, st, out)
    elif args.phase == "incremental":
        extra = run_incremental(rec, st, Path(args.data) / "state", args.memory)
    else:
        extra = run_reference(rec, st, args.sample, args.subjects)
    wall = time.perf_counter() - started
    watch.running = False
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "wall": wall,
                "imports": imports,
                "cpu": _cpu() - cpu0,
                "peak": peak,
                "spill": watch.peak,
                **extra,
            }
        )
    )


def _cpu() -> float:
    """CPU seconds of this process, all threads: comparable across runs on a busy machine."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _spawn(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--data",
        str(args.data),
        "--subjects",
        str(args.subjects),
        "--records",
        str(args.records),
        "--memory",
        args.memory,
        "--sample",
        str(args.sample),
    ]
    tmp = Path(tempfile.gettempdir()) / f"credence-bench-{os.getpid()}-{phase}"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        env = {**os.environ, "TMPDIR": str(tmp)}
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _agree(data: Path) -> tuple[bool, int]:
    import duckdb

    con = duckdb.connect()
    outs = {p: data / f"out-{p}.parquet" for p in ("batch", "sql", "polars")}
    diffs = 0
    for other in ("sql", "polars"):
        diffs += con.execute(
            f"""SELECT count(*) FROM read_parquet('{outs["batch"]}') a
                FULL JOIN read_parquet('{outs[other]}') b USING (subject_id)
                WHERE a.score IS DISTINCT FROM b.score OR a.grade IS DISTINCT FROM b.grade"""
        ).fetchone()[0]  # type: ignore[index]
    return diffs == 0, diffs


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> None:
    """Generate, run every phase in its own process, and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", type=int, default=1_000_000)
    p.add_argument("--records", type=int, default=10_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data", default=None, help="Data folder (default: /tmp/credence-bench-M-N).")
    p.add_argument("--memory", default="4GB", help="DuckDB memory limit for batch and SQL.")
    p.add_argument("--sample", type=int, default=2000, help="Subjects for the reference run.")
    p.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    p.add_argument("--skip", default="", help="Comma-separated phases to skip.")
    args = p.parse_args()
    if args.data is None:
        args.data = f"/tmp/credence-bench-{args.records}-{args.subjects}"
    if args.phase:
        _phase(args)
        return
    data = Path(args.data)
    t = time.perf_counter()
    rec, _ = generate(data, args.subjects, args.records, args.seed)
    size = os.path.getsize(rec) / 2**20
    print(
        f"data: {args.records:,} records, {args.subjects:,} subjects, seed {args.seed} "
        f"({size:,.0f} MiB Parquet; ready in {time.perf_counter() - t:.1f} s)"
    )
    print(f"cpus: {os.cpu_count()}, policy {POLICY}, as of {AS_OF}")
    skip = set(filter(None, args.skip.split(",")))
    figures: dict[str, dict[str, Any]] = {}
    for phase in ("batch", "sql", "polars", "reference", "incremental"):
        if phase in skip:
            continue
        figures[phase] = _spawn(args, phase)
        f = figures[phase]
        if phase == "reference":
            per = f["seconds"] / max(1, f["sample"])
            total = per * args.subjects
            f["extrapolated"] = total
            print(
                f"reference: {f['sample']:,} subjects ({f['sample_records']:,} records) in "
                f"{f['seconds']:.2f} s = {1000 * per:.2f} ms/subject -> "
                f"{total:,.0f} s extrapolated to {args.subjects:,} subjects "
                f"({args.records / total:,.0f} records/s); peak RSS {_mb(f['peak'])}"
            )
        elif phase == "incremental":
            print(
                f"incremental: first (full) run {f['full_seconds']:.2f} s for "
                f"{f['subjects']:,} subjects; peak RSS {_mb(f['peak'])}"
            )
            for night in f["nights"]:
                share = 100 * night["rescored"] / max(1, f["subjects"])
                print(
                    f"  night {night['day']}: rescored {night['rescored']:,} subjects "
                    f"({share:.2f}%) in {night['seconds']:.2f} s"
                    + (" (full run)" if night["full"] else "")
                )
        else:
            print(
                f"{phase}: {f['wall']:.2f} s wall (imports {f['imports']:.2f} s), "
                f"{f['cpu']:.2f} s CPU, "
                f"{args.records / f['wall']:,.0f} records/s, peak RSS {_mb(f['peak'])}, "
                f"spilled up to {_mb(f['spill'])}"
            )
    if {"batch", "sql", "polars"} <= figures.keys():
        b = figures["batch"]["wall"]
        best = min(figures["sql"]["wall"], figures["polars"]["wall"])
        print(
            f"ratio batch/hand-written SQL {b / figures['sql']['wall']:.2f}x, "
            f"batch/Polars {b / figures['polars']['wall']:.2f}x, "
            f"batch/faster {b / best:.2f}x"
        )
        work = {p: figures[p]["wall"] - figures[p]["imports"] for p in ("batch", "sql", "polars")}
        print(
            f"without imports: batch/hand-written SQL {work['batch'] / work['sql']:.2f}x, "
            f"batch/Polars {work['batch'] / work['polars']:.2f}x, "
            f"batch/faster {work['batch'] / min(work['sql'], work['polars']):.2f}x"
        )
        cpu = {p: figures[p]["cpu"] for p in ("batch", "sql", "polars")}
        print(
            f"CPU ratio batch/SQL {cpu['batch'] / cpu['sql']:.2f}x, "
            f"batch/Polars {cpu['batch'] / cpu['polars']:.2f}x"
        )
        same, diffs = _agree(data)
        print(f"results agree (score and grade per subject): {'yes' if same else f'no ({diffs})'}")
        if "reference" in figures:
            print(
                f"reference/batch (extrapolated): {figures['reference']['extrapolated'] / b:,.0f}x"
            )
        print(f"grades: {figures['batch'].get('grades')}")


if __name__ == "__main__":
    main()
