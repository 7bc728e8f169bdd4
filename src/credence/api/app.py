"""The application object: :func:`create_app` builds the FastAPI app on a store and a policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from credence import __version__
from credence.access.auth import Authenticator, record_lockout
from credence.access.guard import Guard
from credence.api import (
    routes_agency,
    routes_auditor,
    routes_common,
    routes_relying_party,
    routes_reviewer,
    routes_subject,
)
from credence.api.deps import ApiContext, lock_for_read
from credence.api.headers import SecurityHeaders
from credence.api.problems import DEFAULT_MAX_BODY, BodyLimit, install
from credence.api.quick_status import QuickStatus
from credence.api.readlog import WriteLock
from credence.api.repeat import RepeatViews
from credence.policy.lint import unlawful
from credence.policy.load import PolicySet
from credence.store.db import Store
from credence.store.meta import StoreClock

DESCRIPTION = """\
Credence over HTTP. Every caller is a principal with a role (agency, reviewer, auditor, subject,
relying_party) and an API key sent as `Authorization: Bearer <key>`. Every read of a subject's
data is logged with who, role, purpose and what, and the subject can list those reads. Errors
are RFC 9457 `application/problem+json` documents naming the field at fault.
"""


def create_app(
    store: Store,
    policy: PolicySet,
    *,
    public_grade: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    key_ttl: float = 60.0,
    key_recheck: float = 1.0,
    clock: Callable[[], datetime] | None = None,
    uploads: tuple[str, ...] = (),
    upload_bytes: int = DEFAULT_MAX_BODY,
    guard: Guard | None = None,
) -> FastAPI:
    """The Credence API serving one policy over one opened store (`credence.server` adds the site).

    ``uploads``: path prefixes whose requests may carry up to ``upload_bytes`` (the site's forms
    with files); every other request is refused over ``max_body``.
    """
    problems = unlawful(policy)
    if problems:
        # The evaluator refuses such a policy on every request; refuse it once, at start.
        raise ValueError(f"policy {policy.id} is refused by the linter: {'; '.join(problems)}")
    app = FastAPI(
        title="Credence API",
        version=__version__,
        description=DESCRIPTION,
    )

    def lockout(principal: int | None, address: str, failures: int, block: float) -> None:
        with ctx.session() as session:
            lock_for_read(session)  # the server's write lock first, as every write
            record_lockout(session, store.keys, principal, address, failures, block, at=ctx.now())
            session.commit()

    guard = guard or Guard()
    guard.on_lockout = guard.on_lockout or lockout
    ctx = ApiContext(
        store=store,
        policy=policy,
        authenticator=Authenticator(store, ttl=key_ttl, recheck=key_recheck, guard=guard),
        public_grade=public_grade,
        serial=WriteLock(store.folder) if store.is_sqlite else None,
    )
    # Without a clock of its own the API keeps the store's: the day its data runs to.
    clock = clock if clock is not None else StoreClock(store.engine)
    ctx.clock = clock
    app.state.credence = ctx
    install(app)
    for module in (
        routes_common,
        routes_agency,
        routes_subject,
        routes_relying_party,
        routes_reviewer,
        routes_auditor,
    ):
        app.include_router(module.router)
    # Inside the body limit: the two busiest requests (a relying party's status query, a
    # subject's repeat view of their explanation) by a remembered key skip routing and
    # dependency injection, reading the key with the API's one parser; every other key goes to
    # credence.api.deps.principal (see credence.api.fastpath).
    app.add_middleware(QuickStatus, ctx=ctx)
    app.add_middleware(RepeatViews, ctx=ctx)
    app.add_middleware(BodyLimit, max_bytes=max_body, uploads=uploads, upload_bytes=upload_bytes)
    # Outermost: every answer, a fast path's included, gets the security headers.
    app.add_middleware(SecurityHeaders)
    return app
