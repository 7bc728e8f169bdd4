"""Policy diff: two policies over one simulated population, each through the real pipeline.

The same world (population, agencies' reports, people's behaviour) is ingested into two stores
and run through the due process under policy A and under policy B; the diff then compares, on
one day, each subject's grade (the batch plan over the store), list entries and measures in
force (the store's ``list_entries`` and ``measures``), and says why: the record kinds whose
points differ between A and B for the subjects that changed (the reference evaluator's
explanation of each).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text

from credence.errors import PolicyError
from credence.policy import library
from credence.policy.load import PolicySet
from credence.sim.lab import LabRun, Progress, make_world, open_store, run_lab
from credence.sim.scenarios import Scenario

IN_FORCE = {
    "list_entries": "SELECT subject_id, list_id FROM list_entries WHERE policy_id = :p "
    "AND entered_on IS NOT NULL AND entered_on <= :d AND (exited_on IS NULL OR exited_on > :d)",
    "measures": "SELECT subject_id, measure_id FROM measures WHERE policy_id = :p "
    "AND in_force_from IS NOT NULL AND in_force_from <= :d AND (until IS NULL OR until > :d)",
}
# Subjects named with their reasons in the result (the counts cover everyone).
NAMED = 50


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


def _in_force(lab: LabRun, day: date) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    out: list[dict[str, set[str]]] = []
    with lab.store.engine.connect() as con:
        for sql in IN_FORCE.values():
            found: dict[str, set[str]] = {}
            for sid, what in con.execute(text(sql), {"p": lab.policy.id, "d": day}).all():
                found.setdefault(sid, set()).add(what)
            out.append(found)
    return out[0], out[1]


def _points_by_kind(lab: LabRun, subjects: list[str], day: date) -> dict[str, Counter[str]]:
    """Each subject's points per record kind on ``day`` (the reference evaluator, as known)."""
    from credence.audit.access import Access
    from credence.engine.reference import evaluate
    from credence.store.reader import inputs_of

    out: dict[str, Counter[str]] = {}
    with lab.store.session() as session:
        inputs = inputs_of(
            session,
            lab.store.keys,
            subjects,
            day,
            access=Access("lab", "operator", "policy diff"),
            policy_id=lab.policy.id,
        )
        for sid in subjects:
            got = inputs[sid]
            a = evaluate(lab.policy, got.records, day, day, subject_id=sid, decisions=got.decisions)
            points: Counter[str] = Counter()
            for c in a.contributions:
                points[c.kind] += c.points
            out[sid] = points
        session.commit()
    return out


def diff_policies(
    a: PolicySet,
    b: PolicySet,
    scenario: Scenario,
    day: date | None = None,
    progress: Progress | None = None,
    *,
    folder: Path | None = None,
    step_days: int = 7,
) -> dict[str, Any]:
    """Who changes grade, list or measure between A and B on ``day`` (default: the last)."""
    from credence.sim.grades import scores_on, store_source

    world = make_world(a, scenario, b)
    on = day or world.end
    with tempfile.TemporaryDirectory(prefix="credence-diff-") as scratch:
        root = folder or Path(scratch)
        labs = [
            run_lab(
                p,
                world,
                open_store(root / tag, None),
                label=f"policy {tag}",
                step_days=step_days,
                progress=progress,
            )
            for tag, p in (("a", a), ("b", b))
        ]
        grades: list[dict[str, str | None]] = []
        scores: list[dict[str, int | None]] = []
        for lab in labs:
            table = scores_on(lab.policy, store_source(lab.store), on)
            ids_ = table.column("subject_id").to_pylist()
            grades.append(dict(zip(ids_, table.column("grade").to_pylist(), strict=True)))
            scores.append(dict(zip(ids_, table.column("score").to_pylist(), strict=True)))
        # Each store keys its subjects with its own secret: compare them by subject number.
        la, ma = _in_force(labs[0], on)
        lb, mb = _in_force(labs[1], on)
        ids_a, ids_b = labs[0].subject_ids, labs[1].subject_ids
        # A subject without records has the base score's grade under each policy.
        base = [_base_grade(p, on) for p in (a, b)]
        moves: Counter[tuple[str, str]] = Counter()
        entered: Counter[str] = Counter()
        left: Counter[str] = Counter()
        gained: Counter[str] = Counter()
        lost: Counter[str] = Counter()
        changed: list[int] = []
        states: dict[int, tuple[Any, ...]] = {}
        deltas: list[int] = []
        base_scores = [_base_score(p, on) for p in (a, b)]
        for i, (sa, sb) in enumerate(zip(ids_a, ids_b, strict=True)):
            ga, gb = grades[0].get(sa, base[0]), grades[1].get(sb, base[1])
            va, vb = scores[0].get(sa, base_scores[0]), scores[1].get(sb, base_scores[1])
            if va is not None and vb is not None and va != vb:
                deltas.append(vb - va)
            xa, xb = la.get(sa, set()), lb.get(sb, set())
            ya, yb = ma.get(sa, set()), mb.get(sb, set())
            if ga != gb:
                moves[(ga or "", gb or "")] += 1
            entered.update(xb - xa)
            left.update(xa - xb)
            gained.update(yb - ya)
            lost.update(ya - yb)
            if (ga, xa, ya) != (gb, xb, yb):
                changed.append(i)
                states[i] = (ga, gb, xa, xb, ya, yb)
        pts_a = _points_by_kind(labs[0], [ids_a[i] for i in changed], on)
        pts_b = _points_by_kind(labs[1], [ids_b[i] for i in changed], on)
        rules: dict[str, list[int]] = {}
        named: list[dict[str, Any]] = []
        for i in changed:
            pa_, pb_ = pts_a[ids_a[i]], pts_b[ids_b[i]]
            why = []
            for kind in sorted(set(pa_) | set(pb_)):
                delta = pb_[kind] - pa_[kind]
                if delta:
                    entry = rules.setdefault(kind, [0, 0])
                    entry[0] += 1
                    entry[1] += delta
                    why.append({"kind": kind, "points_delta": delta})
            if len(named) < NAMED:
                ga, gb, xa, xb, ya, yb = states[i]
                named.append(
                    {
                        "subject": world.population.ids[i],
                        "grade": [ga, gb],
                        "lists": [sorted(xa), sorted(xb)],
                        "measures": [sorted(ya), sorted(yb)],
                        "why": why,
                    }
                )
        for lab in labs:
            lab.store.close()
    return {
        "report": "credence policy diff",
        "a": {"policy": a.id, "version": _version(a, on)},
        "b": {"policy": b.id, "version": _version(b, on)},
        "as_of": on.isoformat(),
        "population": scenario.population,
        "seed": scenario.seed,
        "records": len(world.reported.records),
        "pipeline": "ingest, weekly due process, objections and reviews, in one store per policy",
        "subjects_changed": len(changed),
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
            {"kind": kind, "subjects": n, "points_delta": p}
            for kind, (n, p) in sorted(rules.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ],
        "score_delta": {
            "subjects": len(deltas),
            "min": min(deltas, default=0),
            "max": max(deltas, default=0),
        },
        "subjects": named,
        "tables": ["records", "record_status", "list_entries", "measures"],
    }


def _base_score(policy: PolicySet, day: date) -> int | None:
    version = policy.version_at(day)
    return None if version is None else version.scale.base


def _base_grade(policy: PolicySet, day: date) -> str | None:
    version = policy.version_at(day)
    if version is None or version.scale.base is None:
        return None
    base = version.scale.base
    band = next((g for g in version.grades if g.min <= base <= g.max), None)
    return band.grade if band else None


def _version(policy: PolicySet, day: date) -> str:
    version = policy.version_at(day)
    return version.version if version is not None else ""
