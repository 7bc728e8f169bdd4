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

from sqlalchemy import Connection

from credence.access.auth import Principal
from credence.api.deps import access
from credence.api.fastpath import FastPath, bearer_key
from credence.api.problems import ApiProblem, Receive, Scope, Send
from credence.api.reads import assess
from credence.api.routes_subject import SELF


class RepeatViews(FastPath):
    """ASGI middleware: ``GET /me/assessment`` by a remembered subject key, answered directly."""

    method = "GET"
    path = "/me/assessment"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the repeat view, or hand the request on."""
        found = self._subject(scope) if self.matches(scope) else None
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
            await self.problem(exc, scope, receive, send)
            return
        self.answered += 1
        await explained.send(send)

    def _subject(
        self, scope: Scope
    ) -> tuple[Principal, Callable[[Connection], None] | None] | None:
        credentials = bearer_key(scope)
        if credentials is None:
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
