"""Headers every answer of the server carries: no sniffing, no framing, no referrer, no caching.

Web pages set their own (a Content-Security-Policy that lets their scripts and style sheets
load, see :mod:`credence.web.app`); this layer adds what an answer lacks, so that JSON, problem
documents and 404s carry them too, and answers about a person (``/me/...``) are never cached.
"""

from __future__ import annotations

from typing import Final

from credence.api.problems import ASGIApp, Message, Receive, Scope, Send

#: What every answer carries unless it set its own.
COMMON: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
NO_STORE: Final = (b"cache-control", b"no-store")


class SecurityHeaders:
    """ASGI middleware adding :data:`COMMON` (and ``no-store`` on personal answers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the missing headers to the answer's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        # A person's own data (``/me`` and below): never kept by a browser or a proxy.
        personal = path == "/me" or path.startswith("/me/")
        extra = (*COMMON, NO_STORE) if personal else COMMON

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)
