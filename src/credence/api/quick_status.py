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

from pydantic import ValidationError

from credence.access.auth import Principal
from credence.api.fastpath import FastPath, bearer_key, json_body
from credence.api.problems import ApiProblem, Message, Receive, Scope, Send
from credence.api.routes_relying_party import StatusIn, answer_status


class QuickStatus(FastPath):
    """ASGI middleware: ``POST /status`` by a remembered relying-party key, answered directly."""

    method = "POST"
    path = "/status"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the status query, or hand the request on."""
        who = self._relying_party(scope) if self.matches(scope) else None
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
            await self.problem(exc, scope, receive, send)
            return
        self.answered += 1
        await response(scope, receive, send)

    def _relying_party(self, scope: Scope) -> Principal | None:
        credentials = bearer_key(scope)
        if credentials is None or not json_body(scope):
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
