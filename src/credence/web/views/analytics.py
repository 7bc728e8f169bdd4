"""Analytics: the state of the population as the ratings show it, every table as CSV too.

Grades come from the reference evaluator run over every subject with records (each read is
logged with the purpose "aggregate statistics"). The figures are kept until the store changes
(new records, status changes, objections or process runs), so reloading the page neither
re-reads every subject nor floods their access logs.
"""

from __future__ import annotations

import io
import json
import statistics
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credence import csvsafe
from credence.audit.access import Access
from credence.errors import CredenceError
from credence.states import ListingStatus as L
from credence.states import MeasureStatus as M
from credence.store.reader import inputs_of
from credence.store.schema import (
    ListEntry,
    MeasureRow,
    Objection,
    ProcessEvent,
    ProcessRun,
    RecordStatus,
    StoredRecord,
    Subject,
)
from credence.web import charts
from credence.web.app import User, Web, WebError
from credence.web.views.portal import assess, month_starts

PURPOSE = "aggregate statistics (analytics page)"
UNKNOWN_REGION = "(no region)"


@dataclass(frozen=True)
class Table:
    """A table of figures: a title, column names and rows (also served as CSV)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Figures:
    """Every table of the analytics page, as of one day and one state of the store."""

    as_of: date
    subjects: int
    grades: tuple[str, ...]
    tables: dict[str, Table]
    failed: int = 0


def fingerprint(session: Session, today: date) -> tuple[Any, ...]:
    """What changes whenever a figure can change."""
    return (
        today,
        session.scalar(select(func.count()).select_from(StoredRecord)),
        session.scalar(select(func.max(RecordStatus.id))),
        session.scalar(select(func.max(ProcessEvent.id))),
        session.scalar(select(func.max(ProcessRun.id))),
        session.scalar(select(func.count()).select_from(Subject)),
    )


def compute(web: Web, user: User, session: Session) -> Figures:
    """Evaluate every subject with records and count what the page shows (logged reads)."""
    today = web.today()
    policy = web.policy
    version = policy.version_at(today) or policy.latest
    grades = tuple(g.grade for g in sorted(version.grades, key=lambda g: g.min))
    access = Access(user.name, user.role, PURPOSE)
    regions = dict(session.execute(select(Subject.subject_id, Subject.region)).all())
    ids = list(session.scalars(select(StoredRecord.subject_id).distinct()))
    months = month_starts(policy.versions[0].effective_from, today)
    by_region: dict[str, Counter[str]] = defaultdict(Counter)
    by_month: dict[date, Counter[str]] = defaultdict(Counter)
    failed = 0
    # Every subject's inputs in a few statements, every read logged in one write.
    everyone = inputs_of(
        session, web.store.keys, sorted(ids), None, access=access, policy_id=policy.id,
        what="records", now=web.now(),
    )  # fmt: skip
    for sid, inputs in everyone.items():
        try:
            now = assess(policy, inputs, sid, today, today)
            by_region[regions.get(sid) or UNKNOWN_REGION][now.grade] += 1
            for m in months:
                if m < today:
                    by_month[m][assess(policy, inputs, sid, m, today).grade] += 1
        except CredenceError:
            failed += 1
    by_month[today] = Counter({g: sum(c[g] for c in by_region.values()) for g in grades})
    tables: dict[str, Table] = {}
    tables["grades-by-region"] = Table(
        "grades-by-region",
        "Grades by region (today)",
        ("region", *grades, "subjects"),
        tuple(
            (region, *(c[g] for g in grades), sum(c.values()))
            for region, c in sorted(by_region.items())
        ),
    )
    tables["grades-over-time"] = Table(
        "grades-over-time",
        "Grades over time (first of each month, as now known)",
        ("date", *grades, "subjects"),
        tuple(
            (d.isoformat(), *(c[g] for g in grades), sum(c.values()))
            for d, c in sorted(by_month.items())
        ),
    )
    list_rows: dict[str, Counter[str]] = defaultdict(Counter)
    for list_id, status, n in session.execute(
        select(ListEntry.list_id, ListEntry.status, func.count()).group_by(
            ListEntry.list_id, ListEntry.status
        )
    ):
        list_rows[list_id][status] += n
    tables["lists"] = Table(
        "lists",
        "List sizes",
        ("list", "listed now", "pending notice", "removed", "withdrawn"),
        tuple(
            (lid, c[L.LISTED], c[L.PENDING_NOTICE], c[L.REMOVED], c[L.WITHDRAWN])
            for lid, c in sorted(list_rows.items())
        ),
    )
    measure_rows: dict[str, Counter[str]] = defaultdict(Counter)
    for measure_id, status, n in session.execute(
        select(MeasureRow.measure_id, MeasureRow.status, func.count()).group_by(
            MeasureRow.measure_id, MeasureRow.status
        )
    ):
        measure_rows[measure_id][status] += n
    tables["measures"] = Table(
        "measures",
        "Measures",
        ("measure", "in force", "awaiting review", "lifted", "rescinded", "refused"),
        tuple(
            (mid, c[M.IN_FORCE], c[M.AWAITING_REVIEW], c[M.LIFTED], c[M.RESCINDED], c[M.REFUSED])
            for mid, c in sorted(measure_rows.items())
        ),
    )
    outcomes: Counter[str] = Counter()
    durations: dict[str, list[float]] = defaultdict(list)
    for o in session.scalars(select(Objection)):
        outcome = o.outcome or "open"
        outcomes[outcome] += 1
        decided = json.loads(o.body).get("decided_at")
        if decided:
            days = (datetime.fromisoformat(decided) - o.filed_at).total_seconds() / 86400
            durations[outcome].append(days)
        elif o.outcome == "lapsed":
            durations[outcome].append(float((o.review_deadline - o.filed_at.date()).days + 1))
    tables["objections"] = Table(
        "objections",
        "Objection outcomes",
        ("outcome", "objections"),
        tuple((k, outcomes[k]) for k in sorted(outcomes, key=_outcome_order)),
    )
    tables["review-times"] = Table(
        "review-times",
        "Review times (days from filing to decision)",
        ("outcome", "decided", "median days", "longest days"),
        tuple(
            (k, len(v), round(statistics.median(v), 1), round(max(v), 1))
            for k, v in sorted(durations.items())
        ),
    )
    return Figures(today, len(ids), grades, tables, failed)


def _outcome_order(outcome: str) -> tuple[int, str]:
    known = ("open", "overturned", "upheld", "lapsed")
    return (known.index(outcome) if outcome in known else len(known), outcome)


class Cache:
    """The last figures and the store state they were computed for."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.figures: Figures | None = None
        self.lock = threading.Lock()

    def get(self, web: Web, user: User) -> Figures:
        """The figures for the store as it is now (computed again only if it changed)."""
        with self.lock, web.store.session() as session:
            key = fingerprint(session, web.today())
            if self.figures is None or key != self.key:
                self.figures = compute(web, user, session)
                session.commit()
                self.key = key
            return self.figures


def to_csv(table: Table) -> str:
    """A table as CSV text with a header row.

    >>> to_csv(Table("t", "T", ("a", "b"), ((1, "x"),)))
    'a,b\\r\\n1,x\\r\\n'
    """
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return out.getvalue()


def _short(label: str, today: date) -> str:
    """A month's first day as ``YYYY-MM`` and today as "today"; any other label as it is."""
    if label == today.isoformat():
        return "today"
    if len(label) == 10 and label.endswith("-01") and label[4] == "-":
        return label[:7]
    return label


def chart_of(f: Figures, name: str, colours: dict[str, str]) -> Any:
    """The SVG chart of one table."""
    t = f.tables[name]
    if name in ("grades-by-region", "grades-over-time"):
        groups = [
            (_short(str(r[0]), f.as_of), dict(zip(f.grades, r[1:-1], strict=True))) for r in t.rows
        ]
        return charts.stacked_bars(groups, f.grades, title=t.title, colours=colours)
    if name == "lists":
        return charts.bar_chart([(r[0], r[1]) for r in t.rows], title="Listed now")
    if name == "measures":
        return charts.bar_chart([(r[0], r[1]) for r in t.rows], title="Measures in force")
    if name == "objections":
        outcome_colours = {
            "overturned": charts.PALETTE[4],
            "upheld": charts.PALETTE[0],
            "lapsed": charts.PALETTE[1],
            "open": charts.PALETTE[3],
        }
        return charts.bar_chart(
            [(r[0], r[1]) for r in t.rows], title=t.title, colours=outcome_colours
        )
    return charts.bar_chart(
        [(r[0], float(r[2])) for r in t.rows], title="Median review time", unit=" d"
    )


def routes(web: Web) -> APIRouter:
    """The analytics routes."""
    router = web.router()
    cache = Cache()

    @router.get("/analytics")
    def analytics(request: Request) -> HTMLResponse:
        """Every table with its chart."""
        user = web.require(request, "analytics")
        f = cache.get(web, user)
        version = web.policy.version_at(f.as_of) or web.policy.latest
        colours = charts.grade_colours(list(f.grades), version.higher_is_better)
        sections = [(f.tables[n], chart_of(f, n, colours)) for n in f.tables]
        return web.render(request, "analytics.html", {"f": f, "sections": sections}, user=user)

    @router.get("/analytics/{name}.csv")
    def download(request: Request, name: str) -> Response:
        """One table as CSV."""
        user = web.require(request, "analytics")
        f = cache.get(web, user)
        if name not in f.tables:
            raise WebError(404, f"There is no table {name!r}.")
        return Response(
            to_csv(f.tables[name]),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}-{f.as_of.isoformat()}.csv"'
            },
        )

    return router
