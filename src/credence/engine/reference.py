"""The reference evaluator: one subject, every point explained.

``evaluate`` is the online path and the meaning that the batch evaluator must reproduce. It does
no I/O: records come in, an :class:`~credence.engine.assessment.Assessment` goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from credence.engine.assessment import Assessment, ChangeAhead, ListingState
from credence.engine.lists import list_statuses
from credence.engine.reasons import Situation, principal_reasons
from credence.engine.tally import Clamp, Tally, count_date, tally
from credence.engine.timeline import Decisions, replay
from credence.engine.way_back import find_way_back
from credence.errors import EvaluationError
from credence.policy.compiled import CompiledPolicy, compile_policy
from credence.policy.load import PolicySet
from credence.records import Record


def evaluate(
    policy: PolicySet,
    records: Iterable[Record],
    as_of: date,
    known_at: date | None = None,
    *,
    subject_id: str | None = None,
    decisions: Decisions | None = None,
    horizon: int = 10,
    listings: bool = True,
    way_back: bool = False,
) -> Assessment:
    """Assess one subject at ``as_of`` as known at ``known_at`` (default: today, never before).

    All records must belong to the one subject: scoring a person by another's records is
    refused. A policy with lint errors under the default profile is refused too. With
    ``listings`` off, list criteria are still reported but listings are not replayed over
    time (population scoring needs only the score, grade and criteria). With ``way_back`` the
    assessment also says when and how each adverse outcome can end (engine/way_back.py).
    """
    known = known_at if known_at is not None else max(as_of, date.today())
    if known < as_of:
        raise EvaluationError(f"known_at {known} is before as_of {as_of}; it can never be")
    compiled = compile_policy(policy)  # linted once per loaded policy, not per evaluation
    items = list(records)
    subjects = {r.subject_id for r in items}
    if subject_id is not None:
        subjects.add(subject_id)
    if len(subjects) > 1:
        raise EvaluationError(
            f"records of {len(subjects)} subjects given: a subject is scored only by their own "
            "records"
        )
    subject = subjects.pop() if subjects else ""
    version = policy.version_at(as_of)
    if version is None:
        raise EvaluationError(
            f"policy {policy.id} is not in force on {as_of} "
            f"(first version starts {policy.versions[0].effective_from})"
        )
    clamps: list[Clamp] = []
    credit_decisions: dict[str, str | None] = {}
    stage_state = None
    episodes: tuple[ListingState, ...] = ()
    if compiled.needs_replay or (listings and compiled.listed):
        result = replay(compiled, items, as_of, known, decisions, listings=listings)
        clamps, credit_decisions, stage_state, episodes = (
            result.clamps,
            result.credit_decisions,
            result.stages,
            result.listings,
        )
    now = tally(compiled, items, as_of, known, credit_decisions, clamps)
    statuses = list_statuses(version, now)
    situation = Situation(compiled, items, now, known, credit_decisions, clamps)
    assessment = Assessment(
        subject_id=subject,
        policy_id=policy.id,
        policy_version=version.version,
        as_of=as_of,
        known_at=known,
        score=now.score,
        grade=now.grade,
        base=version.scale.base if version.model == "additive" else None,
        categories=now.categories,
        contributions=now.contributions,
        adjustments=now.adjustments,
        not_counted=now.not_counted,
        lists=statuses,
        stages=stage_state,
        changes_ahead=(
            _ahead(compiled, items, now, known, credit_decisions, clamps, horizon)
            if horizon
            else ()
        ),
        listings=episodes,
        reasons=principal_reasons(situation, statuses, stage_state, episodes),
    )
    if not way_back:
        return assessment

    def again(changed: list[Record], day: date) -> Assessment:
        return evaluate(
            policy,
            changed,
            day,
            max(known, day),
            subject_id=subject,
            decisions=decisions,
            horizon=0,
        )

    return replace(assessment, way_back=find_way_back(compiled, items, assessment, again))


def _ahead(
    policy: CompiledPolicy,
    records: list[Record],
    now: Tally,
    known: date,
    credit_decisions: dict[str, str | None],
    clamps: list[Clamp],
    horizon: int,
) -> tuple[ChangeAhead, ...]:
    """The next dates on which the score changes with no new records, and what it becomes."""
    start = policy.of(now.version)
    reasons: dict[date, list[tuple[str, str]]] = {}
    today = now.as_of
    for c in now.contributions:
        if c.expires_on is not None and c.expires_on > today:
            reasons.setdefault(c.expires_on, []).append(("expires", c.record_id))
    for clamp in clamps:
        if clamp.active_at(today) and clamp.expires_on is not None:
            reasons.setdefault(clamp.expires_on, []).append(("clamp ends", clamp.stage))
    for r in records:
        if r.known_by(known):
            begin = count_date(r, start)
            if begin > today:
                reasons.setdefault(begin, []).append(("starts counting", r.record_id))
    for v in policy.versions:
        if v.effective_from > today:
            reasons.setdefault(v.effective_from, []).append(("version in force", v.label))
    out: list[ChangeAhead] = []
    for day in sorted(reasons)[:horizon]:
        then = tally(policy, records, day, known, credit_decisions, clamps)
        what = sorted(set(reasons[day]))
        text = "; ".join(f"{ident} {verb}" for verb, ident in what)
        ids = tuple(ident for verb, ident in what if verb in ("expires", "starts counting"))
        out.append(ChangeAhead(day, text, ids, then.score, then.grade))
    return tuple(out)
