"""Evaluated explanations, remembered while their inputs stay the same.

An explanation is a pure function of the policy (fixed for an application), the subject's
records with their status histories, the due-process decisions on record, and the two dates.
The inputs are read from the store on every request anyway (they are what the read is about);
only the evaluation, which costs milliseconds, and the JSON encoding are skipped when the rows
read now are equal to those the remembered result was computed from. The rows are compared as
the database driver returns them (text on SQLite), before any conversion, so a new record, a
correction, a revocation, a served notice or an approved measure, made by whatever process,
changes them and is never answered from memory; and equal rows always mean the same output.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import date
from typing import Any

from pydantic import TypeAdapter
from starlette.responses import Response

# (subject, as_of, known_at, whether the way back is in it: a status query needs only the grade)
Key = tuple[str, date, date, bool]
# The explanation's JSON exactly as FastAPI renders a ``dict[str, Any]`` response model.
_JSON: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


class Explained:
    """One evaluated explanation and, encoded once, its JSON body (shared: do not change it)."""

    __slots__ = ("_body", "_head", "result")

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self._body: bytes | None = None
        self._head: dict[str, Any] | None = None

    @property
    def body(self) -> bytes:
        """The JSON document, byte for byte what the route would render from ``result``."""
        if self._body is None:
            self._body = _JSON.dump_json(_JSON.validate_python(self.result), by_alias=True)
        return self._body

    def response(self) -> Response:
        """A 200 ``application/json`` response with the body (no re-validation, no encoding)."""
        return Response(content=self.body, media_type="application/json")

    async def send(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Send :meth:`response` straight to an ASGI ``send`` (its start message built once)."""
        if self._head is None:
            response = self.response()
            self._head = {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        # A new message each time: servers and middleware may change what they are given.
        await send({**self._head, "headers": list(self._head["headers"])})
        await send({"type": "http.response.body", "body": self.body})


class Explanations:
    """A bounded, least-recently-used memory of explanations by subject and dates.

    Each is kept with the inputs it was computed from (any comparable value: the rows as read);
    it is given back only for equal inputs.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._memory: OrderedDict[Key, tuple[Hashable, Explained]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key, inputs: Hashable) -> Explained | None:
        """The explanation remembered for ``key`` if it came from equal inputs, else None."""
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
        if hit is not None and hit[0] == inputs:
            self.hits += 1
            return hit[1]
        self.misses += 1
        return None

    def put(self, key: Key, inputs: Hashable, explained: Explained) -> None:
        """Remember an explanation computed from these inputs."""
        with self._lock:
            self._memory[key] = (inputs, explained)
            self._memory.move_to_end(key)
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)
