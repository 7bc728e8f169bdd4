"""Reporting agencies: true acts become records, with the faults a scenario configures.

Every record carries a ground-truth label kept beside it (never in the record): ``false`` (the
act never happened), ``wrong_person`` (a mixed-up file: the act of a namesake), ``duplicate``
(one act reported twice) or ``injected`` (a botched bulk import). Late reports are true and
labelled only by their lag.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from credence.policy.load import PolicySet
from credence.records import Record, Status, StatusChange
from credence.sim.population import ORGANISATION, Population
from credence.sim.scenarios import Conduct, Injection, Scenario, conduct_table

_REPORTED = time(9, 0)
_DAYS = [timedelta(days=k) for k in range(400)]
_DECIDED = time(10, 0)


@dataclass
class Reported:
    """What the agencies reported, with the ground truth beside it."""

    records: list[Record]
    faults: dict[str, str]  # record id → fault label (true records are absent)
    adverse_acts: list[int]  # per subject: adverse acts they really committed
    late: int
    conduct: dict[str, Conduct] = field(default_factory=dict)
    subject_of: dict[str, int] = field(default_factory=dict)  # record id → subject number


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (normal approximation for large means, which is all a simulation needs)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def at(day: date, clock: time = _REPORTED) -> datetime:
    """A UTC instant on ``day``."""
    return datetime.combine(day, clock, tzinfo=UTC)


def report(
    policy: PolicySet, population: Population, scenario: Scenario, *more: PolicySet
) -> Reported:
    """Generate every act of the run and the records the agencies file about them.

    Acts of every kind that ``policy`` (or one of ``more``) scores are generated.
    """
    rng = random.Random(f"agencies:{scenario.seed}")
    start = scenario.start_for(policy)
    end = end_of_run(start, scenario.years)
    span = (end - start).days + 1
    n = len(population)
    rand = rng.random  # int(rand() * k) rather than randrange: this loop runs per record
    days = [start + timedelta(days=k) for k in range(span)]
    conducts = [c for c in conduct_table(policy, *more) if c.rate > 0]
    sources = _sources(policy, *more)
    faults = scenario.faults
    mixed = _mixed_files(rng, n, sorted(set(sources.values())), faults.wrong_person_rate)
    review = policy.latest.contest.review_period.days or 30
    acts: list[tuple[date, int, str, Decimal | None, str]] = []  # day, subject, kind, amount, fault
    adverse_acts = [0] * n
    for c in conducts:
        cum = _cum_weights(population, c, scenario.chronic_factor)
        if not cum or cum[-1] <= 0:
            continue
        count = poisson(rng, c.rate * scenario.years * cum[-1])
        who = rng.choices(range(n), cum_weights=cum, k=count)
        for person in who:
            day = days[int(rand() * span)]
            amount = _amount(rng, c)
            subject, fault = person, ""
            if c.adverse:
                adverse_acts[person] += 1
                namesake = mixed.get((sources[c.kind], person))
                if namesake is not None:
                    subject, fault = namesake, "wrong_person"
            acts.append((day, subject, c.kind, amount, fault))
            if c.adverse and rng.random() < faults.duplicate_rate:
                acts.append((day, subject, c.kind, amount, fault or "duplicate"))
        if c.adverse:
            eligible = [
                i for i in range(n) if c.organisations or population.kinds[i] != ORGANISATION
            ]
            for _ in range(poisson(rng, count * faults.false_rate)):
                day = days[int(rand() * span)]
                acts.append((day, rng.choice(eligible), c.kind, _amount(rng, c), "false"))
    for inj in scenario.injections:
        acts += _inject(rng, policy, population, adverse_acts, inj, start, span)
    # A stable order makes record ids (and so every later tie-break) reproducible.
    acts.sort(key=lambda a: (a[0], a[1], a[2], a[4]))
    records: list[Record] = []
    labels: dict[str, str] = {}
    subject_of: dict[str, int] = {}
    late = 0
    by_kind = {c.kind: c for c in conduct_table(policy, *more)}
    behaviour = scenario.behaviour
    for seq, (day, subject, kind, amount, fault) in enumerate(acts, start=1):
        c = by_kind[kind]
        lo, hi = c.final_lag
        effective = day + _DAYS[lo + int(rand() * (hi - lo + 1))] if hi else day
        lag = 1 + int(rand() * 14)
        if rng.random() < faults.late_rate:
            lag += rng.randint(60, 365)
            late += 1
        recorded = effective + (_DAYS[lag] if lag < len(_DAYS) else timedelta(days=lag))
        history: tuple[StatusChange, ...] = ()
        if fault and c.adverse and rng.random() < behaviour.spontaneous_rate:
            filed = recorded + timedelta(days=rng.randint(14, 180))
            decided = filed + timedelta(days=rng.randint(10, review))
            history = (
                StatusChange(Status.CONTESTED, at(filed, _DECIDED)),
                StatusChange(Status.OVERTURNED, at(decided, _DECIDED)),
            )
        rid = f"r{seq:08d}"
        source = sources[kind]
        records.append(
            Record(
                record_id=rid,
                source=source,
                source_record_id=f"{source}-{seq:08d}",
                subject_id=population.ids[subject],
                kind=kind,
                occurred_on=day,
                effective_on=effective,
                recorded_at=at(recorded),
                amount=amount,
                evidence_ref=f"sim://{source}/{seq}",
                history=history,
            )
        )
        subject_of[rid] = subject
        if fault:
            labels[rid] = fault
    return Reported(records, labels, adverse_acts, late, by_kind, subject_of)


def end_of_run(start: date, years: int) -> date:
    """The last simulated day: the day before the ``years``-th anniversary of ``start``."""
    try:
        return start.replace(year=start.year + years) - timedelta(days=1)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def _sources(*policies: PolicySet) -> dict[str, str]:
    out: dict[str, str] = {}
    for version in (v for p in policies for v in p.versions):
        for rule in (*version.rules, *version.credits):
            out.setdefault(rule.kind, rule.sources[0] if rule.sources else "agency")
    return out


def _mixed_files(
    rng: random.Random, n: int, sources: list[str], rate: float
) -> dict[tuple[str, int], int]:
    """(agency, actor) → namesake: the agency files the actor's acts on the namesake."""
    out: dict[tuple[str, int], int] = {}
    if n < 2:
        return out
    for source in sources:
        for _ in range(poisson(rng, n * rate)):
            actor = rng.randrange(n)
            namesake = rng.randrange(n - 1)
            out[(source, actor)] = namesake + (namesake >= actor)
    return out


def _cum_weights(population: Population, c: Conduct, chronic: float) -> list[float]:
    if c.adverse:
        by_segment = (0.0, 1.0, chronic)
        weights = [by_segment[s] for s in population.segments]
    else:
        weights = [1.0 if civic else 0.05 for civic in population.civic]
    if not c.organisations:
        weights = [
            0.0 if k == ORGANISATION else w for w, k in zip(weights, population.kinds, strict=True)
        ]
    cum: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    return cum


def _amount(rng: random.Random, c: Conduct) -> Decimal | None:
    if c.amount_median is None:
        return None
    return Decimal(max(1, round(c.amount_median * math.exp(rng.gauss(0.0, 1.0)))))


def _inject(
    rng: random.Random,
    policy: PolicySet,
    population: Population,
    adverse_acts: list[int],
    inj: Injection,
    start: date,
    span: int,
) -> list[tuple[date, int, str, Decimal | None, str]]:
    clean = [i for i, s in enumerate(population.segments) if s == 0 and adverse_acts[i] == 0]
    chosen = rng.sample(clean, min(inj.subjects, len(clean)))
    on = inj.on or start + timedelta(days=span // 4)
    by_kind = {c.kind: c for c in conduct_table(policy)}
    if inj.kind not in by_kind:
        raise ValueError(f"injection kind {inj.kind!r} is not scored by policy {policy.id}")
    out = []
    for subject in sorted(chosen):
        for j in range(inj.records_each):
            amount = _amount(rng, by_kind[inj.kind])
            out.append((on - timedelta(days=j), subject, inj.kind, amount, "injected"))
    return out
