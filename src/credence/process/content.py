"""What a notice says: the facts, the principal reasons, the rule, the deadline, the remedies.

A notice must let its reader understand and contest the decision without asking anyone, so
every field is derived from the explained assessment and the policy, never written by hand.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from credence.engine.assessment import Assessment, Reason
from credence.policy.model import PolicyVersion

REASONS = 4


def reason_codes(
    assessment: Assessment, outcome: str, ident: str, limit: int = REASONS
) -> list[dict[str, Any]]:
    """The principal reasons for one adverse outcome, as the engine ranked them (see
    engine/reasons.py): each with its reason code, records, legal basis and sentence.

    An outcome the assessment does not hold (a notice issued on an earlier day) falls back to
    the reasons of the grade, so that a notice never goes out without the records behind it.
    """
    found = next(
        (o for o in assessment.reasons if o.outcome == outcome and o.id == ident),
        next((o for o in assessment.reasons if o.outcome == "grade"), None),
    )
    return [_reason(r) for r in found.reasons[:limit]] if found is not None else []


def _reason(r: Reason) -> dict[str, Any]:
    return {
        "rank": r.rank,
        "code": r.code,
        "text": r.text,
        "record_id": r.record_ids[0],
        "record_ids": list(r.record_ids),
        "points": r.points,
        "weight": r.weight,
        "decisive": r.decisive,
        "occurred_on": r.occurred_on.isoformat(),
        "expires_on": r.expires_on.isoformat() if r.expires_on else None,
        "legal_basis": r.legal_basis,
        "source": r.source,
    }


def stage_notice(
    assessment: Assessment, version: PolicyVersion, stage_id: str, deadline: date | None
) -> dict[str, Any]:
    """The body of a notice for reaching a stage of the escalation ladder."""
    assert version.stages is not None
    stage = next(s for s in version.stages.ladder if s.id == stage_id)
    body: dict[str, Any] = {
        "about": "stage",
        "stage": stage.id,
        "title": stage.title or stage.id,
        "facts": _facts(assessment),
        "rule": {
            "threshold": stage.threshold,
            "direction": version.direction.value,
            "policy": f"{version.id} {version.version}",
        },
        "reasons": reason_codes(assessment, "stage", stage.id),
        "deadline": deadline.isoformat() if deadline else None,
        "remedies": _remedies(version),
    }
    if stage.measure:
        m = version.measure(stage.measure)
        body["measure"] = {
            "id": m.id,
            "title": m.title or m.id,
            "legal_basis": m.legal_basis,
            "appeal_route": m.appeal_route,
            "takes_effect": "after the deadline unless the situation is rectified"
            + (", and only after a human reviewer signs off" if m.human_review else ""),
        }
    return body


def list_notice(
    assessment: Assessment, version: PolicyVersion, list_id: str, deadline: date | None
) -> dict[str, Any]:
    """The body of a notice before listing."""
    lst = next(x for x in version.lists if x.id == list_id)
    status = next((s for s in assessment.lists if s.list_id == list_id), None)
    return {
        "about": "list",
        "list": lst.id,
        "title": lst.title or lst.id,
        "facts": _facts(assessment),
        "rule": {"entry": lst.entry.model_dump(exclude_none=True), "legal_basis": lst.legal_basis},
        "evidence": list(status.evidence) if status else [],
        "reasons": reason_codes(assessment, "list", lst.id),
        "deadline": deadline.isoformat() if deadline else None,
        "duration": str(lst.duration) if lst.duration else None,
        "measures": [
            {"id": m, "legal_basis": version.measure(m).legal_basis} for m in lst.measures
        ],
        "remedies": _remedies(
            version, lst.appeal_route, lst.repair.record_kinds if lst.repair else None
        ),
    }


def _facts(a: Assessment) -> dict[str, Any]:
    return {
        "score": a.score,
        "grade": a.grade,
        "as_of": a.as_of.isoformat(),
        "policy": f"{a.policy_id} {a.policy_version}",
    }


def _remedies(
    version: PolicyVersion, appeal: str | None = None, repair: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "object": (
            "You may object to any record listed here; it will be reviewed within "
            f"{version.contest.review_period} (extended once by {version.contest.extension} if "
            "you add evidence)"
            + (
                ", and it will not count while your objection is open."
                if version.contest.suspends
                else "."
            )
        ),
    }
    if appeal:
        out["appeal"] = appeal
    if repair:
        out["rectify"] = f"Records of these kinds end the listing: {', '.join(repair)}."
    return out
