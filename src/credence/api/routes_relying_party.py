"""Relying-party route: a status query that must state its purpose.

A relying party (a landlord, a lender, a licensing office) learns only what the policy makes
public: membership of lists marked ``public: true``, public measures in force, and the grade
where the deployment chose to publish it. Never a record, a score's contributions or a reason.
The subject sees every such query, with its purpose, among the accesses to their data.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from credence.api.auth import Principal
from credence.api.deps import Ctx, Db, Name, Purpose, access, lock_for_read, role
from credence.api.problems import ERRORS, ApiProblem
from credence.api.reads import assess
from credence.audit.access import log_read
from credence.store.schema import ListEntry, MeasureRow

router = APIRouter(tags=["relying_party"], responses=ERRORS)
RelyingParty = Annotated[Principal, Depends(role("relying_party"))]


class StatusIn(BaseModel):
    """Whom the query is about and why it is made (both required)."""

    model_config = ConfigDict(extra="forbid")
    national_id: Annotated[Name, Field(max_length=100)]
    purpose: Purpose


class ListStatusOut(BaseModel):
    """Whether the subject is on one public list."""

    list_id: str
    title: str
    type: str
    listed: bool
    since: date | None = None


class MeasureStatusOut(BaseModel):
    """A public measure in force against the subject."""

    measure_id: str
    title: str
    in_force_from: date | None
    until: date | None


class StatusOut(BaseModel):
    """What a relying party may know: public list membership and measures, maybe the grade."""

    policy_id: str
    as_of: date
    lists: list[ListStatusOut]
    measures: list[MeasureStatusOut]
    grade: str | None = Field(
        default=None, description="Only where the deployment publishes grades."
    )


@router.post("/status", response_model=StatusOut)
def status(body: StatusIn, who: RelyingParty, ctx: Ctx, session: Db) -> StatusOut:
    """Public list membership (and measures, grade where public) of one subject."""
    today = ctx.now().date()
    version = ctx.policy.version_at(today) or ctx.policy.latest
    public_lists = {x.id: x for x in version.lists if x.public}
    public_measures = {m.id: m for m in version.measures if m.public}
    sid = ctx.store.keys.subject_id(body.national_id)
    grant = access(who, body.purpose)
    grade: str | None = None
    if ctx.public_grade:
        grade = str(assess(ctx, session, sid, grant, None, None, what="status")["grade"])
    else:
        lock_for_read(session)
        log_read(session, ctx.store.keys, grant, sid, "status", at=ctx.now())
    listed: dict[str, date | None] = {}
    if public_lists:
        for e in session.scalars(
            select(ListEntry).where(
                ListEntry.subject_id == sid,
                ListEntry.policy_id == ctx.policy.id,
                ListEntry.status == "listed",
                ListEntry.list_id.in_(list(public_lists)),
            )
        ):
            listed[e.list_id] = e.entered_on
    measures: list[MeasureStatusOut] = []
    if public_measures:
        for m in session.scalars(
            select(MeasureRow)
            .where(
                MeasureRow.subject_id == sid,
                MeasureRow.policy_id == ctx.policy.id,
                MeasureRow.status == "in-force",
                MeasureRow.measure_id.in_(list(public_measures)),
            )
            .order_by(MeasureRow.id)
        ):
            measures.append(
                MeasureStatusOut(
                    measure_id=m.measure_id,
                    title=public_measures[m.measure_id].title,
                    in_force_from=m.in_force_from,
                    until=m.until,
                )
            )
    session.commit()
    if not public_lists and not public_measures and not ctx.public_grade:
        raise ApiProblem(404, f"policy {ctx.policy.id} makes nothing public about its subjects")
    return StatusOut(
        policy_id=ctx.policy.id,
        as_of=today,
        lists=[
            ListStatusOut(
                list_id=lid,
                title=x.title,
                type=x.type,
                listed=lid in listed,
                since=listed.get(lid),
            )
            for lid, x in public_lists.items()
        ],
        measures=measures,
        grade=grade,
    )
