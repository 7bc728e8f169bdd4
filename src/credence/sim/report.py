"""Impact reports: what a scheme did to a synthetic population, as JSON, HTML and a table.

The JSON is the report; the HTML (self-contained: inline CSS and SVG, nothing fetched) and the
terminal table are views of it. Nothing in a report depends on the clock or the machine, so
one seed always gives byte-identical files.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from statistics import mean, median
from typing import Any

from rich.table import Table

from credence.sim.population import AGE_BANDS, REGIONS
from credence.sim.process import Simulation

PER = 100_000


def _per(n: int, population: int) -> float:
    return round(n * PER / population, 1) if population else 0.0


def _stats(values: Sequence[int]) -> dict[str, float | int]:
    if not values:
        return {"n": 0, "median": 0, "mean": 0.0, "p90": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": median(ordered),
        "mean": round(mean(ordered), 1),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
    }


def _open_on(start: date, end: date | None, day: date) -> bool:
    return start <= day and (end is None or day < end)


def build_report(sim: Simulation, name: str) -> dict[str, Any]:
    """The impact report of a finished run, as a JSON-ready dictionary."""
    pop = sim.population
    n = len(pop)
    version = sim.policy.latest
    sanctions = {m.id for v in sim.policy.versions for m in v.measures if m.type == "sanction"}
    listed = [x for x in sim.listings if x.outcome == "listed" and x.start is not None]
    measures = [m for m in sim.measures if m.measure in sanctions and m.start <= sim.end]
    cross = sorted(
        {
            f.message.split("'")[1]
            for f in sim.findings
            if f.code == "CR008" and f.message.startswith("measure '")
        }
    )
    monthly = []
    for k, month in enumerate(sim.months):
        monthly.append(
            {
                "month": month.isoformat(),
                "grades": sim.grades[k],
                "redlists": sim.redlisted[k],
                "listed": sum(
                    _open_on(x.start, x.end, month) for x in listed if x.start is not None
                ),
                "measures_in_force": sum(_open_on(m.start, m.end, month) for m in measures),
            }
        )
    lists: dict[str, Any] = {}
    for lst in (x for v in sim.policy.versions for x in v.lists if x.type == "blacklist"):
        if lst.id in lists:
            continue
        eps = [x for x in sim.listings if x.list_id == lst.id]
        on = [x for x in eps if x.outcome == "listed"]
        lists[lst.id] = {
            "notices_served": sum(x.served <= sim.end for x in eps),
            "listings": len(on),
            "people_listed": len({x.subject for x in on}),
            "prevented": dict(
                sorted(Counter(x.cause for x in eps if x.outcome == "prevented").items())
            ),
            "pending_at_end": sum(x.outcome == "pending" for x in eps),
            "exits": dict(sorted(Counter(x.exit for x in on).items())),
        }
    by_measure: dict[str, Any] = {}
    for mid in sorted(sanctions):
        eps_m = [m for m in measures if m.measure == mid]
        defn = next(m for v in sim.policy.versions for m in v.measures if m.id == mid)
        by_measure[mid] = {
            "domain": defn.domain,
            "episodes": len(eps_m),
            "people": len({m.subject for m in eps_m}),
            "cross_domain": mid in cross,
        }
    clean_listed = [x for x in listed if sim.clean(x.subject)]
    clean_measured = [m for m in measures if sim.clean(m.subject)]
    false_people = {x.subject for x in clean_listed}
    false_measured_people = {m.subject for m in clean_measured}
    overturned = [o for o in sim.objections if o.outcome == "overturned" and o.fault]
    stage_notices = sim.stage_notices
    list_notices = [x for x in sim.listings if x.outcome in ("listed", "prevented")]
    with_measure = [x for x in list_notices if _list_has_sanction(sim, x.list_id, sanctions)]
    prevented_causes = Counter(x.cause for x in with_measure if x.outcome == "prevented")
    prevented_causes.update(s.cause for s in stage_notices if s.outcome == "prevented")
    prevented = sum(prevented_causes.values())
    enforced = sum(x.outcome == "listed" for x in with_measure) + sum(
        s.outcome == "enforced" for s in stage_notices
    )
    faults = Counter(sim.reported.faults.values())
    return {
        "report": "credence impact report",
        "name": name,
        "policy": {
            "id": sim.policy.id,
            "title": version.title,
            "versions": [
                {"version": v.version, "effective_from": v.effective_from.isoformat()}
                for v in sim.policy.versions
            ],
        },
        "scenario": {
            "population": sim.scenario.population,
            "years": sim.scenario.years,
            "seed": sim.scenario.seed,
            "start": sim.start.isoformat(),
            "end": sim.end.isoformat(),
            "faults": {**asdict(sim.scenario.faults), "error_rate": sim.scenario.faults.error_rate},
            "behaviour": asdict(sim.scenario.behaviour),
            "injections": [
                {**asdict(i), "on": i.on.isoformat() if i.on else None}
                for i in sim.scenario.injections
            ],
        },
        "population": {
            "subjects": n,
            "persons": sum(k == "person" for k in pop.kinds),
            "organisations": sum(k == "organisation" for k in pop.kinds),
            "households": len({h for h in pop.households if h >= 0}),
            "clean_ground_truth": sum(sim.clean(i) for i in range(n)),
        },
        "records": {
            "total": len(sim.reported.records),
            "wrong": sum(faults.values()),
            "by_fault": dict(sorted(faults.items())),
            "late": sim.reported.late,
        },
        "monthly": monthly,
        "lists": lists,
        "measures": by_measure,
        "false": {
            "listings": len(clean_listed),
            "people_listed": len(false_people),
            "people_listed_per_100k": _per(len(false_people), n),
            "measures": len(clean_measured),
            "people_measured": len(false_measured_people),
            "people_measured_per_100k": _per(len(false_measured_people), n),
            "listings_caused_by_errors": sum(x.error_caused for x in listed),
            "corrected": sum(x.exit == "corrected" for x in clean_listed),
            "still_listed_at_end": sum(x.exit == "running" for x in clean_listed),
        },
        "correction": {
            "objections": len(sim.objections),
            "after_a_notice": sum(o.warned for o in sim.objections),
            "overturned": sum(o.outcome == "overturned" for o in sim.objections),
            "upheld": sum(o.outcome == "upheld" for o in sim.objections),
            "open": sum(o.outcome == "open" for o in sim.objections),
            "wrong_records_never_contested": sum(faults.values())
            - len({o.record_id for o in sim.objections if o.fault}),
            "days_wrong_record_counted": _stats([o.visible_days for o in overturned]),
            "days_falsely_listed": _stats(
                [
                    (x.end - x.start).days
                    for x in clean_listed
                    if x.exit == "corrected" and x.end and x.start
                ]
            ),
        },
        "prevention": {
            "notices_before_a_measure": prevented + enforced,
            "prevented": prevented,
            "enforced": enforced,
            "share_prevented": round(prevented / (prevented + enforced), 3)
            if prevented + enforced
            else 0.0,
            "by_cause": dict(sorted(prevented_causes.items())),
            "warned_who_rectified": len(sim.rectified),
        },
        "burden": {
            "region": _burden(sim, listed, measures, [r[0] for r in REGIONS], pop.regions),
            "age_band": _burden(
                sim, listed, measures, [b[0] for b in AGE_BANDS] + ["organisation"], pop.age_bands
            ),
        },
        "households_with_a_listed_member": len(
            {pop.households[x.subject] for x in listed if pop.households[x.subject] >= 0}
        ),
        "cross_domain": {
            "findings": [
                {
                    "code": f.code,
                    "severity": f.severity,
                    "location": os.path.basename(f.location),
                    "message": f.message,
                }
                for f in sim.findings
                if f.code == "CR008"
            ],
            "measures": cross,
            "episodes": sum(m.measure in cross for m in measures),
        },
    }


def _list_has_sanction(sim: Simulation, list_id: str, sanctions: set[str]) -> bool:
    return any(
        mid in sanctions
        for v in sim.policy.versions
        for lst in v.lists
        if lst.id == list_id
        for mid in lst.measures
    )


def _burden(
    sim: Simulation,
    listed: Iterable[Any],
    measures: Iterable[Any],
    names: list[str],
    column: list[int],
) -> list[dict[str, Any]]:
    size = Counter(column)
    people = Counter(column[s] for s in {x.subject for x in listed})
    measured = Counter(column[s] for s in {m.subject for m in measures})
    false = Counter(column[s] for s in {x.subject for x in listed if sim.clean(x.subject)})
    out = []
    for k, name in enumerate(names):
        out.append(
            {
                "group": name,
                "population": size[k],
                "listed": people[k],
                "listed_per_100k": _per(people[k], size[k]),
                "measured": measured[k],
                "measured_per_100k": _per(measured[k], size[k]),
                "falsely_listed": false[k],
            }
        )
    return out


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    jpath = folder / "report.json"
    hpath = folder / "report.html"
    jpath.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    hpath.write_text(render_html(report), encoding="utf-8")
    return hpath, jpath


# -- the terminal summary -----------------------------------------------------------------------


def summary_table(report: dict[str, Any]) -> Table:
    """The headline figures as a Rich table."""
    f, c, p = report["false"], report["correction"], report["prevention"]
    s = report["scenario"]
    table = Table(
        title=f"{report['policy']['id']}: {s['population']:,} subjects, {s['years']} years"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    last = report["monthly"][-1] if report["monthly"] else {"grades": {}}
    rows: list[tuple[str, str]] = [
        (
            "records (wrong / late)",
            "{total:,} ({wrong:,} / {late:,})".format(**report["records"]),
        ),
        ("grades at the end", ", ".join(f"{g} {n:,}" for g, n in last["grades"].items())),
    ]
    for lid, stats in report["lists"].items():
        rows.append(
            (
                f"list {lid}: notices / listings / people",
                f"{stats['notices_served']:,} / {stats['listings']:,} / {stats['people_listed']:,}",
            )
        )
    for mid, stats in report["measures"].items():
        flag = " (cross-domain)" if stats["cross_domain"] else ""
        rows.append((f"measure {mid}{flag}: people", f"{stats['people']:,}"))
    rows += [
        (
            "people falsely listed (clean ground truth)",
            f"{f['people_listed']:,} ({f['people_listed_per_100k']} per 100k)",
        ),
        (
            "people under a false measure",
            f"{f['people_measured']:,} ({f['people_measured_per_100k']} per 100k)",
        ),
        ("listings caused by wrong records", f"{f['listings_caused_by_errors']:,}"),
        (
            "objections: overturned / upheld / open",
            f"{c['overturned']:,} / {c['upheld']:,} / {c['open']:,}",
        ),
        ("days a wrong record counted (median)", f"{c['days_wrong_record_counted']['median']}"),
        (
            "measures prevented by notices",
            f"{p['prevented']:,} of {p['notices_before_a_measure']:,} "
            f"({100 * p['share_prevented']:.1f}%)",
        ),
        ("warned people who rectified", f"{p['warned_who_rectified']:,}"),
        (
            "cross-domain measures flagged (CR008)",
            ", ".join(report["cross_domain"]["measures"]) or "none",
        ),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


# -- HTML and SVG --------------------------------------------------------------------------------

_PALETTE = ("#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac", "#053061", "#444444")
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.kpi{display:flex;flex-wrap:wrap;gap:1rem}.kpi div{border:1px solid #ddd;border-radius:6px;
padding:.6rem 1rem;min-width:12rem}.kpi b{display:block;font-size:1.4rem}
.flag{background:#fff3cd;border:1px solid #e0c36a;padding:.5rem 1rem;border-radius:6px}
svg text{font:11px system-ui,sans-serif}
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = ["<table><tr>", *(f"<th>{_esc(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = (
            f'<td class="n">{v:,}</td>'
            if isinstance(v, int) and not isinstance(v, bool)
            else f'<td class="n">{v}</td>'
            if isinstance(v, float)
            else f"<td>{_esc(v)}</td>"
            for v in row
        )
        out += ["<tr>", *cells, "</tr>"]
    out.append("</table>")
    return "".join(out)


def stacked_bars(months: Sequence[str], series: dict[str, list[int]], width: int = 1000) -> str:
    """An inline SVG of stacked monthly bars (shares of the population), with a legend."""
    height, left, bottom, top = 260, 40, 30, 10
    n = max(len(months), 1)
    bar = (width - left - 130) / n
    plot_h = height - bottom - top
    totals = [sum(s[k] for s in series.values()) or 1 for k in range(len(months))]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
    ]
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(
            f'<line x1="{left}" x2="{left + bar * n}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>')
    for k in range(len(months)):
        y = top + plot_h
        for j, (_name, values) in enumerate(series.items()):
            h = plot_h * values[k] / totals[k]
            y -= h
            parts.append(
                f'<rect x="{left + k * bar:.1f}" y="{y:.2f}" width="{max(bar - 1, 0.5):.1f}" '
                f'height="{h:.2f}" fill="{_PALETTE[j % len(_PALETTE)]}"/>'
            )
        if k % 12 == 0:
            parts.append(
                f'<text x="{left + k * bar:.1f}" y="{height - 10}">{_esc(months[k][:7])}</text>'
            )
    for j, name in enumerate(series):
        y = top + 16 * j
        x = left + bar * n + 15
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{_PALETTE[j % len(_PALETTE)]}"/>'
        )
        parts.append(f'<text x="{x + 16}" y="{y + 10}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lines(months: Sequence[str], series: dict[str, list[int]], width: int = 1000) -> str:
    """An inline SVG line chart of monthly counts."""
    height, left, bottom, top = 220, 50, 30, 10
    n = max(len(months) - 1, 1)
    plot_w, plot_h = width - left - 170, height - bottom - top
    peak = max((max(v) for v in series.values() if v), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
    ]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{round(peak * frac):,}</text>'
        )
    for j, (name, values) in enumerate(series.items()):
        colour = _PALETTE[(j * 3) % len(_PALETTE)]
        points = " ".join(
            f"{left + plot_w * k / n:.1f},{top + plot_h * (1 - v / peak):.1f}"
            for k, v in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        y = top + 16 * j
        parts.append(
            f'<rect x="{left + plot_w + 15}" y="{y}" width="12" height="3" fill="{colour}"/>'
        )
        parts.append(f'<text x="{left + plot_w + 31}" y="{y + 5}">{_esc(name)}</text>')
    for k in range(0, len(months), 12):
        parts.append(
            f'<text x="{left + plot_w * k / n:.1f}" y="{height - 10}">{_esc(months[k][:7])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hbars(rows: Sequence[tuple[str, float]], unit: str, width: int = 520) -> str:
    """An inline SVG of horizontal bars, one per labelled value."""
    left, row_h = 110, 20
    height = row_h * len(rows) + 10
    peak = max((v for _l, v in rows), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
    ]
    for k, (label, value) in enumerate(rows):
        y = 5 + k * row_h
        w = (width - left - 90) * value / peak
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{_esc(label)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" fill="#2166ac"/>'
        )
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}">{value:,} {_esc(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    s, f, c, p = report["scenario"], report["false"], report["correction"], report["prevention"]
    months = [m["month"] for m in report["monthly"]]
    grade_names = list(report["monthly"][0]["grades"]) if report["monthly"] else []
    grades = {g: [m["grades"].get(g, 0) for m in report["monthly"]] for g in grade_names}
    counts = {
        "listed": [m["listed"] for m in report["monthly"]],
        "measures in force": [m["measures_in_force"] for m in report["monthly"]],
    }
    for red in report["monthly"][0]["redlists"] if report["monthly"] else {}:
        counts[f"redlist {red}"] = [m["redlists"][red] for m in report["monthly"]]
    kpis = [
        (
            "People falsely listed",
            f"{f['people_listed']:,}",
            f"{f['people_listed_per_100k']} per 100,000",
        ),
        (
            "People under a false measure",
            f"{f['people_measured']:,}",
            f"{f['people_measured_per_100k']} per 100,000",
        ),
        (
            "Measures prevented by notices",
            f"{100 * p['share_prevented']:.1f}%",
            f"{p['prevented']:,} of {p['notices_before_a_measure']:,}",
        ),
        (
            "Days a wrong record counted",
            f"{c['days_wrong_record_counted']['median']}",
            "median, until overturned",
        ),
    ]
    body = [
        f"<h1>Impact of {_esc(report['policy']['title'] or report['policy']['id'])}</h1>",
        f"<p>Policy <b>{_esc(report['policy']['id'])}</b> (versions "
        + ", ".join(
            f"{_esc(v['version'])} from {v['effective_from']}" for v in report["policy"]["versions"]
        )
        + f") over a synthetic population of {s['population']:,} subjects, "
        f"{s['start']} to {s['end']}, "
        f"seed {s['seed']}, error rate {s['faults']['error_rate']:.2%} of reports.</p>",
        '<div class="kpi">',
        *(f"<div>{_esc(t)}<b>{_esc(v)}</b><small>{_esc(sub)}</small></div>" for t, v, sub in kpis),
        "</div>",
    ]
    cross = report["cross_domain"]
    if cross["findings"]:
        body.append('<h2>Cross-domain measures (flagged)</h2><div class="flag">')
        body += [
            f"<p><b>{_esc(x['code'])}</b> {_esc(x['location'])}: {_esc(x['message'])}</p>"
            for x in cross["findings"]
        ]
        body.append(
            f"<p>{cross['episodes']:,} measure episode(s) in the run were cross-domain.</p></div>"
        )
    body += [
        "<h2>Grade distribution, month by month</h2>",
        stacked_bars(months, grades),
        "<h2>Listings and measures in force</h2>",
        lines(months, counts),
        "<h2>Lists</h2>",
        _table(
            [
                "list",
                "notices served",
                "listings",
                "people",
                "prevented",
                "pending at end",
                "exits",
            ],
            [
                [
                    lid,
                    x["notices_served"],
                    x["listings"],
                    x["people_listed"],
                    ", ".join(f"{k} {v}" for k, v in x["prevented"].items()) or "-",
                    x["pending_at_end"],
                    ", ".join(f"{k} {v}" for k, v in x["exits"].items()) or "-",
                ]
                for lid, x in report["lists"].items()
            ],
        ),
        "<h2>Measures</h2>",
        _table(
            ["measure", "domain", "episodes", "people", "cross-domain"],
            [
                [mid, x["domain"], x["episodes"], x["people"], "yes" if x["cross_domain"] else "no"]
                for mid, x in report["measures"].items()
            ],
        ),
        "<h2>Wrongly affected people (clean ground truth)</h2>",
        _table(
            ["figure", "value"],
            [
                ["listings of people who did nothing", f["listings"]],
                ["people falsely listed", f["people_listed"]],
                ["… per 100,000", f["people_listed_per_100k"]],
                ["people under a false measure", f["people_measured"]],
                ["… per 100,000", f["people_measured_per_100k"]],
                [
                    "listings the true records alone would not have caused",
                    f["listings_caused_by_errors"],
                ],
                ["false listings corrected", f["corrected"]],
                ["false listings still running at the end", f["still_listed_at_end"]],
            ],
        ),
        "<h2>Objections and correction</h2>",
        _table(
            ["figure", "value"],
            [
                ["objections filed", c["objections"]],
                ["… after a notice", c["after_a_notice"]],
                ["overturned", c["overturned"]],
                ["upheld", c["upheld"]],
                ["open", c["open"]],
                ["wrong records never contested", c["wrong_records_never_contested"]],
                [
                    "days a wrong record counted: median / mean / p90",
                    "{median} / {mean} / {p90}".format(**c["days_wrong_record_counted"]),
                ],
                [
                    "days falsely listed: median / mean / p90",
                    "{median} / {mean} / {p90}".format(**c["days_falsely_listed"]),
                ],
            ],
        ),
        "<h2>Warning before punishment</h2>",
        _table(
            ["figure", "value"],
            [
                ["notices before a measure", p["notices_before_a_measure"]],
                ["measures prevented", p["prevented"]],
                ["measures enforced", p["enforced"]],
                ["share prevented", f"{100 * p['share_prevented']:.1f}%"],
                *([f"prevented: {k}", v] for k, v in p["by_cause"].items()),
                ["warned people who rectified", p["warned_who_rectified"]],
            ],
        ),
    ]
    for key, title in (("region", "region"), ("age_band", "age band")):
        rows = report["burden"][key]
        body += [
            f"<h2>Burden by {title}</h2>",
            hbars([(r["group"], r["listed_per_100k"]) for r in rows], "listed per 100k"),
            _table(
                [
                    title,
                    "population",
                    "listed",
                    "per 100k",
                    "under a measure",
                    "per 100k",
                    "falsely listed",
                ],
                [
                    [
                        r["group"],
                        r["population"],
                        r["listed"],
                        r["listed_per_100k"],
                        r["measured"],
                        r["measured_per_100k"],
                        r["falsely_listed"],
                    ]
                    for r in rows
                ],
            ),
        ]
    rec = report["records"]
    body += [
        "<h2>Data</h2>",
        _table(
            ["figure", "value"],
            [
                ["records", rec["total"]],
                ["wrong records", rec["wrong"]],
                *([f"… {k}", v] for k, v in rec["by_fault"].items()),
                ["late reports", rec["late"]],
                ["people with clean ground truth", report["population"]["clean_ground_truth"]],
                ["households with a listed member", report["households_with_a_listed_member"]],
            ],
        ),
        "<p><small>Synthetic data. Generated by <code>credence simulate</code>; "
        "the same seed gives the "
        "same report. The JSON beside this file holds every figure.</small></p>",
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(report['name'])}: impact report</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def render_diff_html(result: dict[str, Any]) -> str:
    """A policy diff as one self-contained HTML page."""
    a, b = result["a"], result["b"]
    body = [
        f"<h1>{_esc(a['policy'])} {_esc(a['version'])} → "
        f"{_esc(b['policy'])} {_esc(b['version'])}</h1>",
        f"<p>{result['population']:,} synthetic subjects (seed {result['seed']}, "
        f"{result['records']:,} records) judged on {result['as_of']}: "
        f"<b>{result['subjects_changed']:,}</b> change grade, list or measure.</p>",
        "<h2>Grade moves</h2>",
        _table(
            ["from", "to", "subjects"],
            [[m["from"], m["to"], m["subjects"]] for m in result["grade_moves"]],
        ),
        "<h2>Lists</h2>",
        _table(
            ["list", "entered", "left"],
            [[k, v["entered"], v["left"]] for k, v in result["lists"].items()],
        ),
        "<h2>Measures</h2>",
        _table(
            ["measure", "gained", "lost"],
            [[k, v["gained"], v["lost"]] for k, v in result["measures"].items()],
        ),
        "<h2>Rules behind the changes</h2>",
        hbars([(r["kind"], r["subjects"]) for r in result["rules"][:15]], "subjects", width=700),
        _table(
            ["record kind", "subjects", "points B − A"],
            [[r["kind"], r["subjects"], r["points_delta"]] for r in result["rules"]],
        ),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>policy diff</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
