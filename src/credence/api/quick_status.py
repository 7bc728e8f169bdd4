"""The relying parties' status query, answered without FastAPI's routing and dependency injection.

``POST /status`` is the API's busiest request. When it comes with a key verified and checked for
being disabled lately, of a relying party, and a JSON body that parses as the route's
:class:`~credence.api.routes_relying_party.StatusIn`, it is answered here by the route's own
:func:`~credence.api.routes_relying_party.answer_status` (the read logged and committed before
the answer leaves; the same body, headers and problem documents). Anything else, a body that
does not parse included, goes on to the application with the body as it came, and the
application answers it (401, 403, 422 and so on). The body limit applies before this.
"""

from __future__ import annotations

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError

from credence.api.auth import Principal
from credence.api.deps import ApiContext
from credence.api.problems import (
    ApiProblem,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    problem_response,
)
from credence.api.routes_relying_party import StatusIn, answer_status

PATH = "/status"


class QuickStatus:
    """ASGI middleware: ``POST /status`` by a remembered relying-party key, answered directly."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the status query, or hand the request on."""
        who = self._relying_party(scope) if scope["type"] == "http" else None
        if who is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(chunks, message, receive), send)
                return
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        raw = b"".join(chunks)
        try:
            body = StatusIn.model_validate_json(raw)
        except ValidationError:
            # The application words the 422 (and whatever else is wrong with the request).
            await self.app(scope, _replay([raw], None, receive), send)
            return
        try:
            response = await answer_status(self.ctx, who, body)
        except ApiProblem as exc:
            response = problem_response(
                exc.status,
                exc.detail,
                instance=PATH,
                field=exc.field,
                errors=exc.errors,
                title=exc.title,
            )
        self.answered += 1
        await response(scope, receive, send)

    def _relying_party(self, scope: Scope) -> Principal | None:
        if (
            scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("query_string")
            or scope.get("root_path")
        ):
            return None
        authorization: str | None = None
        json_body = False
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                # The first one, as Starlette's headers give it.
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                json_body = value.split(b";")[0].strip().lower() == b"application/json"
        if not json_body:
            return None
        # What the route's HTTPBearer dependency accepts.
        scheme, credentials = get_authorization_scheme_param(authorization)
        if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
            return None
        who = self.ctx.authenticator.remembered(credentials)
        if who is None or who.role != "relying_party":
            return None
        return who


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A receive that gives the body read so far (and the message after it), then the rest."""
    pending: list[Message] = [
        {"type": "http.request", "body": b"".join(chunks), "more_body": False}
    ]
    if last is not None:
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": True}, last]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
