"""Logged reads of a subject's data, shared by the routes of several roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import (
    Connection,
)
from sqlalchemy.orm import Session

from credence.api.deps import ApiContext
from credence.api.explained import Explained
from credence.api.problems import ApiProblem
from credence.api.readlog import Logged
from credence.audit.access import Access
from credence.engine.reference import evaluate
from credence.engine.timeline import Decisions
from credence.errors import CredenceError
from credence.records import Record
from credence.store.reader import Rows, read_rows, typed


def load_records(session: Session, subject_id: str) -> list[Record]:
    """Every record of a subject with its status history, as the store holds them now.

    The store's one reader (:mod:`credence.store.reader`), unlogged: the route logs the read.
    """
    raw = read_rows(session.connection(), subject_id, "", None)
    return typed(raw, session.get_bind().dialect, subject_id, None).records


def record_view(r: Record) -> dict[str, Any]:
    """A record as the API shows it (to its subject, its source, a reviewer)."""
    return {
        "record_id": r.record_id,
        "source": r.source,
        "kind": r.kind,
        "occurred_on": r.occurred_on.isoformat(),
        "effective_on": r.effective_on.isoformat(),
        "recorded_at": r.recorded_at.isoformat(),
        "amount": None if r.amount is None else str(r.amount),
        "evidence_ref": r.evidence_ref,
        "status": r.history[-1].status.value if r.history else "active",
        "history": [
            {"status": c.status.value, "at": c.at.isoformat(), "ref": c.ref} for c in r.history
        ],
    }


# What an explanation is computed from, as read (the store reader's rows, compared as the
# driver returns them with those a remembered explanation came from).
Inputs = Rows


def read_inputs(
    connection: Connection, subject_id: str, policy_id: str, known_at: date | None = None
) -> Inputs:
    """The rows an evaluation of a subject as known at ``known_at`` reads (cheap, unlogged)."""
    return read_rows(connection, subject_id, policy_id, known_at)


def inputs_of(
    connection: Connection, subject_id: str, policy_id: str, known_at: date | None = None
) -> tuple[list[Record], Decisions]:
    """What an evaluation of a subject reads: :func:`load_records` and ``decisions_of``."""
    got = typed(read_inputs(connection, subject_id, policy_id, known_at), connection.dialect,
                subject_id, known_at)  # fmt: skip
    return got.records, got.decisions


async def assess(
    ctx: ApiContext,
    subject_id: str,
    access: Access,
    as_of: date | None,
    known_at: date | None,
    what: str = "assessment",
    *,
    missing: str | None = None,
    check: Callable[[Connection], None] | None = None,
) -> Explained:
    """The subject's explained assessment (a logged read, committed before this returns).

    With ``missing``, a subject without records is a 404 with that message (and no read is
    logged). ``check`` runs first, on the read's connection; what it raises is raised here, and
    nothing is read or logged. The result may be shared with other requests (it is
    remembered): do not change it.
    """
    today = ctx.now().date()
    day = as_of or today
    known = known_at or max(day, today)
    policy_id = ctx.policy.id

    def read(connection: Connection) -> tuple[Inputs, Logged]:
        if check is not None:
            check(connection)
        # An explicit known_at cuts at what the store held at its end; without one, everything
        # it holds now (an app's clock may stand before what was ingested).
        raw = read_inputs(connection, subject_id, policy_id, known_at)
        count = len(raw[0])
        if missing is not None and not count:
            raise ApiProblem(404, missing)
        if known < day:
            raise ApiProblem(422, f"known_at {known} is before as_of {day}", field="query.known_at")
        if ctx.policy.version_at(day) is None:
            first = ctx.policy.versions[0].effective_from
            raise ApiProblem(
                422,
                f"policy {policy_id} is not in force on {day} (it starts {first})",
                field="query.as_of",
            )
        detail = {"as_of": day.isoformat(), "known_at": known.isoformat(), "count": count}
        return raw, Logged(access, subject_id, what, detail)

    assert ctx.reads is not None and ctx.explanations is not None
    # Returns once the access event and its chain entry are committed.
    raw = await ctx.reads.run(read)
    # A status query needs the grade, not the way back, which costs many evaluations.
    full = what != "status"
    key = (subject_id, day, known, full)
    # Whether known_at was cut at is an input too: the same rows read without a cut can hold a
    # service after K that a cut at K does not count.
    inputs = (raw, known_at)
    remembered = ctx.explanations.get(key, inputs)
    if remembered is not None:
        return remembered
    explained = await run_in_threadpool(_evaluate, ctx, raw, subject_id, day, known, known_at, full)
    ctx.explanations.put(key, inputs, explained)
    return explained


def _evaluate(
    ctx: ApiContext,
    raw: Inputs,
    subject_id: str,
    day: date,
    known: date,
    cut: date | None,
    way_back: bool = True,
) -> Explained:
    got = typed(raw, ctx.store.engine.dialect, subject_id, cut)
    records, decisions = got.records, got.decisions
    try:
        result = evaluate(
            ctx.policy,
            records,
            day,
            known,
            subject_id=subject_id,
            decisions=decisions,
            way_back=way_back,  # an explanation says how each adverse outcome can end
        ).to_dict()
    except (CredenceError, OverflowError) as exc:
        raise ApiProblem(422, str(exc), field="query.as_of") from None
    explained = Explained(result)
    explained.body  # noqa: B018 - encoded here, in the thread, once
    return explained
