"""Scenarios: how long a run lasts, how people behave, and how agencies get things wrong.

A scenario is plain data. Conduct rates are per subject-year for an *occasional* offender
(chronic offenders commit adverse acts ``chronic_factor`` times as often; law-abiding people
never do). Rates for the bundled policies' kinds are set by hand below; any other kind gets a
rate from its severity, so that every policy can be simulated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from credence.policy.load import PolicySet
from credence.policy.model import Credit, PerUnitPoints, PolicyVersion, Rule


@dataclass(frozen=True)
class Faults:
    """Data errors of the reporting agencies; every rate is a share of true reports."""

    false_rate: float = 0.005  # a report of an act that never happened, on a random subject
    wrong_person_rate: float = 0.003  # (actor, agency) pairs whose file is mixed up with a namesake
    duplicate_rate: float = 0.002  # the same act reported twice under two source ids
    late_rate: float = 0.05  # reports that arrive 2 to 12 months late

    @classmethod
    def from_error_rate(cls, rate: float, late_rate: float = 0.05) -> Faults:
        """Split one overall error rate: half false, 30% wrong person, 20% duplicates."""
        return cls(rate * 0.5, rate * 0.3, rate * 0.2, late_rate)

    @property
    def error_rate(self) -> float:
        """The share of reports whose content is wrong (late reports are right, only late)."""
        return self.false_rate + self.wrong_person_rate + self.duplicate_rate


@dataclass(frozen=True)
class Injection:
    """A botched bulk import: ``records_each`` false ``kind`` records on each of ``subjects``.

    The subjects are chosen among law-abiding people, so every resulting listing is false.
    """

    kind: str
    subjects: int
    records_each: int = 1
    on: date | None = None  # default: a quarter into the run


@dataclass(frozen=True)
class Behaviour:
    """How subjects respond to the system."""

    objection_rate: float = 0.6  # objects to a wrong record once a notice or listing shows it
    frivolous_rate: float = 0.03  # objects to a true record once warned (the objection is upheld)
    spontaneous_rate: float = 0.1  # finds and contests a wrong record with no notice at all
    objection_delay_days: int = 1  # files at the earliest this many days after being warned
    objection_window_days: int = 60  # and at the latest this many
    deterrence: float = 0.5  # share of a rectifier's future adverse acts that never happen
    review_lag_days: int = 7  # a reviewer signs off a measure needing human review this late
    review_accuracy: float = 0.95  # share of reviewers' decisions that are right
    review_delay_days: tuple[int, int] = (5, 40)  # days from filing an objection to its decision


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs besides the policy; the same scenario always gives the same run."""

    population: int = 10_000
    years: int = 5
    seed: int = 1
    start: date | None = None  # default: the policy's first version's effective_from
    faults: Faults = field(default_factory=Faults)
    behaviour: Behaviour = field(default_factory=Behaviour)
    injections: tuple[Injection, ...] = ()
    chronic_factor: float = 12.0
    organisation_share: float = 0.05

    def start_for(self, policy: PolicySet) -> date:
        """The first simulated day."""
        return self.start or policy.versions[0].effective_from


@dataclass(frozen=True)
class Conduct:
    """How often a record kind happens and how its reports look."""

    kind: str
    rate: float  # per subject-year (occasional offenders, or civic people for positive kinds)
    adverse: bool
    rectifiable: bool  # an unmet obligation that the subject can fulfil when warned
    organisations: bool  # organisations can commit it
    final_lag: tuple[int, int]  # days from the act until the decision is final
    amount_median: float | None = None  # for banded rules


# Hand-set rates for the bundled schemes' kinds (per occasional offender or civic person-year).
RATES: dict[str, float] = {
    "civic.traffic_violation": 0.25,
    "civic.traffic_serious": 0.04,
    "civic.award": 0.03,
    "civic.volunteering": 0.6,
    "financial.tax_arrears": 0.06,
    "financial.utility_arrears": 0.12,
    "financial.loan_default": 0.015,
    "legal.admin_penalty": 0.05,
    "legal.judgment_unfulfilled": 0.012,
    "traffic.offence_minor": 0.30,
    "traffic.offence_serious": 0.08,
    "traffic.offence_criminal": 0.01,
    "course.aptitude_seminar": 0.0,  # only taken after a warning
}
_RECTIFIABLE = re.compile(
    r"arrears|default|unfulfilled|unpaid|overdue|debt|refuses|late_payment|collection|charge_off|"
    r"breaches_settlement|lien"
)
_PERSONAL = frozenset({"traffic", "civic"})


def conduct_table(policy: PolicySet, *more: PolicySet) -> list[Conduct]:
    """The conduct of every kind some version of the policies scores, in a stable order."""
    rules: dict[str, tuple[Rule, PolicyVersion]] = {}
    versions = [v for p in (policy, *more) for v in p.versions]
    for version in versions:
        for rule in (*version.rules, *version.credits):
            rules.setdefault(rule.kind, (rule, version))
    repair = {k for v in versions for lst in v.lists if lst.repair for k in lst.repair.record_kinds}
    adverse_sizes = [
        abs(p)
        for rule, v in rules.values()
        for p in rule.point_values()
        if p and not v.is_favourable(p)
    ]
    smallest = min(adverse_sizes, default=1)
    out = []
    for kind in sorted(rules):
        rule, version = rules[kind]
        points = [p for p in rule.point_values() if p]
        if not points or kind in repair:
            continue  # zero-point records (repair, facts) happen only in response to the system
        typical = sorted(abs(p) for p in points)[len(points) // 2]
        adverse = not version.is_favourable(points[0])
        if kind in RATES:
            rate = RATES[kind]
        elif adverse:
            rate = 0.25 * (smallest / typical) ** 1.2
        else:
            rate = 0.0 if isinstance(rule, Credit) and rule.score_range else 0.4
        median = None
        if isinstance(rule.points, PerUnitPoints):
            median = float(rule.points.per) * 3  # a typical record: a few units
        elif not isinstance(rule.points, int):
            bounds = [float(b.at_least) for b in rule.points.bands]
            median = max(bounds[1] if len(bounds) > 1 else bounds[0], 1.0)
        judicial = rule.data_category == "judicial"
        out.append(
            Conduct(
                kind=kind,
                rate=rate,
                adverse=adverse,
                rectifiable=adverse and bool(_RECTIFIABLE.search(kind)),
                organisations=rule.data_category not in _PERSONAL,
                final_lag=(20, 120) if judicial else (0, 0),
                amount_median=median,
            )
        )
    return out
