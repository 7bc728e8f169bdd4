"""A subject's due-process decisions as a run reads them (for callers outside a run)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from credence.engine.timeline import Decisions
from credence.process import kernel
from credence.runs import rows


def decisions_of(session: Session, subject_id: str, policy_id: str) -> Decisions:
    """Service dates and sign-offs on record, read and interpreted as a run does."""
    return kernel.decisions(rows.load(session, policy_id, [subject_id])[subject_id])
