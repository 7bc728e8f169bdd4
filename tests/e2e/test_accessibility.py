"""Accessibility in a real browser: axe-core on every page, the focus ring, the error summary,
and every page at 375 px wide without sideways scrolling.

axe-core 4.14.1 is vendored under ``tests/e2e/vendor/`` (MPL-2.0, its licence beside it) and run
with ``page.evaluate``, so the site's CSP (no inline scripts) stays on while it runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.world import WRONG, World

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
WIDTHS = (1280, 375)


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def page(request: pytest.FixtureRequest, browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser context (no cookies) at the given width."""
    width = request.param
    context = browser.new_context(base_url=server, viewport={"width": width, "height": 800})
    context.set_default_timeout(20_000)
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()


def sign_in(page: Any, world: World, name: str, start: str = "/") -> None:
    """Sign in with the keyboard (the key in the labelled field, then Enter)."""
    page.goto(start)
    page.get_by_label("API key").fill(world.keys[name])
    page.get_by_label("API key").press("Enter")
    page.wait_for_load_state()


def serious(page: Any) -> list[str]:
    """axe-core's critical and serious violations on the page, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
    )
    return [
        f"{v['impact']} {v['id']}: {', '.join(v['nodes'])}"
        for v in result
        if v["impact"] in ("critical", "serious")
    ]


def overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    value: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return value


WIDEST = """() => {
  const w = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > w + 0.5)
    .slice(-3).map(e => e.tagName + '.' + e.className + ' ' + e.outerHTML.slice(0, 60));
}"""


def check(page: Any, what: str) -> None:
    """No critical or serious axe violation, and no sideways scrolling."""
    assert serious(page) == [], what
    too_wide = overflow(page)
    assert too_wide <= 0, f"{what}: {too_wide} px too wide: {page.evaluate(WIDEST)}"


def test_sign_in_and_its_error(page: Any, world: World) -> None:
    page.goto("/sign-in")
    check(page, "sign-in")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_label("API key").press("Enter")
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    check(page, "sign-in error")


def test_portal_notices_and_the_objection_form(page: Any, world: World) -> None:
    sign_in(page, world, "alice")
    assert page.url.endswith("/portal")
    check(page, "portal")
    assert page.get_by_test_id("notice").count() >= 1
    # A failed submit: the summary takes the focus and links to the field.
    record = page.get_by_label("Record", exact=True)
    if record.locator(f'option[value="{WRONG}"]').count() == 0:
        record.select_option(index=1)  # the 375 px run: WRONG is contested since the first
    else:
        record.select_option(WRONG)
    page.get_by_role("button", name="File objection").click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    summary = page.locator("#error-summary")
    assert "statement is required" in summary.inner_text()
    assert summary.locator("a").first.get_attribute("href") == "#statement"
    check(page, "portal after a failed objection")
    # Then filed, so that the reviewer has an objection to open (the first width only).
    page.get_by_label("Why is it wrong?").fill("I paid this judgment in full.")
    page.get_by_role("button", name="File objection").click()
    page.wait_for_load_state()
    assert "was filed" in page.get_by_role("status").inner_text()
    check(page, "portal with an objection under review")


def test_reviewer_queue_and_reviews(page: Any, world: World) -> None:
    sign_in(page, world, "rita")
    assert page.url.endswith("/queue")
    check(page, "queue")
    links = page.get_by_test_id("queue").locator("a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    objection = next(h for h in hrefs if "/objections/" in h)
    measure = next(h for h in hrefs if "/measures/" in h)
    page.goto(objection)
    check(page, "objection under review")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    check(page, "objection decision error")
    page.goto(measure)
    check(page, "measure under review")


def test_analytics_and_lab(page: Any, world: World) -> None:
    sign_in(page, world, "audrey")
    page.goto("/analytics")
    check(page, "analytics (while the figures are computed, or after)")
    for _ in range(120):
        if page.get_by_test_id("section-grades-by-region").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.get_by_test_id("section-grades-by-region").count() == 1
    check(page, "analytics with its figures")
    page.goto("/lab")
    check(page, "lab")


def test_error_pages(page: Any, world: World) -> None:
    r = page.goto("/nope")
    assert r.status == 404 and r.headers["content-type"].startswith("text/html")
    check(page, "404")
    sign_in(page, world, "rita")
    r = page.goto("/portal")
    assert r.status == 403
    check(page, "403")


def _rgb(text: str) -> tuple[float, float, float, float]:
    found = re.findall(r"[\d.]+", text)
    r, g, b = (float(x) for x in found[:3])
    return r, g, b, float(found[3]) if len(found) > 3 else 1.0


def _luminance(rgb: tuple[float, float, float, float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b, _ = rgb
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The WCAG contrast ratio of two colours."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


RING = """el => {
  const s = getComputedStyle(el);
  let bg = 'rgba(0, 0, 0, 0)';
  for (let n = el; n; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') { bg = c; break; }
  }
  const shadow = (s.boxShadow.match(/rgba?\\([^)]*\\)/) || ['rgba(0, 0, 0, 0)'])[0];
  return {outline: s.outlineStyle === 'none' ? 'rgba(0, 0, 0, 0)' : s.outlineColor,
          shadow, bg: bg === 'rgba(0, 0, 0, 0)' ? 'rgb(255, 255, 255)' : bg};
}"""


@pytest.mark.parametrize("page", [1280], indirect=True, ids=["1280px"])
def test_the_focus_ring_is_3_to_1_on_every_background(page: Any, world: World) -> None:
    sign_in(page, world, "alice")
    seen = 0
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            break
        ring = page.evaluate(f"({RING})(document.activeElement)")
        bg = _rgb(ring["bg"])
        best = max(contrast(_rgb(ring["outline"]), bg), contrast(_rgb(ring["shadow"]), bg))
        name = page.evaluate("document.activeElement.outerHTML.slice(0, 80)")
        assert best >= 3, f"{name}: focus ring {best:.2f}:1 on {ring['bg']}"
        seen += 1
    assert seen >= 8  # the skip link, the header, the form's fields and more were reached
