"""The reference evaluator: one subject, every point explained.

``evaluate`` is the online path and the meaning that the batch evaluator must reproduce. It does
no I/O: records come in, an :class:`~credence.engine.assessment.Assessment` goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from credence.engine.assessment import Assessment, ChangeAhead, ListStatus
from credence.engine.tally import Clamp, Tally, count_date, tally
from credence.engine.timeline import Decisions, needs_replay, replay
from credence.errors import EvaluationError
from credence.policy.lint import unlawful
from credence.policy.load import PolicySet
from credence.policy.model import PolicyVersion
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
) -> Assessment:
    """Assess one subject at ``as_of`` as known at ``known_at`` (default: today, never before).

    All records must belong to the one subject: scoring a person by another's records is
    refused. A policy with lint errors under the default profile is refused too.
    """
    known = known_at if known_at is not None else max(as_of, date.today())
    if known < as_of:
        raise EvaluationError(f"known_at {known} is before as_of {as_of}; it can never be")
    problems = unlawful(policy)
    if problems:
        raise EvaluationError(f"policy {policy.id} is refused by the linter: {'; '.join(problems)}")
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
    if needs_replay(policy):
        result = replay(policy, items, as_of, known, decisions)
        clamps, credit_decisions, stage_state = (
            result.clamps,
            result.credit_decisions,
            result.stages,
        )
    now = tally(policy, items, as_of, known, credit_decisions, clamps)
    return Assessment(
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
        lists=list_statuses(version, now),
        stages=stage_state,
        changes_ahead=_ahead(policy, items, now, known, credit_decisions, clamps, horizon),
    )


def list_statuses(version: PolicyVersion, now: Tally) -> tuple[ListStatus, ...]:
    """Whether the subject meets each list's entry criteria at the evaluation date.

    A list with ``repair`` stops applying once a counted repair record dated on or after the
    latest record that put the subject there has served its probation (the obligation was
    fulfilled). Notice before listing and the listing duration are the process layer's.
    """
    out = []
    for lst in version.lists:
        crit = lst.entry
        evidence: tuple[str, ...] = ()
        met = True
        if crit.grades is not None:
            met = met and now.grade in crit.grades
        if crit.score_at_most is not None:
            met = met and now.score <= crit.score_at_most
        if crit.score_at_least is not None:
            met = met and now.score >= crit.score_at_least
        if crit.record_kinds is not None:
            evidence = tuple(c.record_id for c in now.contributions if c.kind in crit.record_kinds)
            met = met and bool(evidence)
        repaired: str | None = None
        if met and lst.repair is not None:
            latest = max(
                (c.occurred_on for c in now.contributions if c.record_id in evidence),
                default=date.min,
            )
            probation = lst.repair.probation
            for c in now.contributions:
                done = probation.after(c.occurred_on) if probation else c.occurred_on
                if (
                    c.kind in lst.repair.record_kinds
                    and c.occurred_on >= latest
                    and done <= now.as_of
                ):
                    repaired = c.record_id
                    break
        out.append(ListStatus(lst.id, lst.type, met and repaired is None, evidence, repaired))
    return tuple(out)


def _ahead(
    policy: PolicySet,
    records: list[Record],
    now: Tally,
    known: date,
    credit_decisions: dict[str, str | None],
    clamps: list[Clamp],
    horizon: int,
) -> tuple[ChangeAhead, ...]:
    """The next dates on which the score changes with no new records, and what it becomes."""
    start = now.version
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
            begin = count_date(r, start.count_from)
            if begin > today:
                reasons.setdefault(begin, []).append(("starts counting", r.record_id))
    for v in policy.versions:
        if v.effective_from > today:
            reasons.setdefault(v.effective_from, []).append(("version in force", v.version))
    out: list[ChangeAhead] = []
    for day in sorted(reasons)[:horizon]:
        then = tally(policy, records, day, known, credit_decisions, clamps)
        what = sorted(set(reasons[day]))
        text = "; ".join(f"{ident} {verb}" for verb, ident in what)
        ids = tuple(ident for verb, ident in what if verb in ("expires", "starts counting"))
        out.append(ChangeAhead(day, text, ids, then.score, then.grade))
    return tuple(out)
