"""Analytics: the state of the population as the ratings show it, every table as CSV too.

The page renders the figures kept in the store (:mod:`credence.compute.analytics`: the batch
plan over the whole store, one aggregate read per computation). When they are missing, of
another day or of an older state of the store, it starts the computation in the background
(:mod:`credence.compute.analytics_runner`) and shows what it has, with the computation's
progress polled by htmx, until the new figures are there.
"""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from credence import charts, csvsafe
from credence.audit.access import Access
from credence.compute import analytics as an
from credence.compute.analytics import Figures, Table
from credence.compute.analytics_runner import Refresher, Status
from credence.web.app import User, Web, WebError

PURPOSE = "aggregate statistics (analytics page)"
POLL_S = 1


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


def _short(label: str, as_of: str) -> str:
    """A month's first day as ``YYYY-MM`` and the figures' day as "today"; others as they are."""
    if label == as_of:
        return "today"
    if len(label) == 10 and label.endswith("-01") and label[4] == "-":
        return label[:7]
    return label


def chart_of(f: Figures, name: str, colours: dict[str, str]) -> Any:
    """The SVG chart of one table."""
    t = f.tables[name]
    if name in ("grades-by-region", "grades-over-time"):
        groups = [
            (_short(str(r[0]), f.as_of.isoformat()), dict(zip(f.grades, r[1:-1], strict=True)))
            for r in t.rows
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
    refresher = Refresher(web.store, web.policy)
    # A computation under way ends with the server (uvicorn runs these on SIGTERM/SIGINT).
    router.on_shutdown.append(refresher.cancel)

    def kept(user: User) -> tuple[Figures | None, bool]:
        """The kept figures and whether they are current; starts a computation if they are not."""
        today = web.today()
        with web.store.session() as session:
            f = an.load(session, web.policy.id)
            current = f is not None and an.is_current(f, session, today)
        if not current and not refresher.running():
            refresher.start(today, Access(user.name, user.role, PURPOSE))
        return f, current

    @router.get("/analytics")
    def analytics(request: Request) -> HTMLResponse:
        """Every table with its chart, and the computation's progress while one runs."""
        user = web.require(request, "analytics")
        f, current = kept(user)
        sections = []
        if f is not None:
            version = web.policy.version_at(f.as_of) or web.policy.latest
            colours = charts.grade_colours(list(f.grades), version.higher_is_better)
            sections = [(f.tables[n], chart_of(f, n, colours)) for n in f.tables]
        context = {
            "f": f,
            "current": current,
            "sections": sections,
            "status": None if current else refresher.status(),
            "poll": POLL_S,
        }
        return web.render(request, "analytics.html", context, user=user)

    @router.get("/analytics/progress")
    def progress(request: Request) -> HTMLResponse:
        """The computation's progress (polled); once it is done, tells htmx to reload the page."""
        user = web.require(request, "analytics")
        today = web.today()
        status = refresher.status()
        with web.store.session() as session:
            f = an.load(session, web.policy.id)
            current = f is not None and an.is_current(f, session, today)
        ended = status is not None and not status.running and not status.elsewhere
        if (current or ended) and (status is None or status.error is None):
            return HTMLResponse(
                '<p id="analytics-progress" role="status">The figures are ready.</p>',
                headers={"HX-Refresh": "true", "Cache-Control": "no-store"},
            )
        return web.render(
            request,
            "analytics_progress.html",
            {"status": status, "poll": POLL_S},
            user=user,
        )

    @router.get("/analytics/{name}.csv")
    def download(request: Request, name: str) -> Response:
        """One table as CSV (as last computed)."""
        user = web.require(request, "analytics")
        f, _ = kept(user)
        if f is None:
            raise WebError(503, "The figures are being computed: try again in a minute.")
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


__all__ = ["PURPOSE", "Status", "chart_of", "routes", "to_csv"]
