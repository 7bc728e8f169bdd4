"""docs/web.md documents every route, every analytics table and every screenshot it shows."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from credence.compute.analytics import TABLES
from credence.web import create_web_router
from tests.web.world import World

DOCS = Path(__file__).parents[2] / "docs"


def test_every_route_is_documented(world: World) -> None:
    text = (DOCS / "web.md").read_text()
    router = create_web_router(world.store, world.policy)
    paths = {r.path for r in router.routes if isinstance(r, APIRoute)}
    assert paths
    missing = sorted(p for p in paths if f"`{p}`" not in text)
    assert not missing, f"routes missing from docs/web.md: {missing}"


def test_every_analytics_table_is_documented() -> None:
    text = (DOCS / "web.md").read_text()
    names = set(TABLES)
    assert len(names) == 6
    assert all(f"`{n}`" in text for n in names)


def test_every_screenshot_shown_exists() -> None:
    text = (DOCS / "web.md").read_text()
    shown = re.findall(r"\((screenshots/[^)]+\.png)\)", text)
    assert shown
    assert all((DOCS / s).is_file() for s in shown), shown
