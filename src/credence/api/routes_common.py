"""Routes open to every principal (who am I) and to everyone (health)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from credence.api.deps import Caller, Ctx
from credence.api.problems import ERRORS

router = APIRouter(tags=["common"], responses=ERRORS)


class Health(BaseModel):
    """The service answers, and which policy it serves."""

    status: str
    policy_id: str


class WhoAmI(BaseModel):
    """The caller's name, role and scope."""

    name: str
    role: str
    scope: str | None


@router.get("/health", response_model=Health)
def health(ctx: Ctx) -> Health:
    """Liveness: no authentication, no data."""
    return Health(status="ok", policy_id=ctx.policy.id)


@router.get("/whoami", response_model=WhoAmI)
def whoami(who: Caller) -> WhoAmI:
    """The principal the API key belongs to."""
    return WhoAmI(name=who.name, role=who.role, scope=who.scope)
