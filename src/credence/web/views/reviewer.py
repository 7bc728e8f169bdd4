"""The reviewer queue: objections and measures awaiting review, the nearest deadline first.

The queue itself shows no subject's data; opening an item reads the record, the evidence and
the statement, and that read is logged with the reviewer's name and the item as the purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from credence.audit.access import Access, log_read
from credence.runs.objections import OPEN, ObjectionError, decide, evidence_file
from credence.runs.reviews import ReviewError, review_measure
from credence.states import MeasureStatus
from credence.store.schema import MeasureRow, Objection, ProcessEvent, RecordStatus, StoredRecord
from credence.web.app import User, Web, WebError
from credence.web.views.portal import evidence_path
from credence.web.words import Words

MAX_REASON = 5000


@dataclass(frozen=True)
class QueueItem:
    """One item awaiting review, with the time left before its deadline."""

    kind: str  # "objection" | "measure"
    id: int
    policy_id: str
    what: str
    since: date
    deadline: date | None
    days_left: int | None
    evidence: int = 0

    @property
    def href(self) -> str:
        """The item's review page."""
        return f"/queue/{self.kind}s/{self.id}"


def queue(session: Session, today: date, words: Words | None = None) -> list[QueueItem]:
    """Open objections and measures awaiting review, sorted by deadline (none last)."""
    items = []
    for o in session.scalars(select(Objection).where(Objection.status.in_(OPEN))):
        body = json.loads(o.body)
        items.append(
            QueueItem(
                "objection",
                o.id,
                "",
                "objection to a record",
                o.filed_at.date(),
                o.review_deadline,
                (o.review_deadline - today).days,
                len(body.get("evidence", [])),
            )
        )
    waiting = dict(
        session.execute(
            select(ProcessEvent.object_id, func.min(ProcessEvent.at))
            .where(
                ProcessEvent.object_type == "measure",
                ProcessEvent.status == MeasureStatus.AWAITING_REVIEW,
            )
            .group_by(ProcessEvent.object_id)
        ).all()
    )
    for m in session.scalars(
        select(MeasureRow).where(MeasureRow.status == MeasureStatus.AWAITING_REVIEW)
    ):
        since = (waiting.get(m.id) or m.created_at).date()
        items.append(
            QueueItem(
                "measure",
                m.id,
                m.policy_id,
                words.measure(m.measure_id) if words else f"measure {m.measure_id}",
                since,
                m.in_force_from,
                None if m.in_force_from is None else (m.in_force_from - today).days,
            )
        )
    return sorted(items, key=lambda i: (i.deadline is None, i.deadline or date.max, i.since, i.id))


def _events(session: Session, object_type: str, object_id: int) -> list[ProcessEvent]:
    return list(
        session.scalars(
            select(ProcessEvent)
            .where(ProcessEvent.object_type == object_type, ProcessEvent.object_id == object_id)
            .order_by(ProcessEvent.id)
        )
    )


def objection_data(web: Web, user: User, session: Session, objection_id: int) -> dict[str, Any]:
    """An objection with its record, evidence and statement (a logged read)."""
    o = session.get(Objection, objection_id)
    if o is None:
        raise WebError(404, f"There is no objection {objection_id}.")
    access = Access(user.name, "reviewer", f"review of objection {o.id}")
    log_read(session, web.store.keys, access, o.subject_id, "objection", at=web.now())
    record = session.get(StoredRecord, o.record_id)
    statuses = list(
        session.scalars(
            select(RecordStatus)
            .where(RecordStatus.record_id == o.record_id)
            .order_by(RecordStatus.at, RecordStatus.id)
        )
    )
    body = json.loads(o.body)
    evidence = [
        {"ref": ref, "n": n, "file": evidence_path(web, session, o, ref) is not None}
        for n, ref in enumerate(body.get("evidence", []))
    ]
    version = web.policy.version_at(record.occurred_on) if record else None
    rule = version.rule_for(record.kind) if version and record else None
    return {
        "o": o,
        "body": body,
        "record": record,
        "statuses": statuses,
        "evidence": evidence,
        "rule": rule,
        "events": _events(session, "objection", o.id),
        "days_left": (o.review_deadline - web.today()).days,
        "open": o.status in OPEN,
    }


def measure_data(web: Web, user: User, session: Session, measure_id: int) -> dict[str, Any]:
    """A measure awaiting review, its definition in the policy and its history (a logged read)."""
    m = session.get(MeasureRow, measure_id)
    if m is None:
        raise WebError(404, f"There is no measure {measure_id}.")
    access = Access(user.name, "reviewer", f"review of measure {m.id}")
    log_read(session, web.store.keys, access, m.subject_id, "measure", at=web.now())
    definition = None
    for v in reversed(web.policy.versions):
        found = [x for x in v.measures if x.id == m.measure_id]
        if found:
            definition = found[0]
            break
    return {
        "m": m,
        "body": json.loads(m.body),
        "definition": definition,
        "events": _events(session, "measure", m.id),
        "open": m.status == MeasureStatus.AWAITING_REVIEW,
    }


def routes(web: Web) -> APIRouter:
    """The reviewer's routes."""
    router = web.router()

    @router.get("/queue")
    def review_queue(request: Request) -> HTMLResponse:
        """Everything awaiting review, the nearest deadline first."""
        user = web.require(request, "review")
        with web.store.session() as session:
            items = queue(session, web.today(), web.words)
        done = request.query_params.get("done", "")
        return web.render(request, "review_queue.html", {"items": items, "done": done}, user=user)

    def show_objection(
        request: Request,
        user: User,
        objection_id: int,
        form: dict[str, str],
        error: str,
        status: int,
    ) -> HTMLResponse:
        with web.store.session() as session:
            data = objection_data(web, user, session, objection_id)
            session.commit()
        context = {**data, "form": form, "error": error}
        return web.render(request, "review_objection.html", context, user=user, status=status)

    @router.get("/queue/objections/{objection_id}")
    def objection(request: Request, objection_id: int) -> HTMLResponse:
        """The record, the evidence and the statement side by side, and the decision form."""
        user = web.require(request, "review")
        return show_objection(request, user, objection_id, {}, "", 200)

    @router.post("/queue/objections/{objection_id}", response_model=None)
    def decide_objection(
        request: Request,
        objection_id: int,
        outcome: str = Form(""),
        reason: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        """Overturn the record or uphold it (refusing the objection needs a reason)."""
        user = web.require(request, "review")
        web.check_csrf(user, csrf)
        form = {"outcome": outcome, "reason": reason}
        error = ""
        if outcome not in ("upheld", "overturned"):
            error = "Choose a decision: overturn the record or uphold it."
        elif outcome == "upheld" and not reason.strip():
            error = (
                "Give a reason: upholding the record refuses the objection, "
                "and a refusal must say why."
            )
        elif len(reason) > MAX_REASON:
            error = f"Keep the reason under {MAX_REASON} characters."
        if not error:
            with web.store.session() as session:
                try:
                    decide(
                        session,
                        web.store.keys,
                        objection_id,
                        outcome,
                        reason=reason.strip(),
                        actor=user.name,
                        now=web.now(),
                    )
                    session.commit()
                    return RedirectResponse(
                        f"/queue?done={outcome}-{objection_id}", status_code=303
                    )
                except ObjectionError as exc:
                    session.rollback()
                    error = str(exc)
        return show_objection(request, user, objection_id, form, error, 422)

    @router.get("/queue/objections/{objection_id}/evidence/{n}")
    def evidence(request: Request, objection_id: int, n: int) -> FileResponse:
        """Download an uploaded evidence file (a logged read)."""
        user = web.require(request, "review")
        with web.store.session() as session:
            o = session.get(Objection, objection_id)
            refs = json.loads(o.body).get("evidence", []) if o else []
            if o is None or not 0 <= n < len(refs):
                raise WebError(404, "No such evidence.")
            # Only a file uploaded with this objection is served, and its read is logged
            # against the subject the file belongs to (which is the objection's).
            row = evidence_file(session, o, refs[n])
            path = evidence_path(web, session, o, refs[n]) if row is not None else None
            if row is None or path is None:
                raise WebError(404, "That evidence is a reference, not an uploaded file.")
            access = Access(user.name, "reviewer", f"review of objection {o.id}")
            log_read(session, web.store.keys, access, row.subject_id, "evidence", at=web.now())
            session.commit()
        return FileResponse(path, filename=path.name, content_disposition_type="attachment")

    def show_measure(
        request: Request, user: User, measure_id: int, form: dict[str, str], error: str, status: int
    ) -> HTMLResponse:
        with web.store.session() as session:
            data = measure_data(web, user, session, measure_id)
            session.commit()
        context = {**data, "form": form, "error": error}
        return web.render(request, "review_measure.html", context, user=user, status=status)

    @router.get("/queue/measures/{measure_id}")
    def measure(request: Request, measure_id: int) -> HTMLResponse:
        """A measure awaiting a reviewer's sign-off."""
        user = web.require(request, "review")
        return show_measure(request, user, measure_id, {}, "", 200)

    @router.post("/queue/measures/{measure_id}", response_model=None)
    def decide_measure(
        request: Request,
        measure_id: int,
        decision: str = Form(""),
        reason: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        """Approve the measure or refuse it (a refusal needs a reason)."""
        user = web.require(request, "review")
        web.check_csrf(user, csrf)
        form = {"decision": decision, "reason": reason}
        error = ""
        if decision not in ("approve", "refuse"):
            error = "Choose a decision: approve the measure or refuse it."
        elif decision == "refuse" and not reason.strip():
            error = "Give a reason: a refusal must say why."
        if not error:
            with web.store.session() as session:
                try:
                    review_measure(
                        session,
                        web.store.keys,
                        measure_id,
                        approve=decision == "approve",
                        reason=reason.strip(),
                        actor=user.name,
                        on=web.today(),
                        now=web.now(),
                    )
                    session.commit()
                    return RedirectResponse(
                        f"/queue?done={decision}-measure-{measure_id}", status_code=303
                    )
                except ReviewError as exc:
                    session.rollback()
                    error = str(exc)
        return show_measure(request, user, measure_id, form, error, 422)

    return router
