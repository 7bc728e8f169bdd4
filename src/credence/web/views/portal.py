"""The citizen portal: my score explained, my notices, who looked at my data, my objections.

Every read goes through the store's logged reads with the subject's own name as actor, so
the portal's own reads appear in "who looked at my data" too.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from credence import charts
from credence.audit.access import Access, accesses_of, log_read
from credence.engine.assessment import Action, Assessment, Reason
from credence.engine.reference import evaluate
from credence.engine.way_back import CREDIT, OBJECTION
from credence.errors import CredenceError
from credence.policy.load import PolicySet
from credence.records import VOID, Record, Status
from credence.runs.objections import (
    EVIDENCE_DIR,
    OPEN,
    ObjectionError,
    add_evidence,
    evidence_file,
    file_objection,
    record_upload,
)
from credence.store.reader import SubjectInputs, inputs_of
from credence.store.schema import ListEntry, MeasureRow, Notice, Objection, StoredRecord
from credence.web.app import User, Web, WebError
from credence.web.words import Words, days, grouped_reads, long_date

PURPOSE = "self-service: the subject viewing their own record"
MAX_STATEMENT = 5000


@dataclass(frozen=True)
class Upload:
    """An uploaded evidence file, read into memory (bounded by the web's upload limit)."""

    filename: str
    data: bytes


def subject_of(user: User) -> str:
    """The subject id a subject principal may see (its scope)."""
    if not user.principal.scope:
        raise WebError(403, "Your account is not linked to a subject; ask the operator.")
    return user.principal.scope


def status_of(record: Record) -> Status:
    """A record's latest status."""
    if not record.history:
        return Status.ACTIVE
    return max(record.history, key=lambda s: s.at).status


def assess(
    policy: PolicySet,
    inputs: SubjectInputs,
    sid: str,
    day: date,
    known: date,
    *,
    way_back: bool = False,
) -> Assessment:
    """Evaluate with the notices served and sign-offs recorded, as the due-process run does."""
    return evaluate(
        policy,
        inputs.records,
        day,
        known,
        subject_id=sid,
        decisions=inputs.decisions,
        way_back=way_back,
    )


def month_starts(first: date, today: date, months: int = 12) -> list[date]:
    """The first day of each of the last ``months`` months, none before ``first``.

    >>> month_starts(date(2026, 1, 1), date(2026, 3, 15))
    [datetime.date(2026, 1, 1), datetime.date(2026, 2, 1), datetime.date(2026, 3, 1)]
    """
    out = []
    y, m = today.year, today.month
    for _ in range(months):
        d = date(y, m, 1)
        if d < first:
            break
        out.append(d)
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return sorted(out)


def timeline_points(
    policy: PolicySet,
    inputs: SubjectInputs,
    sid: str,
    today: date,
    now: Assessment,
) -> list[charts.Point]:
    """The score at the start of each of the last twelve months, today, and the changes ahead."""
    first = policy.versions[0].effective_from
    points = [
        charts.Point(d, assess(policy, inputs, sid, d, today).score)
        for d in month_starts(first, today)
        if d < today
    ]
    points.append(charts.Point(today, now.score, note="today"))
    for change in now.changes_ahead:
        points.append(charts.Point(change.on, change.score, ahead=True, note=change.reason))
    return points


def reason_sentence(r: Reason, words: Words) -> str:
    """A principal reason in words: what, which record, when, from whom, points, until when.

    The engine's own ``text`` carries ISO dates and codes; the page says the same in words.
    """
    ids = ", ".join(r.record_ids)
    until = f"; it stops counting on {long_date(r.expires_on)}" if r.expires_on else ""
    return (
        f"{words.kind(r.kind)}: record {ids} of {long_date(r.occurred_on)}, reported by "
        f"{words.source(r.source)}, {r.points:+d} points{until}."
    )


def action_lines(actions: Sequence[Action], words: Words) -> list[str]:
    """The actions of a goal in words, one line each, copies of one credit on one line."""
    out: list[str] = []
    i = 0
    while i < len(actions):
        x = actions[i]
        n = 1
        while (
            i + n < len(actions)
            and x.action == CREDIT
            and (actions[i + n].action, actions[i + n].kind) == (CREDIT, x.kind)
        ):
            n += 1
        copies = actions[i : i + n]
        if x.action == OBJECTION:
            what = (
                f"object to record {x.record_id} ({words.kind(x.kind)}) and the objection succeeds"
            )
        elif x.action == CREDIT:
            what = f"earn the credit {words.kind(x.kind)}" + (f" {n} times" if n > 1 else "")
        else:
            what = f"put it right: {words.kind(x.kind)}"
        points = sum(c.points for c in copies)
        sooner = [c.days for c in copies if c.days]
        alone = f"{days(max(sooner))} sooner" if sooner else "not sooner on its own"
        out.append(f"{what} ({points:+d} points, {alone})")
        i += n
    return out


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def page_data(web: Web, user: User, session: Session) -> dict[str, Any]:
    """Everything the portal shows, read with logged reads (the caller commits)."""
    sid = subject_of(user)
    access = Access(user.name, "subject", PURPOSE)
    today = web.today()
    policy = web.policy
    inputs = inputs_of(
        session, web.store.keys, [sid], None, access=access, policy_id=policy.id, now=web.now()
    )[sid]
    records = inputs.records
    try:
        # The one evaluation of today: its reasons and way back are what the page explains.
        a = assess(policy, inputs, sid, today, today, way_back=True)
    except CredenceError as exc:
        raise WebError(500, f"Your record cannot be evaluated: {exc}") from None
    version = policy.version_at(today) or policy.latest
    grades = sorted(version.grades, key=lambda g: g.min)
    colours = charts.grade_colours([g.grade for g in grades], version.higher_is_better)
    bands = [charts.Band(g.grade, g.min, g.max, colours[g.grade]) for g in grades]
    gauge = charts.gauge(
        a.score, version.scale.min, version.scale.max, bands, a.grade, "Your score"
    )
    points = timeline_points(policy, inputs, sid, today, a)
    timeline = charts.timeline(
        points, version.scale.min, version.scale.max, title="Your score over time", today=today
    )
    log_read(session, web.store.keys, access, sid, "notices", at=web.now())
    notices = [
        {"row": n, "body": _json(n.body)}
        for n in session.scalars(
            select(Notice)
            .where(Notice.subject_id == sid)
            .order_by(Notice.issued_on.desc(), Notice.id.desc())
        )
    ]
    log_read(session, web.store.keys, access, sid, "measures", at=web.now())
    measures = list(
        session.scalars(
            select(MeasureRow).where(MeasureRow.subject_id == sid).order_by(MeasureRow.id)
        )
    )
    entries = list(
        session.scalars(select(ListEntry).where(ListEntry.subject_id == sid).order_by(ListEntry.id))
    )
    log_read(session, web.store.keys, access, sid, "objections", at=web.now())
    rows = list(
        session.scalars(
            select(Objection).where(Objection.subject_id == sid).order_by(Objection.id.desc())
        )
    )
    objections = [{"row": o, "body": _json(o.body)} for o in rows]
    open_against = {o.record_id for o in rows if o.status in OPEN}
    by_id = {r.record_id: r for r in records}
    # A record dated after today (the store's day) is not offered: nobody objects to the future.
    contestable = [
        r
        for r in sorted(records, key=lambda r: (r.occurred_on, r.record_id), reverse=True)
        if status_of(r) not in VOID and r.record_id not in open_against and r.occurred_on <= today
    ]
    accesses = accesses_of(session, web.store.keys, sid, access, at=web.now())
    labels = {g.grade: g.label for g in version.grades}
    return {
        "a": a,
        "version": version,
        "grade_label": labels.get(a.grade, ""),
        "gauge": gauge,
        "timeline": timeline,
        "points": points,
        "records": by_id,
        "status_of": status_of,
        "notices": notices,
        "measures": measures,
        "entries": entries,
        "objections": objections,
        "contestable": contestable,
        "contestable_ids": {r.record_id for r in contestable},
        "reason_sentence": lambda r: reason_sentence(r, web.words),
        "action_lines": lambda xs: action_lines(xs, web.words),
        "open_against": open_against,
        "accesses": grouped_reads(reversed(accesses), user.name),
    }


def _safe_name(filename: str) -> str:
    """A file name that cannot leave its folder.

    >>> _safe_name("../../etc/passwd")
    'passwd'
    >>> _safe_name("my receipt (1).pdf")
    'my-receipt-1-.pdf'
    """
    base = Path(filename.replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-")
    return cleaned[:100] or "evidence"


def save_evidence(web: Web, session: Session, sid: str, upload: Upload) -> str:
    """Store an uploaded file under ``<data>/evidence/``, recorded as the subject's; its path.

    The file is the subject's from now on: only they can attach it (to the objection it is
    sent with), and a reviewer is served it only from that objection.
    """
    folder = web.store.folder / EVIDENCE_DIR / sid[:16]
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{web.now():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}-{_safe_name(upload.filename)}"
    (folder / name).write_bytes(upload.data)
    ref = f"{EVIDENCE_DIR}/{sid[:16]}/{name}"
    record_upload(session, sid, ref, upload.filename, upload.data, web.now())
    return ref


def evidence_path(web: Web, session: Session, o: Objection, ref: str) -> Path | None:
    """The stored file a reference of objection ``o`` names, if it was uploaded with ``o``."""
    row = evidence_file(session, o, ref)
    if row is None:
        return None
    root = (web.store.folder / EVIDENCE_DIR).resolve()
    path = (web.store.folder / row.ref).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def read_upload(web: Web, upload: UploadFile | None) -> Upload | None:
    """The uploaded file, or None when none was chosen; refuses one over the size limit."""
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(web.max_upload + 1)
    if len(data) > web.max_upload:
        raise ValueError(
            f"The file is larger than {web.max_upload // (1024 * 1024)} MiB; upload a smaller file."
        )
    if not data:
        raise ValueError("The file you chose is empty.")
    return Upload(upload.filename, data)


def routes(web: Web) -> APIRouter:
    """The portal's routes."""
    router = web.router()

    def show(
        request: Request, user: User, form: dict[str, Any], errors: dict[str, str], status: int
    ) -> HTMLResponse:
        with web.store.session() as session:
            data = page_data(web, user, session)
            session.commit()
        done = request.query_params.get("done", "")
        context = {**data, "form": form, "errors": errors, "done": done}
        return web.render(request, "portal.html", context, user=user, status=status)

    @router.get("/portal")
    def portal(request: Request) -> HTMLResponse:
        """The subject's own page."""
        user = web.require(request, "portal")
        # "Object to this record" next to a reason links here with the record chosen.
        return show(request, user, {"record_id": request.query_params.get("object", "")}, {}, 200)

    @router.post("/portal/objections", response_model=None)
    def object_to(
        request: Request,
        record_id: str = Form(""),
        statement: str = Form(""),
        csrf: str = Form(""),
        evidence: UploadFile | None = File(None),
    ) -> Response:
        """File an objection against one of the subject's records, with optional evidence."""
        user = web.require(request, "portal")
        web.check_csrf(user, csrf)
        sid = subject_of(user)
        form = {"record_id": record_id, "statement": statement}
        errors: dict[str, str] = {}
        if not record_id:
            errors["record_id"] = "Choose the record you object to."
        if not statement.strip():
            errors["statement"] = "Say why the record is wrong: a statement is required."
        elif len(statement) > MAX_STATEMENT:
            errors["statement"] = f"Keep the statement under {MAX_STATEMENT} characters."
        try:
            upload = read_upload(web, evidence)
        except ValueError as exc:
            errors["evidence"] = str(exc)
            upload = None
        if errors:
            return show(request, user, form, errors, 422)
        with web.store.session() as session:
            record = session.get(StoredRecord, record_id)
            if record is None or record.subject_id != sid:
                errors["record_id"] = "That record is not one of yours."
            else:
                refs = [save_evidence(web, session, sid, upload)] if upload else []
                try:
                    o = file_objection(
                        session,
                        web.store.keys,
                        web.policy,
                        record_id,
                        statement=statement.strip(),
                        evidence=refs,
                        actor=user.name,
                        now=web.now(),
                    )
                    session.commit()
                    return RedirectResponse(
                        f"/portal?done=objection-{o.id}#objections", status_code=303
                    )
                except ObjectionError as exc:
                    session.rollback()
                    errors["record_id"] = str(exc)
        return show(request, user, form, errors, 422)

    @router.post("/portal/objections/{objection_id}/evidence", response_model=None)
    def more_evidence(
        request: Request,
        objection_id: int,
        csrf: str = Form(""),
        evidence: UploadFile | None = File(None),
    ) -> Response:
        """Add evidence to an open objection (the first time extends the review deadline)."""
        user = web.require(request, "portal")
        web.check_csrf(user, csrf)
        sid = subject_of(user)
        errors: dict[str, str] = {}
        try:
            upload = read_upload(web, evidence)
            if upload is None:
                errors[f"evidence-{objection_id}"] = "Choose a file to add."
        except ValueError as exc:
            errors[f"evidence-{objection_id}"] = str(exc)
            upload = None
        if upload is not None:
            with web.store.session() as session:
                o = session.get(Objection, objection_id)
                if o is None or o.subject_id != sid:
                    raise WebError(404, "No such objection of yours.")
                ref = save_evidence(web, session, sid, upload)
                try:
                    add_evidence(
                        session,
                        web.store.keys,
                        web.policy,
                        objection_id,
                        [ref],
                        actor=user.name,
                        now=web.now(),
                    )
                    session.commit()
                    return RedirectResponse(
                        f"/portal?done=evidence-{objection_id}#objections", status_code=303
                    )
                except ObjectionError as exc:
                    session.rollback()
                    errors[f"evidence-{objection_id}"] = str(exc)
        return show(request, user, {}, errors, 422)

    return router


def days_left(deadline: date | None, today: date) -> int | None:
    """Days from today to a deadline (negative once it passed).

    >>> days_left(date(2026, 1, 10), date(2026, 1, 1))
    9
    """
    return None if deadline is None else (deadline - today).days
