"""The web front end: citizen portal, reviewer queue, analytics and policy lab (Jinja2 + htmx)."""

from credence.web.app import create_web_router

__all__ = ["create_web_router"]
