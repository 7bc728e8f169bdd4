"""Relying-party route: a status query that must state its purpose.

A relying party (a landlord, a lender, a licensing office) learns only what the policy makes
public: membership of lists marked ``public: true``, public measures in force, and the grade
where the deployment chose to publish it. Never a record, a score's contributions or a reason.
The subject sees every such query, with its purpose, among the accesses to their data.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, bindparam, select

from credence.access.auth import Principal
from credence.api.deps import ApiContext, Ctx, Name, Purpose, access, role
from credence.api.problems import ERRORS, ApiProblem
from credence.api.readlog import Logged
from credence.api.reads import assess
from credence.states import ListingStatus, MeasureStatus
from credence.store.schema import ListEntry, MeasureRow

router = APIRouter(tags=["relying_party"], responses=ERRORS)
# Built once (these run on every status query). No IN list of the public lists and measures:
# an expanding parameter is rendered again on every execution, and a subject is on few lists;
# the public ones are picked out here.
_LISTED = select(ListEntry.list_id, ListEntry.entered_on).where(
    ListEntry.subject_id == bindparam("sid"),
    ListEntry.policy_id == bindparam("policy"),
    ListEntry.status == ListingStatus.LISTED,
)
_IN_FORCE = (
    select(MeasureRow.measure_id, MeasureRow.in_force_from, MeasureRow.until)
    .where(
        MeasureRow.subject_id == bindparam("sid"),
        MeasureRow.policy_id == bindparam("policy"),
        MeasureRow.status == MeasureStatus.IN_FORCE,
    )
    .order_by(MeasureRow.id)
)
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
async def status(body: StatusIn, who: RelyingParty, ctx: Ctx) -> Response:
    """Public list membership (and measures, grade where public) of one subject."""
    return await answer_status(ctx, who, body)


async def answer_status(ctx: ApiContext, who: Principal, body: StatusIn) -> Response:
    """The status answer for a relying party (the read logged and committed first)."""
    today = ctx.now().date()
    version = ctx.policy.version_at(today) or ctx.policy.latest
    public_lists = {x.id: x for x in version.lists if x.public}
    public_measures = {m.id: m for m in version.measures if m.public}
    sid = ctx.store.keys.subject_id(body.national_id)
    grant = access(who, body.purpose)
    params = {"sid": sid, "policy": ctx.policy.id}

    def read(connection: Connection) -> tuple[tuple[dict[str, date | None], list[Any]], Logged]:
        # Pre-built Core statements: this is the API's busiest read, and an ORM session would
        # cost more than the two indexed look-ups it makes.
        listed: dict[str, date | None] = {}
        if public_lists:
            for list_id, entered_on in connection.execute(_LISTED, params):
                if list_id in public_lists:
                    listed[list_id] = entered_on
        found: list[Any] = []
        if public_measures:
            found = [
                row
                for row in connection.execute(_IN_FORCE, params)
                if row.measure_id in public_measures
            ]
        return (listed, found), Logged(grant, sid, "status")

    grade: str | None = None
    if ctx.public_grade:
        # The assessment logs the read (once, as "status"); the lists are read after it.
        grade = str((await assess(ctx, sid, grant, None, None, what="status")).result["grade"])
        assert ctx.reads is not None
        listed, found = await ctx.reads.run(lambda c: (read(c)[0], None))
    else:
        # Answers only once the access event and its chain entry are committed.
        assert ctx.reads is not None
        listed, found = await ctx.reads.run(read)
    measures = [
        MeasureStatusOut(
            measure_id=measure_id,
            title=public_measures[measure_id].title,
            in_force_from=in_force_from,
            until=until,
        )
        for measure_id, in_force_from, until in found
    ]
    if not public_lists and not public_measures and not ctx.public_grade:
        raise ApiProblem(404, f"policy {ctx.policy.id} makes nothing public about its subjects")
    answer = StatusOut(
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
    # Encoded once by the model itself, as FastAPI would encode it, without validating it again.
    return Response(answer.model_dump_json().encode(), media_type="application/json")
