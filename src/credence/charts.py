"""Charts drawn on the server as inline SVG: no script, nothing fetched, readable without colour.

Every chart has ``role="img"``, a ``<title>`` and a text summary in ``aria-label``; the page
shows the same figures in a table beside it, so a screen reader user loses nothing.

>>> svg = bar_chart([("A", 3), ("B", 1)], title="Grades")
>>> svg.startswith('<svg') and 'Grades' in svg and '>3<' in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from markupsafe import Markup

# Colour-blind-safe palette (Okabe-Ito), bad → good for grades.
PALETTE = ("#d55e00", "#e69f00", "#f0e442", "#56b4e9", "#009e73", "#0072b2", "#cc79a7", "#999999")
INK = "#1f2933"
GRID = "#d0d7de"


def _t(text: object) -> str:
    return escape(str(text), quote=True)


def _svg(width: int, height: int, title: str, body: list[str], label: str | None = None) -> Markup:
    aria = _t(label or title)
    # The <desc> carries every figure drawn, for readers that skip aria-label.
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" role="img" aria-label="{aria}" class="chart">'
        f"<title>{_t(title)}</title><desc>{aria}</desc>{''.join(body)}</svg>"
    )


def _axis_labels(w: int, h: int, x_label: str, y_label: str) -> list[str]:
    """The x axis label centred under the plot, the y axis label turned along the left edge."""
    out = []
    if x_label:
        out.append(
            f'<text x="{w / 2:.0f}" y="{h - 4}" text-anchor="middle" font-size="12" '
            f'fill="{INK}" class="axis-label">{_t(x_label)}</text>'
        )
    if y_label:
        out.append(
            f'<text x="12" y="{h / 2:.0f}" text-anchor="middle" font-size="12" fill="{INK}" '
            f'transform="rotate(-90 12 {h / 2:.0f})" class="axis-label">{_t(y_label)}</text>'
        )
    return out


def grade_colours(grades: Sequence[str], higher_is_better: bool = True) -> dict[str, str]:
    """A colour per grade, from the worst (vermilion) to the best (green/blue).

    ``grades`` are ordered from the lowest score band to the highest.

    >>> grade_colours(["D", "C", "B"])["D"]
    '#d55e00'
    >>> grade_colours(["clear", "low", "high"], higher_is_better=False)["high"]
    '#d55e00'
    """
    ordered = list(grades) if higher_is_better else list(reversed(grades))
    n = len(ordered)
    good = ("#d55e00", "#e69f00", "#f0e442", "#56b4e9", "#009e73", "#0072b2")
    out = {}
    for i, g in enumerate(ordered):
        j = 0 if n == 1 else round(i * (len(good) - 1) / (n - 1))
        out[g] = good[j]
    return out


@dataclass(frozen=True)
class Band:
    """A grade band on the gauge: its bounds and colour."""

    grade: str
    low: int
    high: int
    colour: str


def gauge(score: int, low: int, high: int, bands: Sequence[Band], grade: str, label: str) -> Markup:
    """A half-circle gauge of ``score`` on [low, high], the grade bands as coloured arcs."""
    w, h, cx, cy, r = 320, 200, 160, 170, 130
    span = max(high - low, 1)

    def point(value: float, radius: float) -> tuple[float, float]:
        angle = math.pi * (1 - (min(max(value, low), high) - low) / span)
        return cx + radius * math.cos(angle), cy - radius * math.sin(angle)

    body = []
    for b in bands:
        x1, y1 = point(b.low, r)
        x2, y2 = point(b.high + 1 if b.high < high else high, r)
        large = 1 if (b.high - b.low) / span > 0.5 else 0
        body.append(
            f'<path d="M{x1:.1f},{y1:.1f} A{r},{r} 0 {large} 1 {x2:.1f},{y2:.1f}" '
            f'stroke="{b.colour}" stroke-width="26" fill="none"><title>{_t(b.grade)}: '
            f"{b.low}–{b.high}</title></path>"
        )
    nx, ny = point(score, r - 30)
    body.append(
        f'<line x1="{cx}" y1="{cy}" x2="{nx:.1f}" y2="{ny:.1f}" stroke="{INK}" '
        'stroke-width="5" stroke-linecap="round"/>'
    )
    body.append(f'<circle cx="{cx}" cy="{cy}" r="8" fill="{INK}"/>')
    body.append(
        f'<text x="{cx}" y="{cy - 50}" text-anchor="middle" font-size="34" font-weight="700" '
        f'fill="{INK}">{score}</text>'
    )
    body.append(
        f'<text x="{cx}" y="{cy + 24}" text-anchor="middle" font-size="18" fill="{INK}">'
        f"grade {_t(grade)}</text>"
    )
    body.append(f'<text x="18" y="{cy + 24}" font-size="12" fill="{INK}">{low}</text>')
    body.append(
        f'<text x="{w - 18}" y="{cy + 24}" font-size="12" text-anchor="end" '
        f'fill="{INK}">{high}</text>'
    )
    return _svg(w, h, label, body, f"{label}: score {score}, grade {grade}, scale {low}–{high}")


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    colours: dict[str, str] | None = None,
    unit: str = "",
    x_label: str = "",
    y_label: str = "",
) -> Markup:
    """Horizontal bars, one per (label, value), the value written at the end of each bar.

    ``x_label`` names the values (drawn under the bars), ``y_label`` what each bar is."""
    w, row, left, right = 560, 26, 170, 60
    h = max(len(items), 1) * row + 20 + (20 if x_label else 0)
    peak = max((v for _, v in items), default=0) or 1
    body = []
    for i, (name, value) in enumerate(items):
        y = 10 + i * row
        bw = (w - left - right) * value / peak
        colour = (colours or {}).get(name, PALETTE[5])
        shown = f"{value:g}{unit}"
        body.append(
            f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="13" '
            f'fill="{INK}">{_t(name)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{bw:.1f}" height="{row - 8}" fill="{colour}">'
            f"<title>{_t(name)}: {shown}</title></rect>"
            f'<text x="{left + bw + 6:.1f}" y="{y + 17}" font-size="13" fill="{INK}">{shown}</text>'
        )
    if not items:
        body.append(f'<text x="{left}" y="26" font-size="13" fill="{INK}">no data</text>')
    body += _axis_labels(w, h, x_label, y_label)
    summary = ", ".join(f"{n}: {v:g}{unit}" for n, v in items) or "no data"
    return _svg(w, h, title, body, f"{title}: {summary}")


def stacked_bars(
    groups: Sequence[tuple[str, dict[str, int]]],
    keys: Sequence[str],
    *,
    title: str,
    colours: dict[str, str],
    x_label: str = "",
    y_label: str = "",
) -> Markup:
    """Vertical bars, one per group, stacked by key (shares of the group), with a legend."""
    w, h, top, bottom, left = 900, 300 + (20 if x_label else 0), 20, 60 + (20 if x_label else 0), 40
    left += 16 if y_label else 0
    n = max(len(groups), 1)
    slot = (w - left - 10) / n
    bw = min(slot * 0.7, 60)
    plot = h - top - bottom
    body = [
        f'<line x1="{left}" y1="{top + plot}" x2="{w - 10}" y2="{top + plot}" stroke="{GRID}"/>'
    ]
    for pct in (0, 50, 100):
        y = top + plot * (1 - pct / 100)
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{INK}">{pct}%</text>'
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - 10}" y2="{y:.1f}" stroke="{GRID}" '
            'stroke-dasharray="2,3"/>'
        )
    for i, (name, counts) in enumerate(groups):
        total = sum(counts.values()) or 1
        x = left + i * slot + (slot - bw) / 2
        y = top + plot
        for k in keys:
            v = counts.get(k, 0)
            if not v:
                continue
            bh = plot * v / total
            y -= bh
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                f'fill="{colours.get(k, PALETTE[7])}" stroke="#fff" stroke-width="0.5">'
                f"<title>{_t(name)} · {_t(k)}: {v} of {total}</title></rect>"
            )
        body.append(
            f'<text x="{x + bw / 2:.1f}" y="{top + plot + 16}" text-anchor="middle" '
            f'font-size="11" fill="{INK}">{_t(name)}</text>'
        )
    lx = left
    ly = h - 22 - (20 if x_label else 0)
    for k in keys:
        colour = colours.get(k, PALETTE[7])
        body.append(
            f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="{ly + 10}" font-size="12" fill="{INK}">{_t(k)}</text>'
        )
        lx += 24 + 8 * len(k) + 14
    body += _axis_labels(w, h, x_label, y_label)
    shares = "; ".join(
        f"{name}: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in keys) for name, counts in groups
    )
    return _svg(w, h, title, body, f"{title} (stacked shares of {', '.join(keys)}): {shares}")


@dataclass(frozen=True)
class Point:
    """A point of the score timeline; ``ahead`` marks a projected change."""

    on: date
    score: int
    ahead: bool = False
    note: str = ""


def timeline(points: Sequence[Point], low: int, high: int, *, title: str, today: date) -> Markup:
    """The score over time as a step line; projected changes dashed, each one marked and noted."""
    w, h, left, right, top, bottom = 900, 280, 50, 30, 20, 40
    if not points:
        return _svg(w, h, title, [f'<text x="{left}" y="40">no data</text>'])
    first = points[0].on.toordinal()
    last = max(points[-1].on.toordinal(), first + 1)
    scores = [p.score for p in points]
    lo = min(min(scores), low if high - low < 400 else min(scores) - 20)
    hi = max(max(scores), high if high - low < 400 else max(scores) + 20)
    if hi == lo:
        hi, lo = hi + 10, lo - 10

    # The past takes the left 60% and the future the rest, so that expiries years ahead do
    # not squeeze the last twelve months into a sliver.
    now_x = today.toordinal()
    future = any(p.on.toordinal() > now_x for p in points)
    split = left + (w - left - right) * (0.6 if future else 1.0)

    def xy(day: date, score: int) -> tuple[float, float]:
        d = day.toordinal()
        if d <= now_x or not future:
            x = left + (split - left) * (d - first) / max(now_x - first, 1)
        else:
            x = split + (w - right - split) * (d - now_x) / max(last - now_x, 1)
        y = top + (h - top - bottom) * (hi - score) / (hi - lo)
        return x, y

    body = []
    for v in (lo, (lo + hi) // 2, hi):
        _, y = xy(points[0].on, v)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="{GRID}" '
            f'stroke-dasharray="2,3"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="{INK}">{v}</text>'
        )
    past = [p for p in points if not p.ahead]
    ahead = [p for p in points if p.ahead]

    def steps(seq: Sequence[Point]) -> str:
        out: list[str] = []
        prev: Point | None = None
        for p in seq:
            x, y = xy(p.on, p.score)
            if prev is not None:
                _, py = xy(prev.on, prev.score)
                out.append(f"L{x:.1f},{py:.1f}")
                out.append(f"L{x:.1f},{y:.1f}")
            else:
                out.append(f"M{x:.1f},{y:.1f}")
            prev = p
        return " ".join(out)

    body.append(f'<path d="{steps(past)}" stroke="{PALETTE[5]}" stroke-width="3" fill="none"/>')
    if ahead and past:
        body.append(
            f'<path d="{steps([past[-1], *ahead])}" stroke="{PALETTE[0]}" stroke-width="2.5" '
            'stroke-dasharray="6,4" fill="none"/>'
        )
    tx, _ = xy(today, lo)
    body.append(
        f'<line x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{h - bottom}" stroke="{INK}" '
        f'stroke-width="1"/><text x="{tx + 4:.1f}" y="{top + 10}" font-size="11" '
        f'fill="{INK}">today</text>'
    )
    for p in points:
        x, y = xy(p.on, p.score)
        colour = PALETTE[0] if p.ahead else PALETTE[5]
        note = f" — {p.note}" if p.note else ""
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if p.ahead else 3}" fill="{colour}">'
            f"<title>{p.on.isoformat()}: {p.score}{_t(note)}</title></circle>"
        )
    drawn = -1000.0
    for p in sorted(points, key=lambda p: p.on):
        x, _ = xy(p.on, lo)
        if x - drawn < 70 or p.on == today:
            continue
        drawn = x
        body.append(
            f'<text x="{x:.1f}" y="{h - bottom + 16}" text-anchor="middle" font-size="10" '
            f'fill="{INK}">{p.on.isoformat()}</text>'
        )
    body.append(
        f'<text x="{left}" y="{h - 6}" font-size="11" fill="{INK}">solid: score as now known; '
        "dashed: changes ahead if nothing new is reported</text>"
    )
    summary = "; ".join(f"{p.on.isoformat()} {p.score}" for p in points)
    return _svg(w, h, title, body, f"{title}: {summary}")
