"""The web in a real browser: a subject objects, a reviewer overturns, the process run follows.

The tests of this module run in order against one store: each step starts where the last one
left off, as people would use the site.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.world import WRONG, World, process


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page, with the server as base URL."""
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    p = context.new_page()
    try:
        yield p
    finally:
        context.close()


def expect(locator: Any) -> Any:
    """Playwright's auto-waiting assertions."""
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def sign_in(page: Any, world: World, name: str, start: str = "/") -> None:
    """Sign in with the keyboard only: type the key into the labelled field and press Enter."""
    page.goto(start)
    page.get_by_label("API key").fill(world.keys[name])
    page.get_by_label("API key").press("Enter")
    page.wait_for_load_state()


def test_subject_reads_the_explanation_and_objects(
    page: Any, world: World, shots: Path, tmp_path: Path
) -> None:
    page.goto("/portal")
    expect(page).to_have_url("/sign-in?next=/portal")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not recognised")
    page.screenshot(path=str(shots / "sign-in.png"))

    page.get_by_label("API key").fill(world.keys["alice"])
    page.get_by_label("API key").press("Enter")
    expect(page).to_have_url("/portal")
    expect(page.get_by_test_id("score")).to_have_text("560")
    expect(page.get_by_test_id("grade")).to_have_text("D")
    row = page.get_by_test_id("contributions").locator("tr", has_text="J-ALICE-2")
    expect(row).to_contain_text("-100")
    expect(row).to_contain_text("Civil Procedure Code art. 255")
    expect(row).to_contain_text("Court")
    notice = page.get_by_test_id("notice").first
    expect(notice).to_contain_text("Blacklist of serious dishonesty")
    expect(notice).to_contain_text("delivered")
    expect(notice).to_contain_text("days left")
    expect(page.locator("svg.chart")).to_have_count(2)
    # A visit's own reads are written as its page is sent: the next visit shows them.
    page.reload()
    expect(page.get_by_test_id("accesses")).to_contain_text("self-service")
    page.screenshot(path=str(shots / "portal.png"), full_page=True)

    # A statement is required: the error says so next to the field.
    page.get_by_label("Record", exact=True).select_option(WRONG)
    page.get_by_role("button", name="File objection").click()
    expect(page.locator("#statement-error")).to_contain_text("statement is required")
    expect(page.get_by_label("Why is it wrong?")).to_have_attribute("aria-invalid", "true")

    evidence = tmp_path / "receipt-for-e2e.txt"
    evidence.write_text("Receipt: judgment J-ALICE-2 paid in full.\n")
    page.get_by_label("Record", exact=True).select_option(WRONG)
    page.get_by_label("Why is it wrong?").fill("I paid this judgment in full; receipt attached.")
    page.get_by_label("Evidence (optional)").set_input_files(str(evidence))
    page.get_by_role("button", name="File objection").click()
    expect(page.get_by_role("status")).to_contain_text("was filed")
    # The contest suspends the record: it stops counting while the objection is open.
    expect(page.get_by_test_id("score")).to_have_text("660")
    expect(page.get_by_test_id("objections")).to_contain_text("under review")


def test_reviewer_overturns_the_record(page: Any, world: World, shots: Path) -> None:
    sign_in(page, world, "rita")
    expect(page).to_have_url("/queue")
    queue = page.get_by_test_id("queue")
    expect(queue).to_contain_text("objection no.")
    expect(queue).to_contain_text("days")
    expect(queue).to_contain_text("measure no.")
    page.screenshot(path=str(shots / "review-queue.png"), full_page=True)

    queue.get_by_role("link", name="objection no.").first.click()
    expect(page.get_by_test_id("statement")).to_contain_text("I paid this judgment")
    expect(page.get_by_role("link", name="receipt-for-e2e.txt")).to_be_visible()
    expect(page.locator("main")).to_contain_text(WRONG)
    page.screenshot(path=str(shots / "review-objection.png"), full_page=True)

    # A refusal without a reason is refused, with the reason why.
    page.get_by_label("Uphold the record").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("alert")).to_contain_text("a refusal must say why")

    page.get_by_label("Overturn").check()
    page.get_by_label("Reason", exact=True).fill(
        "The receipt shows the judgment was paid before it was reported."
    )
    page.get_by_role("button", name="Record decision").click()
    expect(page).to_have_url("/queue?done=overturned-2")
    expect(page.get_by_role("status")).to_contain_text("Decision recorded")


def test_after_the_process_run_the_subject_sees_the_change(
    page: Any, world: World, shots: Path
) -> None:
    process(world)
    sign_in(page, world, "alice")
    expect(page.get_by_test_id("score")).to_have_text("660")
    expect(page.get_by_test_id("grade")).to_have_text("C")
    expect(page.get_by_test_id("contributions")).not_to_contain_text("J-ALICE-2")
    expect(page.get_by_test_id("not-counted")).to_contain_text("J-ALICE-2")
    notice = page.get_by_test_id("notice").first
    expect(notice).not_to_contain_text("days left")
    expect(notice.locator(".badge")).not_to_have_text("delivered")
    expect(page.get_by_test_id("objections")).to_contain_text("overturned")
    expect(page.get_by_test_id("accesses")).to_contain_text("review of objection")
    page.screenshot(path=str(shots / "portal-after-review.png"), full_page=True)


def figures_ready(page: Any, tries: int = 120) -> None:
    """Reload the analytics page until the figures computed in the background are shown."""
    for _ in range(tries):
        if page.get_by_test_id("section-grades-by-region").count():
            return
        page.wait_for_timeout(500)
        page.reload()
    pytest.fail("the analytics figures were never shown")


def test_analytics_render_with_charts(page: Any, world: World, shots: Path) -> None:
    sign_in(page, world, "audrey")
    expect(page).to_have_url("/analytics")
    figures_ready(page)
    # The store changed since the figures were last kept (or none were): the page computes them
    # in the background, polls its progress and reloads itself when they are there.
    expect(page.get_by_test_id("section-grades-by-region")).to_be_visible(timeout=180_000)
    expect(page.locator("#analytics-progress")).to_have_count(0, timeout=180_000)
    for name in ("grades-by-region", "grades-over-time", "lists", "measures", "objections"):
        expect(page.get_by_test_id(f"section-{name}").locator("svg.chart")).to_have_count(1)
    expect(page.get_by_test_id("section-grades-by-region")).to_contain_text("Riverside")
    expect(page.get_by_test_id("section-objections")).to_contain_text("overturned")
    csv = page.request.get("/analytics/grades-by-region.csv")
    assert csv.ok and csv.text().startswith("region,")
    page.screenshot(path=str(shots / "analytics.png"), full_page=True)


def test_policy_lab_lints_tests_and_diffs(page: Any, world: World, shots: Path) -> None:
    sign_in(page, world, "audrey", "/lab")
    page.get_by_label("Bundled policy").select_option("city-merit")
    page.get_by_role("button", name="Lint and run tests").click()
    results = page.get_by_test_id("check")
    expect(results).to_contain_text("Lint: 0 errors")
    expect(results).to_contain_text("passed")
    expect(page).to_have_url("/lab")  # htmx swapped the results in place

    page.get_by_label("Policy A (before)").select_option("city-merit@2026.1")
    page.get_by_label("Policy B (after)").select_option("city-merit@2026.2")
    page.get_by_label("Synthetic population", exact=False).fill("lots")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#population-error, #diff-results .error").first).to_contain_text(
        "whole number"
    )
    page.get_by_label("Synthetic population", exact=False).fill("300")
    page.get_by_role("button", name="Compare").click()
    diff = page.get_by_test_id("diff")
    # The comparison runs both policies through the real pipeline: it takes a while.
    expect(diff).to_contain_text("city-merit 2026.1 → city-merit 2026.2", timeout=180_000)
    expect(diff).to_contain_text("of 300 synthetic subjects change grade, list or measure")
    expect(diff.locator("svg.chart")).to_have_count(1)
    page.screenshot(path=str(shots / "policy-lab.png"), full_page=True)
