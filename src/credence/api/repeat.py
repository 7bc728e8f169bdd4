"""The API's most frequent request, answered without FastAPI's routing and dependency injection.

A subject looking at their own explanation again (``GET /me/assessment`` without parameters,
with a key verified and checked for being disabled lately) is answered here, before the
router: per request, FastAPI's routing and dependency resolution cost more CPU than reading
the explanation's inputs, logging the read and sending the remembered JSON together. The answer
is the one the route gives: the same :func:`~credence.api.reads.assess` (the read logged and
committed before it returns), the same body and headers, the same problem documents. Every
other request, and this one whenever its key is not remembered (unknown, new, due for its
check of being disabled, or of another role), goes on to the application unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Connection

from credence.api.auth import Principal
from credence.api.deps import ApiContext, access
from credence.api.problems import ApiProblem, ASGIApp, Receive, Scope, Send, problem_response
from credence.api.reads import assess
from credence.api.routes_subject import SELF

PATH = "/me/assessment"


class RepeatViews:
    """ASGI middleware: ``GET /me/assessment`` by a remembered subject key, answered directly."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the repeat view, or hand the request on."""
        found = self._subject(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        who, check = found
        assert who.scope is not None
        try:
            explained = await assess(
                self.ctx, who.scope, access(who, SELF), None, None, check=check
            )
        except _Unchecked:
            # Disabled, or a new key, or its verification ran out: the application decides.
            await self.app(scope, receive, send)
            return
        except ApiProblem as exc:
            # As the application's handler renders it; anything else is a 500 as it is there
            # (this middleware runs inside the application's server-error handler).
            problem = problem_response(
                exc.status,
                exc.detail,
                instance=PATH,
                field=exc.field,
                errors=exc.errors,
                title=exc.title,
            )
            self.answered += 1
            await problem(scope, receive, send)
            return
        self.answered += 1
        await explained.send(send)

    def _subject(
        self, scope: Scope
    ) -> tuple[Principal, Callable[[Connection], None] | None] | None:
        if (
            scope["path"] != PATH
            or scope["method"] != "GET"
            or scope.get("query_string")
            or scope.get("root_path")
        ):
            return None
        authorization: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":  # the first one, as Starlette's headers give it
                authorization = value.decode("latin-1")
                break
        # What the route's HTTPBearer dependency accepts.
        scheme, credentials = get_authorization_scheme_param(authorization)
        if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
            return None
        authenticator = self.ctx.authenticator
        who = authenticator.remembered(credentials)
        check: Callable[[Connection], None] | None = None
        if who is None:
            # Verified lately, but due for its check of being disabled: that check is made
            # in the read's own batch, on its connection, before anything is read.
            who = authenticator.verified(credentials)

            def check(connection: Connection) -> None:
                if authenticator.confirm(connection, credentials) is None:
                    raise _Unchecked

        if who is None or who.role != "subject" or who.scope is None:
            return None
        return who, check


class _Unchecked(Exception):
    """The key did not pass its check in the batch: the request goes on to the application."""
