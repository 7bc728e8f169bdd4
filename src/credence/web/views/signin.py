"""Signing in with an API key, signing out, and the home page that sends each role on."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from credence.access.guard import Throttled
from credence.web import identity
from credence.web.app import COOKIE, HOME, Web


def _safe_next(next_path: str) -> str | None:
    """A local path to go back to, or None for anything that could leave the site."""
    if next_path.startswith("/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return None


def _address(request: Request) -> str:
    """The client's address, as the server saw the connection (what guessing is counted by)."""
    return request.client.host if request.client is not None else "unknown"


def routes(web: Web) -> APIRouter:
    """The sign-in, sign-out and home routes."""
    router = web.router()

    def form(request: Request, next: str, error: str | None, status: int = 200) -> HTMLResponse:
        """The sign-in form with its CSRF token (and the cookie it comes from, when new)."""
        token, fresh = web.sign_in_token(request)
        context = {"next": next, "error": error, "csrf": token}
        response = web.render(request, "sign_in.html", context, status=status)
        if fresh is not None:
            web.keep_sign_in_nonce(request, response, fresh)
        return response

    @router.get("/", response_model=None)
    def home(request: Request) -> Response:
        """Send a signed-in user to their page, anyone else to the sign-in form."""
        user = web.user(request)
        if user is None:
            return RedirectResponse("/sign-in", status_code=303)
        if user.role in HOME:
            return RedirectResponse(HOME[user.role], status_code=303)
        return web.render(request, "home.html", {}, user=user)

    @router.get("/sign-in")
    def sign_in_form(request: Request, next: str = "") -> HTMLResponse:
        """The sign-in form."""
        return form(request, next, None)

    @router.post("/sign-in", response_model=None)
    def sign_in(
        request: Request,
        api_key: str = Form(""),
        next: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        """Check the key; on success start a session and go on."""
        web.check_sign_in_token(request, csrf)
        if not api_key.strip():
            return form(request, next, "Enter your API key.", 401)
        assert web.authenticator is not None
        try:
            principal = identity.authenticate(web.authenticator, api_key, _address(request))
        except Throttled as exc:
            response = form(
                request,
                next,
                "Too many keys that were not recognised came from your address. "
                f"Wait {exc.seconds} seconds and try again.",
                429,
            )
            response.headers["Retry-After"] = str(exc.seconds)
            return response
        if principal is None:
            error = "That API key was not recognised. Check it and try again."
            return form(request, next, error, 401)
        target = _safe_next(next) or HOME.get(principal.role, "/")
        done = RedirectResponse(target, status_code=303)
        web.sign_in(request, done, principal)
        return done

    @router.post("/sign-out")
    def sign_out(request: Request, csrf: str = Form("")) -> RedirectResponse:
        """End the session (in the store: a saved cookie opens nothing afterwards)."""
        user = web.user(request)
        if user is not None:
            # Without the session's token, a page elsewhere could sign the user out.
            web.check_csrf(user, csrf)
            web.sign_out(request)
        response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router
