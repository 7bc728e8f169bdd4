"""List entry criteria at one date (pure); listing over time is the timeline replay's."""

from __future__ import annotations

from datetime import date

from credence.engine.assessment import ListStatus
from credence.engine.tally import Tally
from credence.policy.compiled import entry_met
from credence.policy.model import PolicyVersion


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
        if crit.record_kinds is not None:
            evidence = tuple(c.record_id for c in now.contributions if c.kind in crit.record_kinds)
        met = bool(entry_met(crit, now.grade, now.score, bool(evidence)))
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
