"""What the API's fast paths share: matching their one request, the caller's key, problems.

A fast path is an ASGI middleware that answers one frequent request itself, before FastAPI's
routing and dependency injection, with the route's own function, and hands every other request
on to the application unchanged (see :mod:`credence.api.repeat` and
:mod:`credence.api.quick_status`). It answers only keys the authenticator remembers as verified
(no Argon2, so nothing for the guard against guessing to count): any other key goes to the
application's :func:`~credence.api.deps.principal`, the one place keys are checked and limited.
It reads the key with the API's one parser (:func:`credence.api.deps.bearer_key`) and sits
inside the body limit. FastAPI's routing and dependency injection alone cost about as much CPU
as these requests' work (benchmarks/api.py: status 0.84 against 0.38-0.46 ms of server CPU per
request without the fast path), hence the fast paths.
"""

from __future__ import annotations

from credence.api import deps
from credence.api.deps import ApiContext
from credence.api.problems import ApiProblem, ASGIApp, Receive, Scope, Send, problem_response


class FastPath:
    """Base of a fast path for ``method`` ``path`` (no query string, no root path)."""

    method = "GET"
    path = "/"

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx
        self.answered = 0

    def matches(self, scope: Scope) -> bool:
        """Whether the request is this fast path's own."""
        return (
            scope["type"] == "http"
            and scope["path"] == self.path
            and scope["method"] == self.method
            and not scope.get("query_string")
            and not scope.get("root_path")
        )

    async def problem(self, exc: ApiProblem, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer with the problem document the application's handler would send."""
        # Anything other than an ApiProblem is a 500 as it is in the application: the fast
        # paths run inside its server-error handler.
        response = problem_response(
            exc.status,
            exc.detail,
            instance=self.path,
            field=exc.field,
            errors=exc.errors,
            title=exc.title,
        )
        self.answered += 1
        await response(scope, receive, send)


def bearer_key(scope: Scope) -> str | None:
    """The key of the request's first Authorization header, read by the API's one parser."""
    for name, value in scope["headers"]:
        if name == b"authorization":  # the first one, as Starlette's headers give it
            return deps.bearer_key(value.decode("latin-1"))
    return None


def json_body(scope: Scope) -> bool:
    """Whether the request says its body is ``application/json``."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";")[0].strip().lower()
            return media == b"application/json"
    return False
