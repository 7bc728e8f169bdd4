"""Errors as RFC 9457 problem documents, the request size limit and pagination.

Every error the API returns, whatever raised it, is ``application/problem+json`` with a
``title``, the HTTP ``status``, a ``detail`` for people and, for bad input, the ``field`` at fault
(``body.kind``, ``query.limit``, ...) and every field error in ``errors``. A bad input is always a
4xx: handlers turn validation errors, unknown routes and refused actions into problems, and the
OpenAPI document declares them for every operation so that clients (and schemathesis) can rely
on it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
DEFAULT_MAX_BODY = 64 * 1024
log = logging.getLogger("credence.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Renders an error as a page for people: (request, status, detail) -> an HTML response.
ErrorPage = Callable[[Request, int, str], Response]


class FieldProblem(BaseModel):
    """One field at fault and why."""

    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document (with Credence's ``field`` and ``errors`` extensions)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    field: str | None = Field(default=None, description="The first field at fault, if any.")
    errors: list[FieldProblem] = Field(default_factory=list)


class ApiProblem(Exception):
    """Raised by a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        errors: Sequence[tuple[str, str]] = (),
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field or (errors[0][0] if errors else None)
        self.errors = [FieldProblem(field=f, reason=r) for f, r in errors]
        self.title = title or HTTPStatus(status).phrase


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    field: str | None = None,
    errors: list[FieldProblem] | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body = Problem(
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        field=field,
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _loc(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser asking for a page (HTML first in Accept), not a client.

    >>> from starlette.requests import Request as R
    >>> page = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    >>> wants_html(R({"type": "http", "headers": [(b"accept", page.encode())]}))
    True
    >>> wants_html(R({"type": "http", "headers": [(b"accept", b"application/json")]}))
    False
    >>> wants_html(R({"type": "http", "headers": [(b"accept", b"*/*")]}))
    False
    """
    first = request.headers.get("accept", "").split(",")[0].strip().lower()
    return first.startswith(("text/html", "application/xhtml+xml"))


def set_error_page(app: FastAPI, page: ErrorPage) -> None:
    """Answer browsers with ``page`` instead of problem+json (the web site's error page)."""
    app.state.error_page = page


async def _as_page(request: Request, status: int, detail: str) -> Response | None:
    """The error as a page when a browser asked and the application has an error page."""
    page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if page is None or not wants_html(request):
        return None
    return await run_in_threadpool(page, request, status, detail)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldProblem(field=_loc(e.get("loc", ())), reason=str(e.get("msg", "is not valid")))
        for e in exc.errors()
    ]
    malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
    # A body that is not JSON at all is a malformed request (400); JSON that does not fit the
    # schema is an unprocessable one (422), as FastAPI clients expect.
    status = 400 if malformed else 422
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors) or "the request is not valid"
    page = await _as_page(request, status, detail)
    if page is not None:
        return page
    return problem_response(
        status,
        detail,
        instance=request.url.path,
        field=errors[0].field if errors else None,
        errors=errors,
    )


async def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    page = await _as_page(request, exc.status, exc.detail)
    if page is not None:
        return page
    return problem_response(
        exc.status,
        exc.detail,
        instance=request.url.path,
        field=exc.field,
        errors=exc.errors,
        title=exc.title,
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    page = await _as_page(request, exc.status_code, _PAGE_DETAIL.get(exc.status_code, detail))
    if page is not None:
        return page
    return problem_response(
        exc.status_code,
        detail,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    # A bug, never a bad input: logged with its traceback, answered without internals.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    try:
        page = await _as_page(request, 500, _PAGE_DETAIL[500])
    except Exception:  # the page itself failing must not hide the first error
        log.exception("the error page failed on %s", request.url.path)
        page = None
    if page is not None:
        return page
    return problem_response(500, "an unexpected error occurred", instance=request.url.path)


#: What a person reads on the error pages that have no message of their own.
_PAGE_DETAIL = {
    404: "There is no page at this address. Check the address, or start again from the start page.",
    405: "This address does not take that kind of request.",
    500: "Something went wrong on our side; nothing you did caused it. Try again in a moment.",
}


def install(app: FastAPI) -> None:
    """Register the problem handlers and the OpenAPI rewrite on an application."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": HTTPStatus(code).phrase}
    for code in (400, 401, 403, 404, 409, 413, 422, 429)
}


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with every error response typed as problem+json."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    ref = {"$ref": "#/components/schemas/Problem"}
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            for code, response in op.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": ref}}
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's own validation error shapes are never sent: problems replace them.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 before any route reads them."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY,
        uploads: tuple[str, ...] = (),
        upload_bytes: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, then hand it on (bodies here are small JSON)."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if self.uploads and str(scope.get("path", "")).startswith(self.uploads):
            # Web forms that carry evidence files or policies have a limit of their own.
            await _Limited(self.app, self.upload_bytes)(scope, receive, send)
            return
        await _Limited(self.app, self.max_bytes)(scope, receive, send)


class _Limited:
    """The body limit for one request (see :class:`BodyLimit`)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, then hand it on."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(scope, send, 400, "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await self._too_large(scope, send)
                    return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await self._refuse(scope, send, 413, f"the request body is over {self.max_bytes} bytes")

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        response = problem_response(status, detail, instance=scope.get("path"), field="body")
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
