"""Human review of measures: a reviewer signs off or refuses, always with the date and why."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from credence.audit import chain
from credence.errors import CredenceError
from credence.states import MeasureStatus
from credence.store.keys import Keys
from credence.store.schema import MeasureRow, ProcessEvent


class ReviewError(CredenceError):
    """A measure cannot be reviewed as asked."""


def review_measure(
    session: Session,
    keys: Keys,
    measure_id: int,
    *,
    approve: bool,
    reason: str,
    actor: str,
    on: date,
    now: datetime | None = None,
) -> MeasureRow:
    """Record a reviewer's sign-off (the measure may then take effect) or refusal."""
    row = session.get(MeasureRow, measure_id)
    if row is None:
        raise ReviewError(f"no measure {measure_id}")
    if row.status != MeasureStatus.AWAITING_REVIEW:
        raise ReviewError(f"measure {measure_id} is {row.status}, not awaiting review")
    if not approve and not reason.strip():
        raise ReviewError("refusing a measure needs a reason")
    decision = "approved" if approve else "refused"
    body = json.loads(row.body)
    body["review"] = {"decision": decision, "on": on.isoformat(), "by": actor, "reason": reason}
    row.body = json.dumps(body, sort_keys=True)
    when = now or datetime.now(UTC)
    session.add(
        ProcessEvent(
            object_type="measure",
            object_id=row.id,
            status=decision,
            at=when,
            actor=actor,
            detail=json.dumps({"reason": reason, "on": on.isoformat()}),
        )
    )
    if not approve:
        row.status = MeasureStatus.REFUSED
    chain.append(
        session,
        keys,
        actor=actor,
        action=f"process.measure.{decision}",
        subject_id=row.subject_id,
        detail={"ref": row.ref, "reason": reason, "on": on.isoformat()},
        at=when,
    )
    session.flush()
    return row
