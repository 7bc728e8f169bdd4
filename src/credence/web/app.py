"""The web front end: one router with the portal, reviewer queue, analytics and policy lab.

``create_web_router(store, policy)`` returns a FastAPI router that any FastAPI app can
include. It keeps its own signed session cookie (no middleware needed), reads everything
through the store, evaluator and due-process modules, and serves its own static files.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from credence.api.auth import Authenticator
from credence.dates import Duration
from credence.policy.load import PolicySet
from credence.store.db import Store
from credence.web import identity
from credence.web.identity import Principal

HERE = Path(__file__).parent
STATIC = HERE / "static"
COOKIE = "credence_session"
SESSION_SECONDS = 8 * 3600
MAX_UPLOAD = 10 * 1024 * 1024

#: Which roles may open which part of the site.
ACCESS: dict[str, frozenset[str]] = {
    "portal": frozenset({"subject"}),
    "review": frozenset({"reviewer"}),
    "analytics": frozenset({"reviewer", "auditor", "agency"}),
    "lab": frozenset({"reviewer", "auditor", "agency"}),
}
HOME = {"subject": "/portal", "reviewer": "/queue", "auditor": "/analytics", "agency": "/lab"}


class WebError(Exception):
    """A request that must end with an error page (status and a message for people)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInRequired(Exception):
    """The page needs a signed-in principal; the browser is sent to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass
class User:
    """The signed-in principal and the CSRF token of its session."""

    principal: Principal
    csrf: str

    @property
    def name(self) -> str:
        """The principal's name (the actor in every log entry)."""
        return self.principal.name

    @property
    def role(self) -> str:
        """The principal's role."""
        return self.principal.role


@dataclass
class Web:
    """What every view needs: the store, the policy, templates, the cookie signer, a clock."""

    store: Store
    policy: PolicySet
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    secure_cookies: bool = False
    max_upload: int = MAX_UPLOAD
    templates: Jinja2Templates = field(init=False)
    authenticator: Authenticator = field(init=False)
    signer: URLSafeTimedSerializer = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.authenticator = Authenticator(self.store)
        self.templates.env.globals["nav"] = nav_for
        self.templates.env.filters["human"] = human_duration
        secret = hmac.new(self.store.keys.audit, b"credence web session v1", hashlib.sha256)
        self.signer = URLSafeTimedSerializer(secret.hexdigest(), salt="credence-web")

    def now(self) -> datetime:
        """The current instant (UTC)."""
        return self.clock()

    def today(self) -> date:
        """The current day (UTC)."""
        return self.clock().date()

    # -- sessions ---------------------------------------------------------------------------

    def user(self, request: Request) -> User | None:
        """The signed-in user of this request, if the cookie is valid and the principal live."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self.signer.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return None
        with self.store.session() as session:
            principal = identity.lookup(session, data["name"])
        if principal is None:
            return None
        return User(principal, str(data.get("csrf", "")))

    def require(self, request: Request, area: str) -> User:
        """The signed-in user, if its role may open ``area``; else sign-in or a 403 page."""
        user = self.user(request)
        if user is None:
            raise SignInRequired(request.url.path)
        if user.role not in ACCESS[area]:
            allowed = ", ".join(sorted(ACCESS[area]))
            raise WebError(
                403, f"This page is for the roles {allowed}; you are signed in as {user.role}."
            )
        return user

    def sign_in(self, response: Response, principal: Principal) -> None:
        """Set the session cookie for ``principal`` with a fresh CSRF token."""
        token = self.signer.dumps({"name": principal.name, "csrf": secrets.token_urlsafe(24)})
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=self.secure_cookies,
            path="/",
        )

    def check_csrf(self, user: User, token: str) -> None:
        """Refuse a form that does not carry the session's CSRF token."""
        if not token or not hmac.compare_digest(token, user.csrf):
            raise WebError(
                400, "This form has expired or did not come from this site. Reload the page."
            )

    def router(self) -> APIRouter:
        """A router whose routes turn :class:`WebError` and :class:`SignInRequired` into pages.

        Exception handlers belong to an application, and this router must work inside any
        application, so the handling is done by the route class itself.
        """
        web = self

        class WebRoute(APIRoute):
            def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
                original = super().get_route_handler()

                async def handler(request: Request) -> Response:
                    try:
                        return await original(request)
                    except SignInRequired as exc:
                        return sign_in_redirect(exc.next_path)
                    except WebError as exc:
                        return await run_in_threadpool(web.error_page, request, exc)

                return handler

        return APIRouter(route_class=WebRoute, include_in_schema=False)

    def error_page(self, request: Request, exc: WebError) -> HTMLResponse:
        """The page shown for a :class:`WebError`."""
        return self.render(
            request,
            "error.html",
            {"status": exc.status, "message": exc.message},
            user=self.user(request),
            status=exc.status,
        )

    # -- rendering --------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        user: User | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        """Render a page with the user, the policy and today's date in its context."""
        full = {"user": user, "policy": self.policy, "today": self.today(), **context}
        return self.templates.TemplateResponse(request, template, full, status_code=status)


def human_duration(value: object) -> str:
    """A duration in words (``P1Y6M`` → "1 year 6 months"); anything else as its text.

    >>> from credence.dates import parse_duration
    >>> human_duration(parse_duration("P30D")), human_duration(parse_duration("P1Y6M"))
    ('30 days', '1 year 6 months')
    """
    if not isinstance(value, Duration):
        return "" if value is None else str(value)
    parts = [
        f"{n} {unit}{'s' if n != 1 else ''}"
        for n, unit in ((value.years, "year"), (value.months, "month"), (value.days, "day"))
        if n
    ]
    return " ".join(parts) or "no time"


def nav_for(user: User | None) -> list[tuple[str, str]]:
    """The navigation links a user may follow (path, label)."""
    if user is None:
        return []
    links = [
        ("portal", "/portal", "My record"),
        ("review", "/queue", "Review queue"),
        ("analytics", "/analytics", "Analytics"),
        ("lab", "/lab", "Policy lab"),
    ]
    return [(path, label) for area, path, label in links if user.role in ACCESS[area]]


def sign_in_redirect(next_path: str) -> RedirectResponse:
    """Send the browser to the sign-in form, coming back to ``next_path`` afterwards."""
    return RedirectResponse(f"/sign-in?next={quote(next_path)}", status_code=303)


def create_web_router(
    store: Store,
    policy: PolicySet,
    *,
    clock: Callable[[], datetime] | None = None,
    secure_cookies: bool = False,
    max_upload: int = MAX_UPLOAD,
) -> APIRouter:
    """The web pages as one router: include it in a FastAPI app at ``/``."""
    from credence.web.views import analytics, lab, portal, reviewer, signin

    web = Web(store, policy, secure_cookies=secure_cookies, max_upload=max_upload)
    if clock is not None:
        web.clock = clock
    router = web.router()

    @router.get("/static/{name}")
    def static(name: str) -> FileResponse:
        """A vendored static file (htmx, the style sheet)."""
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise WebError(404, "No such file.")
        return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    for module in (signin, portal, reviewer, analytics, lab):
        router.include_router(module.routes(web))
    return router
