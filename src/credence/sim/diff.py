"""Policy diff: who changes grade, list or measure between two policies, and which rules cause it.

Both policies judge the same synthetic population with the same records on the same day, as
known that day. Process effects (notices, rectification) are left out on purpose: the diff
shows what the rules alone do; ``credence simulate`` shows the whole scheme in motion.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import date
from typing import Any

from credence.errors import PolicyError
from credence.policy import library
from credence.policy.load import PolicySet
from credence.records import Record
from credence.sim.agencies import end_of_run, report
from credence.sim.population import PopulationSpec, generate_population
from credence.sim.process import Progress
from credence.sim.scenarios import Scenario
from credence.sim.scoring import Scorer, State, Timeline
from credence.states import MeasureStatus


def resolve(ref: str) -> PolicySet:
    """A bundled name or a path, optionally ``@version`` for that version alone.

    A single version is put in force from the policy's first day, so that two versions of
    one policy can be compared as if each had always applied.
    """
    name, _, wanted = ref.partition("@")
    policy = library.resolve(name)
    if not wanted:
        return policy
    for v in policy.versions:
        if v.version == wanted:
            first = policy.versions[0].effective_from
            return PolicySet.of(v.model_copy(update={"effective_from": first}))
    known = ", ".join(v.version for v in policy.versions)
    raise PolicyError(ref, [(ref, f"policy {policy.id} has no version {wanted!r} (has {known})")])


def _measures(policy: PolicySet, state: State, timeline: Timeline | None, day: date) -> set[str]:
    version = policy.version_at(day)
    assert version is not None
    sanctions = {m.id for m in version.measures if m.type == "sanction"}
    out = {m for lst in version.lists if lst.id in state.lists for m in lst.measures}
    if timeline is not None and timeline.stages is not None:
        out |= {
            m.measure
            for m in timeline.stages.measures
            if m.status == MeasureStatus.IN_FORCE
            and m.in_force_from is not None
            and m.in_force_from <= day
        }
    return out & sanctions


def diff_policies(
    a: PolicySet,
    b: PolicySet,
    scenario: Scenario,
    as_of: date | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score one population under ``a`` and ``b`` and report every difference."""
    tick = progress or (lambda _t, _d, _n: None)
    start = scenario.start or max(a.versions[0].effective_from, b.versions[0].effective_from)
    scenario = dataclasses.replace(scenario, start=start)
    day = as_of or end_of_run(start, scenario.years)
    population = generate_population(PopulationSpec(scenario.population), scenario.seed)
    reported = report(a, population, scenario, b)
    by_subject: dict[str, list[Record]] = {}
    for r in reported.records:
        by_subject.setdefault(r.subject_id, []).append(r)
    sa, sb = Scorer(a), Scorer(b)
    base_a, base_b = sa.base_state(day), sb.base_state(day)
    moves: Counter[tuple[str, str]] = Counter()
    entered: Counter[str] = Counter()
    left: Counter[str] = Counter()
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    rules: dict[str, list[int]] = {}  # kind → [subjects, points delta]
    deltas: list[int] = []
    changed = 0
    total = len(by_subject)
    for done, sid in enumerate(sorted(by_subject), start=1):
        records = by_subject[sid]
        ta, tb = sa.timeline(records, day), sb.timeline(records, day)
        xa, xb = ta.at(day) or base_a, tb.at(day) or base_b
        ma, mb = _measures(a, xa, ta, day), _measures(b, xb, tb, day)
        if xa.grade != xb.grade:
            moves[(xa.grade, xb.grade)] += 1
        entered.update(xb.lists - xa.lists)
        left.update(xa.lists - xb.lists)
        gained.update(mb - ma)
        lost.update(ma - mb)
        if xa.score != xb.score:
            deltas.append(xb.score - xa.score)
        if (xa.grade, xa.lists, ma) != (xb.grade, xb.lists, mb):
            changed += 1
            pa, pb = Counter[str](), Counter[str]()
            for c in sa.counted(records, day):
                pa[c.kind] += c.points
            for c in sb.counted(records, day):
                pb[c.kind] += c.points
            for kind in sorted(set(pa) | set(pb)):
                if pa[kind] != pb[kind]:
                    entry = rules.setdefault(kind, [0, 0])
                    entry[0] += 1
                    entry[1] += pb[kind] - pa[kind]
        if done % 2000 == 0 or done == total:
            tick("scoring", done, total)
    rest = scenario.population - total
    if base_a.grade != base_b.grade and rest:
        moves[(base_a.grade, base_b.grade)] += rest
        changed += rest
    entered.update({lid: rest for lid in base_b.lists - base_a.lists})
    left.update({lid: rest for lid in base_a.lists - base_b.lists})
    return {
        "report": "credence policy diff",
        "a": {"policy": a.id, "version": _version(a, day)},
        "b": {"policy": b.id, "version": _version(b, day)},
        "as_of": day.isoformat(),
        "population": scenario.population,
        "seed": scenario.seed,
        "records": len(reported.records),
        "subjects_changed": changed,
        "grade_moves": [{"from": f, "to": t, "subjects": n} for (f, t), n in sorted(moves.items())],
        "lists": {
            lid: {"entered": entered[lid], "left": left[lid]}
            for lid in sorted(set(entered) | set(left))
        },
        "measures": {
            mid: {"gained": gained[mid], "lost": lost[mid]}
            for mid in sorted(set(gained) | set(lost))
        },
        "rules": [
            {"kind": kind, "subjects": n, "points_delta": pts}
            for kind, (n, pts) in sorted(rules.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ],
        "score_delta": {
            "subjects": len(deltas),
            "min": min(deltas, default=0),
            "max": max(deltas, default=0),
        },
    }


def _version(policy: PolicySet, day: date) -> str:
    version = policy.version_at(day)
    return version.version if version is not None else ""
