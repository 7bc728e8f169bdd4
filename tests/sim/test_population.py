"""The synthetic population and the agencies' faults, with exact counts for a fixed seed."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from credence.policy import library
from credence.sim.agencies import end_of_run, poisson, report
from credence.sim.population import PopulationSpec, generate_population
from credence.sim.scenarios import Faults, Injection, Scenario, conduct_table

CITY = library.resolve("city-merit")


def test_population_has_exact_counts_for_a_seed() -> None:
    pop = generate_population(PopulationSpec(1000), 42)
    assert len(pop) == 1000
    assert Counter(pop.kinds) == {"person": 950, "organisation": 50}
    assert Counter(pop.segments) == {0: 548, 1: 415, 2: 37}
    assert Counter(pop.regions).most_common(1) == [(0, 180)]
    assert (sum(pop.civic), sum(pop.rectifies)) == (317, 424)
    assert len({h for h in pop.households if h >= 0}) == 403
    assert pop.ids[0] == "sim-p0000000" and pop.ids[-1] == "sim-o0000999"
    assert pop.households[-1] == -1 and pop.age_bands[-1] == len(pop.band_names) - 1


def test_population_depends_only_on_the_seed() -> None:
    assert generate_population(PopulationSpec(500), 1) == generate_population(
        PopulationSpec(500), 1
    )
    assert generate_population(PopulationSpec(500), 1) != generate_population(
        PopulationSpec(500), 2
    )


def test_law_abiding_people_commit_no_adverse_acts() -> None:
    pop = generate_population(PopulationSpec(1000), 42)
    rep = report(CITY, pop, Scenario(population=1000, years=2, seed=42, faults=Faults(0, 0, 0, 0)))
    assert all(rep.adverse_acts[i] == 0 for i, s in enumerate(pop.segments) if s == 0)
    assert rep.faults == {} and rep.late == 0


def test_fault_injection_has_exact_counts_for_a_seed() -> None:
    pop = generate_population(PopulationSpec(1000), 42)
    faults = Faults(false_rate=0.05, wrong_person_rate=0.02, duplicate_rate=0.03, late_rate=0.1)
    rep = report(CITY, pop, Scenario(population=1000, years=2, seed=42, faults=faults))
    assert len(rep.records) == 1401
    assert Counter(rep.faults.values()) == {"false": 43, "wrong_person": 22, "duplicate": 19}
    assert rep.late == 120
    assert sum(rep.adverse_acts) == 894
    clean = Scenario(population=1000, years=2, seed=42, faults=Faults(0, 0, 0, 0))
    assert len(report(CITY, pop, clean).records) == 1348


def test_wrong_person_records_land_on_someone_else() -> None:
    pop = generate_population(PopulationSpec(1000), 42)
    faults = Faults(false_rate=0, wrong_person_rate=0.05, duplicate_rate=0, late_rate=0)
    rep = report(CITY, pop, Scenario(population=1000, years=2, seed=42, faults=faults))
    mixed = [r for r in rep.records if rep.faults.get(r.record_id) == "wrong_person"]
    assert mixed
    for r in mixed:
        assert rep.conduct[r.kind].adverse


def test_injected_records_hit_only_clean_people() -> None:
    pop = generate_population(PopulationSpec(1000), 42)
    inj = Injection("legal.judgment_unfulfilled", subjects=7, records_each=3, on=date(2026, 6, 1))
    rep = report(CITY, pop, Scenario(population=1000, years=2, seed=42, injections=(inj,)))
    injected = [r for r in rep.records if rep.faults.get(r.record_id) == "injected"]
    assert len(injected) == 21
    assert {r.occurred_on for r in injected} == {
        date(2026, 6, 1),
        date(2026, 5, 31),
        date(2026, 5, 30),
    }
    for r in injected:
        i = rep.subject_of[r.record_id]
        assert pop.segments[i] == 0 and rep.adverse_acts[i] == 0


def test_injection_of_an_unscored_kind_is_refused() -> None:
    pop = generate_population(PopulationSpec(100), 1)
    with pytest.raises(ValueError, match="not scored"):
        report(CITY, pop, Scenario(population=100, injections=(Injection("no.such", 1),)))


def test_conduct_table_covers_every_scored_kind_but_repair_records() -> None:
    court = library.resolve("court-debtor-list")
    kinds = {c.kind for c in conduct_table(court)}
    assert "court.obligation_performed" not in kinds
    assert "court.refuses_despite_ability" in kinds
    assert {c.kind for c in conduct_table(CITY)} == CITY.all_kinds


def test_helpers() -> None:
    assert end_of_run(date(2026, 1, 1), 5) == date(2030, 12, 31)
    assert end_of_run(date(2024, 2, 29), 1) == date(2025, 2, 28)
    import random

    rng = random.Random(1)
    assert poisson(rng, 0) == 0
    draws = [poisson(rng, 4.0) for _ in range(2000)]
    assert 3.8 < sum(draws) / len(draws) < 4.2
    assert 9500 < poisson(rng, 10_000) < 10_500
