"""What every route depends on: the application context, a session, the caller, a page."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, StringConstraints
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from credence.access.auth import Authenticator, Principal
from credence.access.guard import Throttled
from credence.api.explained import Explanations
from credence.api.problems import ApiProblem
from credence.api.readlog import Reads, WriteLock
from credence.audit import chain
from credence.audit.access import Access
from credence.policy.load import PolicySet
from credence.store.db import Store

T = TypeVar("T")

# Text that a database of either kind can hold: no NUL (PostgreSQL refuses it in text) and no
# other control characters, trimmed, bounded.
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=_TEXT)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_TEXT)
]
Purpose = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500, pattern=_TEXT)
]
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)


@dataclass
class ApiContext:
    """The store, the policy and the settings one application serves."""

    store: Store
    policy: PolicySet
    authenticator: Authenticator
    public_grade: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    serial: WriteLock | None = None
    reads: Reads | None = None
    explanations: Explanations | None = None
    sessions: sessionmaker[Session] | None = None
    #: How long (at most) a refused guess is held before its 429 goes out: a guesser that waits
    #: for each answer sends a few requests a second instead of thousands.
    tarpit: float = 1.0

    def __post_init__(self) -> None:
        if self.sessions is None:
            # One factory for the application (what Store.session builds anew on every call).
            self.sessions = sessionmaker(self.store.engine, expire_on_commit=False)
        if self.reads is None:
            self.reads = Reads(self.store.engine, self.store.keys, self.now, self.serial)
        if self.explanations is None:
            self.explanations = Explanations()

    def now(self) -> datetime:
        """The current instant (a fixed one in tests)."""
        return self.clock()

    def session(self) -> Session:
        """A new session (what the ``Db`` dependency gives a route)."""
        assert self.sessions is not None
        s = self.sessions()
        s.info["serial"] = self.serial
        return s


async def context(request: Request) -> ApiContext:
    """The application's context."""
    ctx: ApiContext = request.app.state.credence
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


async def session(ctx: Ctx) -> AsyncIterator[Session]:
    """One session per request; what a route does not commit is rolled back.

    Opening a session touches no connection, and closing one after its commit only returns
    it, so this runs on the event loop rather than costing two thread hops per request.
    """
    s = ctx.session()
    try:
        yield s
    finally:
        s.close()
        _release(s)


def _release(s: Session) -> None:
    if s.info.pop("held", False):
        s.info["serial"].release()


# Whichever way a transaction ends, the process-wide write lock it took is released.
event.listen(Session, "after_commit", _release)
event.listen(Session, "after_rollback", _release)


Db = Annotated[Session, Depends(session)]


def bearer_key(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header: the API's one bearer parser.

    It accepts what FastAPI's ``HTTPBearer`` accepts; the fast paths (``credence.api.fastpath``)
    and :func:`principal` both read keys with it.
    """
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


class _Bearer(HTTPBearer):
    """``HTTPBearer`` for the OpenAPI document, reading the key with :func:`bearer_key`."""

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:  # type: ignore[override]
        """The request's bearer credentials, or None."""
        key = bearer_key(request.headers.get("authorization"))
        return (
            None if key is None else HTTPAuthorizationCredentials(scheme="Bearer", credentials=key)
        )


_bearer = _Bearer(auto_error=False, description="An API key: `Authorization: Bearer crd_...`")


def client_address(request: Request) -> str:
    """The client's address, as the server saw the connection (what guessing is counted by)."""
    return request.client.host if request.client is not None else "unknown"


async def principal(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the bearer API key (401 when missing or not valid, 429 when guessing).

    The one place the API reads a bearer key: every route that needs a caller depends on it.
    """
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise _refused(401, "an API key is required (Authorization: Bearer <key>)", challenge)
    key = credentials.credentials
    # Dependencies declared async run on the event loop, sparing a thread hop per request; only
    # a key not seen lately goes to a thread, for the database and the slow Argon2 check.
    who = ctx.authenticator.remembered(key)
    if who is None:
        try:
            who = await run_in_threadpool(
                ctx.authenticator.authenticate, key, client_address(request)
            )
        except Throttled as exc:
            await asyncio.sleep(min(exc.retry_after, ctx.tarpit))
            raise _refused(
                429,
                "too many failed attempts with API keys from this address: "
                f"try again in {exc.seconds} s",
                {"Retry-After": str(exc.seconds)},
            ) from None
    if who is None:
        raise _refused(401, "the API key is not valid", challenge)
    return who


def _refused(status: int, detail: str, headers: dict[str, str]) -> Exception:
    from starlette.exceptions import HTTPException

    return HTTPException(status, detail, headers=headers)


Caller = Annotated[Principal, Depends(principal)]


def role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only the given roles through (403 for the others)."""

    async def check(who: Caller) -> Principal:
        if who.role not in roles:
            raise ApiProblem(403, f"a {who.role} may not use this endpoint")
        return who

    return check


def access(who: Principal, purpose: str) -> Access:
    """The access a principal makes for a purpose (logged with every read)."""
    return Access(who.name, who.role, purpose)


def lock_for_read(session: Session) -> None:
    """Take the write locks before a logged read or a write, until the transaction ends.

    A read is logged in the audit chain, which is a write. Taking the chain's lock first means
    SQLite never has to upgrade a read snapshot to a write (which fails at once, without
    waiting, when another request committed meanwhile); PostgreSQL simply queues. On SQLite,
    which has one writer at a time anyway, the requests first queue on the server's
    :class:`~credence.api.readlog.WriteLock`: waiting there is immediate hand-over, whereas
    SQLite's own busy handler sleeps in growing steps and turns contention into seconds of
    latency. (Status queries and explanations log their reads in groups instead, see
    :class:`~credence.api.readlog.Reads`.)
    """
    serial = session.info.get("serial")
    if serial is not None and not session.info.get("held"):
        serial.acquire()
        session.info["held"] = True
    chain.lock(session)


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` to get the next one."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageQuery:
    """Keyset pagination: at most ``limit`` items after ``cursor`` (the key it stands for)."""

    limit: int
    cursor: str | None

    def int_cursor(self) -> int:
        """The cursor as an integer id (0 when absent); 400 when it is not one."""
        if self.cursor is None:
            return 0
        if not self.cursor.isdigit() or len(self.cursor) > 18:
            raise ApiProblem(400, "cursor is not one this endpoint gave", field="query.cursor")
        return int(self.cursor)


async def page_query(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=300, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageQuery:
    """The pagination parameters, the cursor read back into its key (400 if it is not one)."""
    return PageQuery(limit, None if cursor is None else cursor_key(cursor))


def _check(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


def cursor_of(key: object) -> str:
    """The cursor handed out for ``key``: the key and a check, URL-safe base64.

    A key on its own (a record id) cannot be told from any string, so ``cursor=zzz`` would
    quietly answer an empty page; with the check, a cursor the API did not give is a 400.
    """
    raw = str(key).encode("utf-8")
    return base64.urlsafe_b64encode(raw + _check(raw)).decode("ascii").rstrip("=")


def cursor_key(cursor: str) -> str:
    """The key a cursor from :func:`cursor_of` stands for; 400 naming ``query.cursor`` if none."""
    try:
        data = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        raw, check = data[:-4], data[-4:]
        if len(data) >= 4 and check == _check(raw) and cursor.isascii():
            return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        pass
    raise ApiProblem(400, "cursor is not one this endpoint gave", field="query.cursor")


Paging = Annotated[PageQuery, Depends(page_query)]


def paged(
    items: list[Any], q: PageQuery, key: Callable[[Any], object]
) -> tuple[list[Any], str | None]:
    """Cut a list fetched with ``limit + 1`` rows into a page and the next cursor."""
    if len(items) > q.limit:
        page = items[: q.limit]
        return page, cursor_of(key(page[-1]))
    return items, None


def page_of(
    session: Session, q: PageQuery, model: Any, key: Any, subject_id: str | None
) -> tuple[list[Any], str | None]:
    """One page of ``model``'s rows in the order of ``key``, of one subject or of all.

    The write locks are taken first (:func:`lock_for_read`): the caller logs the read.
    """
    lock_for_read(session)
    stmt = select(model).where(key > q.int_cursor())
    if subject_id is not None:
        stmt = stmt.where(model.subject_id == subject_id)
    rows = list(session.scalars(stmt.order_by(key).limit(q.limit + 1)))
    return paged(rows, q, lambda r: getattr(r, key.key))


def day_in_range(value: date | None, name: str) -> date | None:
    """Refuse days outside the range the evaluator can reason about (422, naming the field)."""
    if value is not None and not (EARLIEST <= value <= LATEST):
        raise ApiProblem(422, f"{value} is outside {EARLIEST}..{LATEST}", field=name)
    return value
