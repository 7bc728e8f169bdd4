"""The server: the HTTP API and the web site composed into one ASGI application.

`credence.api` and `credence.web` do not import each other (an import-linter contract says so);
this module builds the API and adds the site's router to it, sharing the API's principals, its
clock and its body limit (with the allowance of the site's upload forms). `credence serve` runs
:func:`app_from_env` in each uvicorn worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from credence.access.guard import Guard
from credence.api.app import create_app
from credence.api.problems import DEFAULT_MAX_BODY, set_error_page
from credence.policy.load import PolicySet
from credence.store.db import Store
from credence.web import create_web_router
from credence.web.app import MAX_UPLOAD

UPLOADS = ("/portal/", "/lab/")
"""Where the site takes files (evidence for an objection, the lab's record files)."""
UPLOAD_BYTES = MAX_UPLOAD + 64 * 1024
"""The most an upload request may carry: the largest file and the rest of its form."""


def create_server(
    store: Store,
    policy: PolicySet,
    *,
    public_grade: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    key_ttl: float = 60.0,
    key_recheck: float = 1.0,
    clock: Callable[[], datetime] | None = None,
    secure_cookies: bool = False,
    guard: Guard | None = None,
) -> FastAPI:
    """The API and the web site over one opened store, serving one policy."""
    app = create_app(
        store,
        policy,
        public_grade=public_grade,
        max_body=max_body,
        key_ttl=key_ttl,
        key_recheck=key_recheck,
        clock=clock,
        guard=guard,
        uploads=UPLOADS,
        upload_bytes=UPLOAD_BYTES,
    )
    ctx = app.state.credence
    site = create_web_router(
        store,
        policy,
        clock=ctx.clock,
        secure_cookies=secure_cookies,
        authenticator=ctx.authenticator,
    )
    app.include_router(site)
    if site.error_page is not None:
        # Browsers get the site's error pages (404, 403, 500); API clients problem+json.
        set_error_page(app, site.error_page)
    return app


def app_from_env() -> object:
    """The application, built from the environment that ``serve`` set (uvicorn factory)."""
    import atexit
    import gc

    from credence.policy import library
    from credence.sim.limited import cancel_all
    from credence.store.checkpoints import WalCheckpointer
    from credence.store.db import open_store

    policy = library.resolve(os.environ["CREDENCE_API_POLICY"])
    public = bool(os.environ.get("CREDENCE_API_PUBLIC_GRADE"))
    secure = bool(os.environ.get("CREDENCE_SECURE_COOKIES"))
    store = open_store()
    app = create_server(store, policy, public_grade=public, secure_cookies=secure)
    if store.is_sqlite:
        # Checkpoints off the request path (see credence.store.checkpoints), stopped with one
        # last pass when the worker process exits.
        checkpoints = WalCheckpointer.serving(store.engine, lock=app.state.credence.serial)
        atexit.register(checkpoints.stop)
    if os.environ.get("CREDENCE_API_AUDIT_CHECKPOINT"):
        # Signed checkpoints of the audit head outside the database (credence.audit.checkpoint),
        # and a last one when the worker exits.
        from credence.audit.checkpoint import HeadCheckpointer

        anchor = HeadCheckpointer(
            store.session,
            store.keys,
            path=Path(os.environ["CREDENCE_API_AUDIT_CHECKPOINT"]),
            interval=float(os.environ.get("CREDENCE_API_AUDIT_CHECKPOINT_EVERY") or 300),
        )
        anchor.start()
        atexit.register(anchor.stop)
    atexit.register(cancel_all)  # lab runs of this worker end with it
    # What start-up made (modules, the policy, the routes) lives as long as the server: moved out
    # of the collector's reach, the full collections that every request's garbage triggers now
    # and then stop walking it (they were the latency tail: 130 ms p99 -> 60 ms).
    gc.collect()
    gc.freeze()
    return app
