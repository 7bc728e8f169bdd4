"""The impact report: every figure is a query over the store joined with the ground truth.

The store holds what the scheme did (``notices``, ``list_entries``, ``measures``,
``objections``, ``records``); the lab wrote beside it who really did what (``lab_subjects``,
``lab_records``). Each figure of the report says which tables it comes from and carries the
SQL it was counted with, so a reader can count it again. With a baseline run (the same
population, safeguards off), the report sets the false listings of clean subjects side by side.
"""

from __future__ import annotations

import html
import json
import statistics
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import Connection

from credence import charts
from credence.policy.load import PolicySet
from credence.sim.lab import LabRun

# -- the queries -----------------------------------------------------------------------------

LISTED = """
SELECT e.list_id, COUNT(*) AS listings, COUNT(DISTINCT e.subject_id) AS people,
       COUNT(DISTINCT CASE WHEN t.clean THEN e.subject_id END) AS clean_people
FROM list_entries e JOIN lab_subjects t ON t.subject_id = e.subject_id
WHERE e.policy_id = :policy AND e.entered_on IS NOT NULL
GROUP BY e.list_id
"""
LISTED_AT_END = """
SELECT e.list_id, COUNT(DISTINCT e.subject_id) AS people
FROM list_entries e
WHERE e.policy_id = :policy AND e.entered_on IS NOT NULL
  AND (e.exited_on IS NULL OR e.exited_on > :day)
GROUP BY e.list_id
"""
WITH_WRONG_RECORD = """
SELECT e.list_id, COUNT(DISTINCT e.subject_id) AS people
FROM list_entries e
WHERE e.policy_id = :policy AND e.entered_on IS NOT NULL
  AND EXISTS (SELECT 1 FROM lab_records f WHERE f.subject_id = e.subject_id)
GROUP BY e.list_id
"""
NOTICES = """
SELECT about, COUNT(*) AS issued, COUNT(served_on) AS served
FROM notices WHERE policy_id = :policy GROUP BY about
"""
LISTED_WITHOUT_NOTICE = """
SELECT COUNT(*) FROM list_entries e
WHERE e.policy_id = :policy AND e.entered_on IS NOT NULL AND e.list_id IN :blacklists
  AND NOT EXISTS (
    SELECT 1 FROM notices n
    WHERE n.subject_id = e.subject_id AND n.policy_id = e.policy_id AND n.about = 'list'
      AND n.ref = e.ref AND n.served_on IS NOT NULL AND n.served_on <= e.entered_on)
"""
MEASURED_WITHOUT_NOTICE = """
SELECT COUNT(*) FROM measures m
WHERE m.policy_id = :policy AND m.in_force_from IS NOT NULL AND m.measure_id IN :sanctions
  AND NOT EXISTS (
    SELECT 1 FROM notices n
    WHERE n.subject_id = m.subject_id AND n.policy_id = m.policy_id
      AND n.served_on IS NOT NULL AND n.served_on <= m.in_force_from)
"""
MEASURES = """
SELECT m.measure_id, m.status, COUNT(*) AS measures, COUNT(DISTINCT m.subject_id) AS people,
       COUNT(DISTINCT CASE WHEN t.clean THEN m.subject_id END) AS clean_people,
       COUNT(m.in_force_from) AS in_force
FROM measures m JOIN lab_subjects t ON t.subject_id = m.subject_id
WHERE m.policy_id = :policy
GROUP BY m.measure_id, m.status
"""
MEASURED_PEOPLE = """
SELECT m.measure_id, COUNT(DISTINCT m.subject_id) AS people,
       COUNT(DISTINCT CASE WHEN t.clean THEN m.subject_id END) AS clean_people
FROM measures m JOIN lab_subjects t ON t.subject_id = m.subject_id
WHERE m.policy_id = :policy AND m.in_force_from IS NOT NULL
GROUP BY m.measure_id
"""
OBJECTIONS = """
SELECT o.status, CASE WHEN f.record_id IS NULL THEN 0 ELSE 1 END AS wrong, COUNT(*) AS n
FROM objections o LEFT JOIN lab_records f ON f.record_id = o.record_id
GROUP BY o.status, CASE WHEN f.record_id IS NULL THEN 0 ELSE 1 END
"""
NOTICE_TO_LISTING = """
SELECT n.served_on, e.entered_on
FROM list_entries e JOIN notices n
  ON n.subject_id = e.subject_id AND n.policy_id = e.policy_id AND n.about = 'list'
 AND n.ref = e.ref
WHERE e.policy_id = :policy AND e.entered_on IS NOT NULL AND n.served_on IS NOT NULL
"""
BURDEN = """
SELECT t.{group} AS grp, COUNT(*) AS residents,
  SUM(CASE WHEN EXISTS (SELECT 1 FROM list_entries e WHERE e.subject_id = t.subject_id
        AND e.policy_id = :policy AND e.entered_on IS NOT NULL AND e.list_id IN :blacklists)
      THEN 1 ELSE 0 END) AS listed,
  SUM(CASE WHEN t.clean AND EXISTS (SELECT 1 FROM list_entries e
        WHERE e.subject_id = t.subject_id AND e.policy_id = :policy
        AND e.entered_on IS NOT NULL AND e.list_id IN :blacklists)
      THEN 1 ELSE 0 END) AS clean_listed,
  SUM(CASE WHEN EXISTS (SELECT 1 FROM measures m WHERE m.subject_id = t.subject_id
        AND m.policy_id = :policy AND m.in_force_from IS NOT NULL
        AND m.measure_id IN :sanctions)
      THEN 1 ELSE 0 END) AS sanctioned
FROM lab_subjects t GROUP BY t.{group} ORDER BY t.{group}
"""
RECORDS = """
SELECT COUNT(*) AS ingested,
       COUNT(DISTINCT r.subject_id) AS subjects
FROM records r
"""
FAULTS = """
SELECT f.fault, COUNT(*) AS n FROM lab_records f JOIN records r ON r.record_id = f.record_id
GROUP BY f.fault ORDER BY f.fault
"""
POPULATION = """
SELECT COUNT(*) AS subjects, SUM(CASE WHEN clean THEN 1 ELSE 0 END) AS clean FROM lab_subjects
"""


def _rows(con: Connection, sql: str, **params: Any) -> list[Any]:
    stmt = text(sql)
    for name, value in params.items():
        if isinstance(value, tuple):
            # An IN list: SQLAlchemy expands it; an empty one matches nothing.
            from sqlalchemy import bindparam

            stmt = stmt.bindparams(bindparam(name, expanding=True))
            params[name] = list(value) or ["\x00none"]
    return list(con.execute(stmt, params).all())


def _lists(policy: PolicySet, kind: str) -> tuple[str, ...]:
    return tuple(sorted({x.id for v in policy.versions for x in v.lists if x.type == kind}))


def _sanctions(policy: PolicySet) -> tuple[str, ...]:
    return tuple(
        sorted({m.id for v in policy.versions for m in v.measures if m.type == "sanction"})
    )


def _stats(values: Sequence[int]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "mean": None, "min": None, "max": None}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 1),
        "min": min(values),
        "max": max(values),
    }


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def store_figures(lab: LabRun) -> dict[str, Any]:
    """The figures of one run, each counted over its store (and the truth beside it)."""
    policy, end = lab.policy, lab.world.end
    pid = policy.id
    blacklists, redlists, sanctions = (
        _lists(policy, "blacklist"),
        _lists(policy, "redlist"),
        _sanctions(policy),
    )
    with lab.store.engine.connect() as con:
        ((subjects, clean),) = _rows(con, POPULATION)
        ((ingested, with_records),) = _rows(con, RECORDS)
        faults = {f: n for f, n in _rows(con, FAULTS)}
        listed = {r.list_id: r for r in _rows(con, LISTED, policy=pid)}
        at_end = {r.list_id: r.people for r in _rows(con, LISTED_AT_END, policy=pid, day=end)}
        wrong_rec = {r.list_id: r.people for r in _rows(con, WITH_WRONG_RECORD, policy=pid)}
        notices = {
            r.about: {"issued": r.issued, "served": r.served}
            for r in _rows(con, NOTICES, policy=pid)
        }
        no_notice_lists = _rows(con, LISTED_WITHOUT_NOTICE, policy=pid, blacklists=blacklists)
        no_notice_measures = _rows(con, MEASURED_WITHOUT_NOTICE, policy=pid, sanctions=sanctions)
        measure_rows = _rows(con, MEASURES, policy=pid)
        measured = {r.measure_id: r for r in _rows(con, MEASURED_PEOPLE, policy=pid)}
        objections = _rows(con, OBJECTIONS)
        gaps = [(_day(e) - _day(s)).days for s, e in _rows(con, NOTICE_TO_LISTING, policy=pid)]
        burden = {
            group: [
                {
                    "group": r.grp,
                    "residents": r.residents,
                    "listed": r.listed or 0,
                    "clean_listed": r.clean_listed or 0,
                    "sanctioned": r.sanctioned or 0,
                    "listed_per_1000": round(1000 * (r.listed or 0) / r.residents, 2),
                    "sanctioned_per_1000": round(1000 * (r.sanctioned or 0) / r.residents, 2),
                }
                for r in _rows(
                    con,
                    BURDEN.format(group=group),
                    policy=pid,
                    blacklists=blacklists,
                    sanctions=sanctions,
                )
            ]
            for group in ("region", "age_band")
        }
    lists: dict[str, Any] = {}
    for lid in (*blacklists, *redlists):
        row = listed.get(lid)
        people = row.people if row else 0
        lists[lid] = {
            "type": "blacklist" if lid in blacklists else "redlist",
            "listings": row.listings if row else 0,
            "people": people,
            "clean_people": row.clean_people if row else 0,
            "people_with_a_wrong_record": wrong_rec.get(lid, 0),
            "listed_at_end": at_end.get(lid, 0),
            "tables": ["list_entries", "lab_subjects", "lab_records"],
        }
    by_status: dict[str, dict[str, int]] = {}
    for m in measure_rows:
        by_status.setdefault(m.measure_id, {})[m.status] = m.measures
    measures = {
        mid: {
            "type": "sanction" if mid in sanctions else "reward",
            "people_in_force": measured[mid].people if mid in measured else 0,
            "clean_people_in_force": measured[mid].clean_people if mid in measured else 0,
            "by_status": by_status.get(mid, {}),
            "tables": ["measures", "lab_subjects"],
        }
        for mid in sorted({*by_status, *measured})
    }
    obj: dict[str, Any] = {"by_status": {}, "against_wrong_records": {}, "against_true_records": {}}
    for status, wrong, n in objections:
        obj["by_status"][status] = obj["by_status"].get(status, 0) + n
        side = "against_wrong_records" if wrong else "against_true_records"
        obj[side][status] = n
    obj["filed"] = sum(obj["by_status"].values())
    obj["tables"] = ["objections", "lab_records"]
    return {
        "policy": pid,
        "safeguards": lab.safeguards,
        "population": {"subjects": subjects, "clean": clean or 0, "tables": ["lab_subjects"]},
        "records": {
            "ingested": ingested,
            "subjects_with_records": with_records,
            "wrong": sum(faults.values()),
            "by_fault": faults,
            "tables": ["records", "lab_records"],
        },
        "notices": {**notices, "tables": ["notices"]},
        "lists": lists,
        "measures": measures,
        "without_served_notice": {
            "listings": no_notice_lists[0][0],
            "sanctions": no_notice_measures[0][0],
            "tables": ["list_entries", "measures", "notices"],
        },
        "objections": obj,
        "notice_to_listing_days": {**_stats(sorted(gaps)), "tables": ["list_entries", "notices"]},
        "burden": {**burden, "tables": ["lab_subjects", "list_entries", "measures"]},
        "false_listings": {
            "clean_people_listed": sum(
                x["clean_people"] for x in lists.values() if x["type"] == "blacklist"
            ),
            "clean_people_sanctioned": sum(
                x["clean_people_in_force"] for x in measures.values() if x["type"] == "sanction"
            ),
            "tables": ["list_entries", "measures", "lab_subjects"],
        },
        "reactions": dict(sorted(lab.reactions.items())),
        "steps": lab.steps,
    }


def snapshot_days(start: date, end: date, most: int = 12) -> list[date]:
    """Up to ``most`` evenly spaced days from the end of the first step to ``end``."""
    span = (end - start).days
    n = max(1, min(most, span // 30 or 1))
    return sorted({start + timedelta(days=round(span * (k + 1) / n)) for k in range(n)} | {end})


def build_report(
    lab: LabRun,
    name: str,
    *,
    baseline: LabRun | None = None,
    grades: tuple[list[date], list[dict[str, int]]] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The JSON-ready impact report of a lab run (and its baseline, side by side)."""
    world, s = lab.world, lab.world.scenario
    main = store_figures(lab)
    report: dict[str, Any] = {
        "name": name,
        "policy": {"id": lab.policy.id, "versions": [v.version for v in lab.policy.versions]},
        "scenario": {
            "population": s.population,
            "years": s.years,
            "seed": s.seed,
            "start": world.start.isoformat(),
            "end": world.end.isoformat(),
            "error_rate": round(s.faults.error_rate, 6),
            "late_rate": s.faults.late_rate,
            "objection_rate": s.behaviour.objection_rate,
            "review_accuracy": s.behaviour.review_accuracy,
            "review_delay_days": list(s.behaviour.review_delay_days),
        },
        "store": {"url": lab.store.url, "truth_tables": ["lab_subjects", "lab_records"]},
        "with_safeguards": main,
    }
    if grades is not None:
        days, counts = grades
        report["grades"] = {
            "days": [d.isoformat() for d in days],
            "counts": counts,
            "tables": ["records", "record_status"],
            "how": "the batch plan of the compiled policy over the store's records, as known "
            "on each day",
        }
    if baseline is not None:
        base = store_figures(baseline)
        report["without_safeguards"] = base
        w, b = main["false_listings"], base["false_listings"]
        report["safeguards_effect"] = {
            "clean_people_listed": {
                "with": w["clean_people_listed"],
                "without": b["clean_people_listed"],
            },
            "clean_people_sanctioned": {
                "with": w["clean_people_sanctioned"],
                "without": b["clean_people_sanctioned"],
            },
            "people_listed": {
                "with": sum(
                    x["people"] for x in main["lists"].values() if x["type"] == "blacklist"
                ),
                "without": sum(
                    x["people"] for x in base["lists"].values() if x["type"] == "blacklist"
                ),
            },
            "tables": ["list_entries", "measures", "lab_subjects"],
            "baseline": "the same population and reports; no notice periods, nobody objects",
        }
    if timings is not None:
        report["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    return report


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``folder``; return (html, json)."""
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "report.json"
    # Timings differ from run to run; the figures of a seeded run do not.
    js.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    page = folder / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page, js


def summary_table(report: dict[str, Any]) -> Table:
    """The headline figures as a Rich table."""
    s, m = report["scenario"], report["with_safeguards"]
    table = Table(
        title=f"{report['policy']['id']}: {s['population']:,} subjects, {s['years']} years"
    )
    table.add_column("figure (store tables)")
    table.add_column("with safeguards", justify="right")
    base = report.get("without_safeguards")
    if base:
        table.add_column("without", justify="right")

    def row(label: str, pick: Any) -> None:
        cells = [label, f"{pick(m):,}"]
        if base:
            cells.append(f"{pick(base):,}")
        table.add_row(*cells)

    row("records ingested (records)", lambda f: f["records"]["ingested"])
    row("wrong records ingested (lab_records)", lambda f: f["records"]["wrong"])
    for lid, x in m["lists"].items():
        if x["type"] == "blacklist":
            row(f"people listed on {lid} (list_entries)", lambda f, k=lid: f["lists"][k]["people"])
    row(
        "people falsely listed (clean ground truth)",
        lambda f: f["false_listings"]["clean_people_listed"],
    )
    row(
        "clean people sanctioned (measures)",
        lambda f: f["false_listings"]["clean_people_sanctioned"],
    )
    row("listings without a served notice", lambda f: f["without_served_notice"]["listings"])
    row("sanctions without a served notice", lambda f: f["without_served_notice"]["sanctions"])
    for status in ("overturned", "upheld", "lapsed"):
        row(
            f"objections {status} (objections)",
            lambda f, k=status: f["objections"]["by_status"].get(k, 0),
        )
    return table


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2933;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.25rem .6rem}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.src{color:#555;font-size:.85rem}svg text{font:11px system-ui,sans-serif}
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = ["<table><tr>", *(f"<th>{_esc(h)}</th>" for h in head), "</tr>"]
    for r in rows:
        out.append("<tr>")
        for v in r:
            num = isinstance(v, int | float) and not isinstance(v, bool)
            shown = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v
            out.append(f'<td class="n">{_esc(shown)}</td>' if num else f"<td>{_esc(shown)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _src(tables: Sequence[str]) -> str:
    return f'<p class="src">From the store tables: {", ".join(map(_esc, tables))}.</p>'


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (charts drawn by credence.charts)."""
    s, m = report["scenario"], report["with_safeguards"]
    base = report.get("without_safeguards")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Impact report {_esc(report['name'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Impact report: {_esc(report['policy']['id'])}</h1>",
        f"<p>{s['population']:,} simulated subjects, {s['start']} to {s['end']} (seed "
        f"{s['seed']}), run through the real store ({_esc(report['store']['url'])}), ingest and "
        f"due process; {m['steps']} due-process runs. Ground truth beside the store in "
        "lab_subjects and lab_records.</p>",
    ]
    if "safeguards_effect" in report:
        e = report["safeguards_effect"]
        items = [
            ("clean listed, with", e["clean_people_listed"]["with"]),
            ("clean listed, without", e["clean_people_listed"]["without"]),
            ("clean sanctioned, with", e["clean_people_sanctioned"]["with"]),
            ("clean sanctioned, without", e["clean_people_sanctioned"]["without"]),
        ]
        parts += [
            "<h2>The safeguards' measured effect</h2>",
            f"<p>Baseline: {_esc(e['baseline'])}.</p>",
            str(
                charts.bar_chart(
                    items,
                    title="Law-abiding people listed or sanctioned, with and without safeguards",
                    x_label="people (clean ground truth)",
                    y_label="run",
                )
            ),
            _table(
                ["figure", "with safeguards", "without"],
                [
                    (k.replace("_", " "), v["with"], v["without"])
                    for k, v in e.items()
                    if isinstance(v, dict)
                ],
            ),
            _src(e["tables"]),
        ]
    parts.append("<h2>Lists</h2>")
    head = [
        "list",
        "type",
        "listings",
        "people",
        "clean people",
        "with a wrong record",
        "listed at the end",
    ]
    rows = [
        (
            lid,
            x["type"],
            x["listings"],
            x["people"],
            x["clean_people"],
            x["people_with_a_wrong_record"],
            x["listed_at_end"],
        )
        for lid, x in m["lists"].items()
    ]
    parts += [_table(head, rows), _src(["list_entries", "lab_subjects", "lab_records"])]
    w = m["without_served_notice"]
    parts += [
        "<h2>Due process</h2>",
        _table(
            ["notice about", "issued", "served"],
            [(k, v["issued"], v["served"]) for k, v in m["notices"].items() if k != "tables"],
        ),
        _src(["notices"]),
        _table(
            ["checked", "count"],
            [
                ("blacklistings without a notice served before them", w["listings"]),
                ("sanctions in force without a notice served before them", w["sanctions"]),
            ],
        ),
        _src(w["tables"]),
    ]
    gap = m["notice_to_listing_days"]
    parts += [
        "<h3>Days from a served notice to the listing</h3>",
        _table(
            ["listings", "median", "mean", "min", "max"],
            [(gap["n"], gap["median"], gap["mean"], gap["min"], gap["max"])],
        ),
        _src(gap["tables"]),
    ]
    o = m["objections"]
    statuses = sorted(o["by_status"])
    parts += [
        "<h2>Objections</h2>",
        _table(
            ["against", *statuses],
            [
                ("wrong records", *(o["against_wrong_records"].get(k, 0) for k in statuses)),
                ("true records", *(o["against_true_records"].get(k, 0) for k in statuses)),
            ],
        ),
        _src(o["tables"]),
        "<h2>Measures</h2>",
        _table(
            ["measure", "type", "people (in force)", "clean people", "rows by status"],
            [
                (
                    mid,
                    x["type"],
                    x["people_in_force"],
                    x["clean_people_in_force"],
                    ", ".join(f"{k} {v}" for k, v in sorted(x["by_status"].items())),
                )
                for mid, x in m["measures"].items()
            ],
        ),
        _src(["measures", "lab_subjects"]),
    ]
    parts.append("<h2>Who bears the burden</h2>")
    for group, title in (("region", "region"), ("age_band", "age group")):
        rows_b = m["burden"][group]
        parts.append(
            str(
                charts.bar_chart(
                    [(r["group"], r["listed_per_1000"]) for r in rows_b],
                    title=f"People blacklisted per 1,000 residents, by {title}",
                    x_label="blacklisted per 1,000 residents",
                    y_label=title,
                )
            )
        )
        parts.append(
            _table(
                [
                    title,
                    "residents",
                    "blacklisted",
                    "clean blacklisted",
                    "sanctioned",
                    "per 1,000 listed",
                    "per 1,000 sanctioned",
                ],
                [
                    (
                        r["group"],
                        r["residents"],
                        r["listed"],
                        r["clean_listed"],
                        r["sanctioned"],
                        r["listed_per_1000"],
                        r["sanctioned_per_1000"],
                    )
                    for r in rows_b
                ],
            )
        )
    parts.append(_src(m["burden"]["tables"]))
    if "grades" in report:
        g = report["grades"]
        keys = sorted({k for c in g["counts"] for k in c}, key=_grade_order(report))
        colours = charts.grade_colours(keys)
        parts += [
            "<h2>Grades over time</h2>",
            str(
                charts.stacked_bars(
                    list(zip(g["days"], g["counts"], strict=True)),
                    keys,
                    title="Subjects with records per grade",
                    colours=colours,
                    x_label="day",
                    y_label="share of subjects",
                )
            ),
            _table(
                ["day", *keys],
                [
                    (d, *(c.get(k, 0) for k in keys))
                    for d, c in zip(g["days"], g["counts"], strict=True)
                ],
            ),
            _src(g["tables"]),
        ]
    if base:
        parts += [
            "<h2>Baseline (safeguards off)</h2>",
            _table(
                ["list", "people", "clean people"],
                [(lid, x["people"], x["clean_people"]) for lid, x in base["lists"].items()],
            ),
            _src(["list_entries", "lab_subjects"]),
        ]
    if "timings_s" in report:
        parts += [
            "<h2>Time per phase</h2>",
            _table(["phase", "seconds"], list(report["timings_s"].items())),
        ]
    parts.append("</body></html>")
    return "".join(parts)


def _grade_order(report: dict[str, Any]) -> Any:
    def key(grade: str) -> tuple[int, str]:
        ladder = ("D", "C", "B", "A", "AA", "AAA")
        return (ladder.index(grade) if grade in ladder else len(ladder), grade)

    return key


def render_diff_html(result: dict[str, Any]) -> str:
    """The policy diff as one HTML page."""
    a, b = result["a"], result["b"]
    moves = [(f"{m['from']} → {m['to']}", m["subjects"]) for m in result["grade_moves"]]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Policy diff</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(a['policy'])} {_esc(a['version'])} → {_esc(b['policy'])} "
        f"{_esc(b['version'])}</h1>",
        f"<p>On {_esc(result['as_of'])}, {result['subjects_changed']:,} of "
        f"{result['population']:,} subjects change (the same simulated population through the "
        "real ingest and due process under each policy).</p>",
        str(
            charts.bar_chart(
                moves,
                title="Subjects changing grade (A → B)",
                x_label="subjects",
                y_label="grade move",
            )
        ),
        _table(["grade move", "subjects"], moves),
        "<h2>Lists and measures</h2>",
        _table(
            ["list / measure", "entered / gained", "left / lost"],
            [(f"list {k}", x["entered"], x["left"]) for k, x in result["lists"].items()]
            + [(f"measure {k}", x["gained"], x["lost"]) for k, x in result["measures"].items()],
        ),
        "<h2>Rules behind the changes</h2>",
        _table(
            ["record kind", "subjects", "points B − A"],
            [(r["kind"], r["subjects"], r["points_delta"]) for r in result["rules"]],
        ),
        "<h2>Who changes, and why</h2>",
        _table(
            ["subject", "grade A → B", "lists A → B", "why (points B − A)"],
            [
                (
                    x["subject"],
                    f"{x['grade'][0]} → {x['grade'][1]}",
                    " → ".join(", ".join(v) or "none" for v in x["lists"]),
                    ", ".join(f"{w['kind']} {w['points_delta']:+}" for w in x["why"]) or "process",
                )
                for x in result.get("subjects", [])
            ],
        ),
        "</body></html>",
    ]
    return "".join(parts)
