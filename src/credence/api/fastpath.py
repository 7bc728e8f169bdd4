"""What the API's fast paths share: matching their one request, the caller's key, problems.

A fast path is an ASGI middleware that answers one frequent request itself, before FastAPI's
routing and dependency injection, with the route's own function, and hands every other request
on to the application unchanged (see :mod:`credence.api.repeat` and
:mod:`credence.api.quick_status`).
"""

from __future__ import annotations

from fastapi.security.utils import get_authorization_scheme_param

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
    """The key of the request's first Authorization header, as HTTPBearer accepts it."""
    authorization: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":  # the first one, as Starlette's headers give it
            authorization = value.decode("latin-1")
            break
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def json_body(scope: Scope) -> bool:
    """Whether the request says its body is ``application/json``."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";")[0].strip().lower()
            return media == b"application/json"
    return False
