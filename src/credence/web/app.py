"""The web front end: one router with the portal, reviewer queue, analytics and policy lab.

``create_web_router(store, policy)`` returns a FastAPI router that any FastAPI app can
include. It keeps its own sessions (a random token in a cookie, the session in the store's
``web_sessions`` table, so that signing out, disabling the principal or giving it a new key ends
it at once), sets its own security headers on every page (no middleware needed), reads
everything through the store, evaluator and due-process modules, and serves its own static files.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import delete, select

from credence.access.auth import Authenticator, record_lockout
from credence.access.guard import Guard
from credence.policy.load import PolicySet
from credence.store.db import Store
from credence.store.meta import StoreClock
from credence.store.schema import PrincipalRow, WebSession
from credence.web.identity import Principal
from credence.web.words import (
    Words,
    days,
    durations_in_words,
    human_duration,
    long_date,
    status_label,
)

HERE = Path(__file__).parent
STATIC = HERE / "static"
COOKIE = "credence_session"
#: The sign-in form's own cookie: its CSRF token is derived from it (there is no session yet).
SIGN_IN_COOKIE = "credence_sign_in"
SESSION_SECONDS = 8 * 3600
MAX_UPLOAD = 10 * 1024 * 1024
#: Scripts and style sheets from this site only (no inline code, no eval), no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

#: Which roles may open which part of the site.
ACCESS: dict[str, frozenset[str]] = {
    "portal": frozenset({"subject"}),
    "review": frozenset({"reviewer"}),
    "analytics": frozenset({"reviewer", "auditor", "agency"}),
    "lab": frozenset({"reviewer", "auditor", "agency"}),
}
HOME = {"subject": "/portal", "reviewer": "/queue", "auditor": "/analytics", "agency": "/lab"}


class WebRouter(APIRouter):
    """The site's router; ``error_page`` renders an error as the site's page (for the app's
    handlers of unknown paths and unexpected errors: ``credence.api.problems.set_error_page``)."""

    error_page: Callable[[Request, int, str], Response] | None = None


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
    authenticator: Authenticator | None = None
    templates: Jinja2Templates = field(init=False)
    words: Words = field(init=False)
    secret: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        if self.authenticator is None:
            self.authenticator = Authenticator(self.store, guard=Guard(on_lockout=self._lockout))
        self.templates.env.globals["nav"] = nav_for
        self.words = Words.of(self.policy)
        self.templates.env.globals["words"] = self.words
        self.templates.env.filters["human"] = human_duration
        self.templates.env.filters["day"] = long_date
        self.templates.env.filters["status"] = status_label
        self.templates.env.filters["days"] = days
        self.templates.env.filters["plain"] = durations_in_words
        self.secret = hmac.digest(self.store.keys.audit, b"credence web csrf v2", "sha256")

    def _lockout(self, principal: int | None, address: str, failures: int, block: float) -> None:
        """Write the audit entry of a lockout (see :class:`~credence.access.guard.Guard`)."""
        with self.store.session() as session:
            record_lockout(
                session, self.store.keys, principal, address, failures, block, at=self.now()
            )
            session.commit()

    def now(self) -> datetime:
        """The current instant (UTC)."""
        return self.clock()

    def today(self) -> date:
        """The current day (UTC)."""
        return self.clock().date()

    def data_as_of(self) -> date | None:
        """The day the store's data runs to, when it is not today (a simulated store)."""
        return self.clock.data_as_of() if isinstance(self.clock, StoreClock) else None

    # -- sessions ---------------------------------------------------------------------------

    def user(self, request: Request) -> User | None:
        """The signed-in user of this request: a live session of an enabled principal whose key
        is still the one it signed in with."""
        raw = request.cookies.get(COOKIE)
        if not raw or len(raw) > 200:
            return None
        stmt = (
            select(WebSession, PrincipalRow)
            .join(PrincipalRow, PrincipalRow.id == WebSession.principal_id)
            .where(WebSession.id == _digest(raw), PrincipalRow.disabled.is_(False))
        )
        with self.store.session() as session:
            found = session.execute(stmt).first()
        if found is None:
            return None
        live, row = found
        if live.expires_at <= self.now() or not hmac.compare_digest(
            live.key_digest, _digest(row.key_hash)
        ):
            return None
        return User(Principal(row.name, row.role, row.scope), live.csrf)

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

    def secure(self, request: Request) -> bool:
        """Whether cookies get ``Secure``: served over HTTPS, or forced by the operator."""
        return self.secure_cookies or request.url.scheme == "https"

    def sign_in(self, request: Request, response: Response, principal: Principal) -> None:
        """Start a session for ``principal`` (a fresh token and CSRF token) and set its cookie."""
        token = secrets.token_urlsafe(32)
        now = self.now()
        with self.store.session() as session:
            row = session.scalar(select(PrincipalRow).where(PrincipalRow.name == principal.name))
            if row is None:
                raise WebError(401, "That principal no longer exists.")
            # Sessions that ran out are removed as new ones start.
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            session.add(
                WebSession(
                    id=_digest(token),
                    principal_id=row.id,
                    key_digest=_digest(row.key_hash),
                    csrf=secrets.token_urlsafe(24),
                    created_at=now,
                    expires_at=now + timedelta(seconds=SESSION_SECONDS),
                )
            )
            session.commit()
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
            path="/",
        )
        response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")

    def sign_out(self, request: Request) -> None:
        """End this request's session in the store (its cookie opens nothing afterwards)."""
        raw = request.cookies.get(COOKIE)
        if raw:
            with self.store.session() as session:
                session.execute(delete(WebSession).where(WebSession.id == _digest(raw)))
                session.commit()

    def sign_in_token(self, request: Request) -> tuple[str, str | None]:
        """The sign-in form's CSRF token, and the cookie's new nonce when it has none yet."""
        nonce = request.cookies.get(SIGN_IN_COOKIE, "")
        fresh = None
        if not nonce or len(nonce) > 100:
            nonce = fresh = secrets.token_urlsafe(24)
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest(), fresh

    def keep_sign_in_nonce(self, request: Request, response: Response, nonce: str) -> None:
        """Set the sign-in form's cookie (what its CSRF token is derived from)."""
        response.set_cookie(
            SIGN_IN_COOKIE,
            nonce,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=self.secure(request),
            path="/sign-in",
        )

    def check_sign_in_token(self, request: Request, token: str) -> None:
        """Refuse a sign-in form that did not come from this site's form in this browser."""
        nonce = request.cookies.get(SIGN_IN_COOKIE, "")
        want = hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()
        # Bytes: compare_digest raises on a str with non-ASCII characters (a hostile form).
        if not nonce or not token or not hmac.compare_digest(token.encode(), want.encode()):
            raise WebError(400, _EXPIRED)

    def check_csrf(self, user: User, token: str) -> None:
        """Refuse a form that does not carry the session's CSRF token."""
        if not token or not hmac.compare_digest(token.encode(), user.csrf.encode()):
            raise WebError(400, _EXPIRED)

    def router(self) -> WebRouter:
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
                        response = await original(request)
                    except SignInRequired as exc:
                        response = sign_in_redirect(exc.next_path)
                    except WebError as exc:
                        response = await run_in_threadpool(web.error_page, request, exc)
                    for name, value in PAGE_HEADERS.items():
                        response.headers.setdefault(name, value)
                    # Pages show a person's data (or a form): never kept by a browser or proxy.
                    response.headers.setdefault("Cache-Control", "no-store")
                    return response

                return handler

        return WebRouter(route_class=WebRoute, include_in_schema=False)

    def error_page(self, request: Request, exc: WebError) -> HTMLResponse:
        """The page shown for a :class:`WebError`."""
        try:
            user = self.user(request)
        except Exception:  # a broken store must still give a page, without the menu
            user = None
        return self.render(
            request,
            "error.html",
            {"status": exc.status, "message": exc.message},
            user=user,
            status=exc.status,
        )

    def any_error_page(self, request: Request, status: int, message: str) -> Response:
        """The site's page for an error raised outside its routes (unknown path, a bug)."""
        response = self.error_page(request, WebError(status, message))
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

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
        full = {
            "user": user,
            "policy": self.policy,
            "today": self.today(),
            "data_as_of": self.data_as_of(),
            **context,
        }
        return self.templates.TemplateResponse(request, template, full, status_code=status)


_EXPIRED = "This form has expired or did not come from this site. Reload the page."


def _digest(text: str) -> str:
    """What a token is stored by (never the token itself)."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


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
    authenticator: Authenticator | None = None,
) -> WebRouter:
    """The web pages as one router: include it in a FastAPI app at ``/``.

    Its ``error_page`` is the site's error page for the application's own handlers: pass it
    to :func:`credence.api.problems.set_error_page` so that browsers get pages, not JSON.

    Pass the API's ``authenticator`` so that sign-in and bearer keys share one guard against
    guessing (one count per principal and address).
    """
    from credence.web.views import analytics, lab, portal, portal_file, reviewer, signin

    web = Web(
        store,
        policy,
        secure_cookies=secure_cookies,
        max_upload=max_upload,
        authenticator=authenticator,
    )
    # Without a clock of its own the site keeps the store's: the day its data runs to.
    web.clock = clock if clock is not None else StoreClock(store.engine)
    router = web.router()
    router.error_page = web.any_error_page

    @router.get("/static/{name}")
    def static(name: str) -> FileResponse:
        """A vendored static file (htmx, the style sheet)."""
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise WebError(404, "No such file.")
        return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    for module in (signin, portal, portal_file, reviewer, analytics, lab):
        router.include_router(module.routes(web))
    return router
