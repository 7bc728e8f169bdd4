"""The simulator's stepwise scorer agrees with the reference evaluator, day by day."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from credence.engine.reference import evaluate
from credence.policy import library
from credence.records import Record
from credence.sim.agencies import at, end_of_run, report
from credence.sim.population import PopulationSpec, generate_population
from credence.sim.scenarios import Behaviour, Faults, Scenario
from credence.sim.scoring import Scorer, score_population

FAULTY = Scenario(
    population=400,
    years=2,
    seed=7,
    faults=Faults(false_rate=0.05, wrong_person_rate=0.02, duplicate_rate=0.05, late_rate=0.2),
    behaviour=Behaviour(spontaneous_rate=0.5),
    chronic_factor=20.0,
)


def _subjects(name: str, limit: int) -> tuple[list[list[Record]], date, date]:
    policy = library.resolve(name)
    population = generate_population(PopulationSpec(FAULTY.population), FAULTY.seed)
    reported = report(policy, population, FAULTY)
    by_subject: dict[str, list[Record]] = {}
    for r in reported.records:
        by_subject.setdefault(r.subject_id, []).append(r)
    start = FAULTY.start_for(policy)
    # The subjects with the most records are where the rules interact.
    busy = [rs for rs in by_subject.values() if len(rs) <= 10]
    chosen = sorted(busy, key=lambda rs: (-len(rs), rs[0].subject_id))[:limit]
    repair = [
        k for v in policy.versions for lst in v.lists if lst.repair for k in lst.repair.record_kinds
    ]
    if repair:  # the obligation fulfilled: repair records take subjects off their lists
        rng = random.Random(name)
        for n, records in enumerate(chosen[::2]):
            day = start + timedelta(days=rng.randrange(600))
            rid = f"fix{n}"
            records.append(
                Record(rid, "court", rid, records[0].subject_id, repair[0], day, day, at(day))
            )
    return chosen, start, end_of_run(start, FAULTY.years)


@pytest.mark.parametrize(
    ("name", "limit", "days"),
    [
        ("city-merit", 30, 10),
        ("commercial-score", 15, 8),
        ("court-debtor-list", 12, 6),
        ("credit-reporting", 20, 8),
        ("licence-demerit", 10, 6),
        ("licence-points-ny", 6, 5),
    ],
)
def test_timeline_matches_reference(name: str, limit: int, days: int) -> None:
    policy = library.resolve(name)
    scorer = Scorer(policy)
    subjects, start, end = _subjects(name, limit)
    rng = random.Random(name)
    checked = 0
    for records in subjects:
        timeline = scorer.timeline(records, end)
        probes = {end} | {
            start + timedelta(days=rng.randrange((end - start).days)) for _ in range(days)
        }
        # Probe the days on which something happens too, and the day before each.
        for r in records[:4]:
            probes |= {
                r.recorded_at.date(),
                r.effective_on,
                r.recorded_at.date() - timedelta(days=1),
            }
        for day in sorted(d for d in probes if start <= d <= end):
            a = evaluate(policy, records, day, day)
            state = timeline.at(day) or scorer.base_state(day)
            met = {s.list_id for s in a.lists if s.criteria_met}
            assert (state.score, state.grade, set(state.lists)) == (a.score, a.grade, met), (
                name,
                records[0].subject_id,
                day,
            )
            checked += 1
    assert checked > limit


def test_score_population_matches_reference_when_known_later() -> None:
    policy = library.resolve("city-merit")
    subjects, _start, end = _subjects("city-merit", 10)
    by_id = {rs[0].subject_id: rs for rs in subjects}
    as_of = end - timedelta(days=200)
    now = score_population(policy, by_id, as_of)
    later = score_population(policy, by_id, as_of, end)
    for sid, records in by_id.items():
        assert now[sid].score == evaluate(policy, records, as_of, as_of).score
        assert later[sid].score == evaluate(policy, records, as_of, end).score
