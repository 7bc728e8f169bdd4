"""Signing in with an API key, signing out, and the home page that sends each role on."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from credence.web import identity
from credence.web.app import COOKIE, HOME, Web


def _safe_next(next_path: str) -> str | None:
    """A local path to go back to, or None for anything that could leave the site."""
    if next_path.startswith("/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return None


def routes(web: Web) -> APIRouter:
    """The sign-in, sign-out and home routes."""
    router = web.router()

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
        return web.render(request, "sign_in.html", {"next": next, "error": None})

    @router.post("/sign-in", response_model=None)
    def sign_in(request: Request, api_key: str = Form(""), next: str = Form("")) -> Response:
        """Check the key; on success set the session cookie and go on."""
        if not api_key.strip():
            error = "Enter your API key."
        else:
            principal = identity.authenticate(web.authenticator, api_key)
            if principal is not None:
                target = _safe_next(next) or HOME.get(principal.role, "/")
                response = RedirectResponse(target, status_code=303)
                web.sign_in(response, principal)
                return response
            error = "That API key was not recognised. Check it and try again."
        return web.render(request, "sign_in.html", {"next": next, "error": error}, status=401)

    @router.post("/sign-out")
    def sign_out() -> RedirectResponse:
        """Forget the session."""
        response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router
