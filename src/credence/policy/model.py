"""The policy language as a pydantic schema (the JSON Schema users see is generated from it).

Structural mistakes (a wrong type, an unknown category, overlapping grade bands) are schema
errors and stop loading. Lawfulness (no legal basis, forbidden data, missing notice or appeal
route) is the linter's job, so that a user sees every refusal with its code at once.
"""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from credence.dates import Duration, parse_duration


def _to_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an ISO-8601 duration string such as P3Y or P30D")
    return parse_duration(value)


DurationField = Annotated[
    Duration,
    BeforeValidator(_to_duration),
    PlainSerializer(str, return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$"}),
]


class Strict(BaseModel):
    """Base: unknown fields are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Direction(StrEnum):
    """Which way the scale points."""

    HIGHER_IS_BETTER = "higher_is_better"
    HIGHER_IS_WORSE = "higher_is_worse"


class CountFrom(StrEnum):
    """Which record date decides from when a record counts."""

    OCCURRED = "occurred"
    EFFECTIVE = "effective"


class Scope(StrEnum):
    """Whose records a rule reads. Only ``self`` is lawful; the rest exist to be refused."""

    SELF = "self"
    FAMILY = "family"
    HOUSEHOLD = "household"
    CONTACTS = "contacts"
    EMPLOYER = "employer"


class Scale(Strict):
    """The score's starting value and bounds."""

    base: int | None = Field(None, description="Starting score (additive model).")
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.min >= self.max:
            raise ValueError(f"scale.min ({self.min}) must be below scale.max ({self.max})")
        if self.base is not None and not self.min <= self.base <= self.max:
            raise ValueError(f"scale.base ({self.base}) must lie within [{self.min}, {self.max}]")
        return self


class Grade(Strict):
    """One band of the scale, both bounds inclusive."""

    grade: str
    min: int
    max: int
    label: str = ""


class Category(Strict):
    """A group of rules whose points are summed and optionally capped."""

    id: str
    label: str = ""
    min: int | None = Field(None, description="Lowest total this category can contribute.")
    max: int | None = Field(None, description="Highest total this category can contribute.")
    weight: int | None = Field(None, ge=1, description="Weight in a `model: weighted` policy.")
    base: int = Field(0, description="Starting value of the dimension (weighted model).")

    @model_validator(mode="after")
    def _cap_ordered(self) -> Category:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"category {self.id}: min ({self.min}) above max ({self.max})")
        return self


class Band(Strict):
    """Points for records whose amount is at least ``at_least`` (up to the next band)."""

    at_least: Decimal
    points: int


class BandedPoints(Strict):
    """Points chosen by the record's ``amount``."""

    bands: list[Band] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _increasing(cls, bands: list[Band]) -> list[Band]:
        bounds = [b.at_least for b in bands]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("bands must be listed with strictly increasing at_least")
        return bands

    def for_amount(self, amount: Decimal) -> int | None:
        """The points of the band holding ``amount``; None below the first band."""
        chosen: int | None = None
        for band in self.bands:
            if amount >= band.at_least:
                chosen = band.points
        return chosen


class Rule(Strict):
    """How one kind of record is scored."""

    kind: str
    category: str
    points: int | BandedPoints
    expires_after: DurationField | None = None
    expiry_from: CountFrom = CountFrom.OCCURRED
    legal_basis: str | None = None
    legal_text: str = Field(
        "", description="The words of the law cited in legal_basis, quoted (the policy book)."
    )
    sources: list[str] = Field(default_factory=list)
    data_category: str
    same_act_group: str | None = None
    scope: Scope = Scope.SELF
    description: str = ""
    title: str = Field("", description="What people read for this kind of record (lint CR012).")

    def point_values(self) -> list[int]:
        """Every value this rule can award."""
        if isinstance(self.points, int):
            return [self.points]
        return [b.points for b in self.points.bands]


class CreditLimit(Strict):
    """At most ``count`` accepted credits of this kind within any window of length ``per``."""

    count: int = Field(ge=1)
    per: DurationField


class ScoreRange(Strict):
    """The scores (as they stand just before the credit) at which a credit may be earned."""

    min: int | None = None
    max: int | None = None


class Credit(Rule):
    """A positive record that counts only within limits (credit repair, rewards)."""

    at_most: CreditLimit | None = None
    score_range: ScoreRange | None = None


class Measure(Strict):
    """A sanction or reward applied to a subject, with its due-process guarantees."""

    id: str
    title: str = ""
    type: Literal["sanction", "reward"] = "sanction"
    domain: str
    legal_basis: str | None = None
    legal_text: str = Field(
        "", description="The words of the law cited in legal_basis, quoted (the policy book)."
    )
    cross_domain_basis: str | None = None
    notice_period: DurationField | None = None
    appeal_route: str | None = None
    duration: DurationField | None = None
    human_review: bool = False
    public: bool = False


class ListEntryCriteria(Strict):
    """When a subject qualifies for a list: a grade, a score bound, or records of given kinds."""

    grades: list[str] | None = None
    score_at_most: int | None = None
    score_at_least: int | None = None
    record_kinds: list[str] | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> ListEntryCriteria:
        given = [
            n
            for n in ("grades", "score_at_most", "score_at_least", "record_kinds")
            if getattr(self, n) is not None
        ]
        if not given:
            raise ValueError(
                "entry needs a condition: grades, score_at_most, score_at_least or record_kinds"
            )
        return self


class Repair(Strict):
    """Early exit from a list once the obligation is fulfilled, after an optional probation."""

    record_kinds: list[str] = Field(min_length=1)
    probation: DurationField | None = None


class ListDef(Strict):
    """A blacklist or redlist."""

    id: str
    title: str = ""
    type: Literal["blacklist", "redlist"] = "blacklist"
    entry: ListEntryCriteria
    notice_period: DurationField | None = None
    duration: DurationField | None = None
    measures: list[str] = Field(default_factory=list)
    repair: Repair | None = None
    public: bool = False
    legal_basis: str | None = None
    legal_text: str = Field(
        "", description="The words of the law cited in legal_basis, quoted (the policy book)."
    )
    appeal_route: str | None = None


class Stage(Strict):
    """One rung of the escalation ladder."""

    id: str
    threshold: int
    notice: bool = True
    measure: str | None = None
    title: str = ""
    legal_basis: str | None = Field(None, description="The provision that sets this stage.")
    legal_text: str = Field(
        "", description="The words of the law cited in legal_basis, quoted (the policy book)."
    )


class Stages(Strict):
    """The escalation ladder, ordered from the mildest to the most severe stage."""

    ladder: list[Stage] = Field(min_length=1)
    require_earlier_notices: bool = True
    on_skip: Literal["hold", "clamp"] = "hold"
    service_lag: DurationField = Duration()


class Contest(Strict):
    """What contesting a record does while the objection is open."""

    suspends: bool = True
    review_period: DurationField = Duration(days=30)
    extension: DurationField = Duration(days=15)


class TestRecord(Strict):
    """A record in an embedded test case; ids and source are filled in when omitted."""

    __test__ = False  # not a pytest test class

    id: str | None = None
    kind: str
    source: str | None = None
    occurred_on: date
    effective_on: date | None = None
    recorded_on: date | None = None
    amount: Decimal | None = None
    status: str = "active"
    status_on: date | None = None


class TestExpect(Strict):
    """What an embedded test case expects; every given field is checked."""

    __test__ = False  # not a pytest test class

    score: int | None = None
    grade: str | None = None
    categories: dict[str, int] | None = None
    counted: list[str] | None = None
    lists: list[str] | None = None
    listed: list[str] | None = None
    stage: str | None = None
    notices_served: list[str] | None = None
    measures_in_force: list[str] | None = None


class TestCase(Strict):
    """An example, like a line of a spec sheet, run by ``credence policy test``."""

    __test__ = False  # not a pytest test class

    name: str
    as_of: date
    known_at: date | None = None
    records: list[TestRecord] = Field(default_factory=list)
    expect: TestExpect


class PolicyVersion(Strict):
    """One version of a policy, in force from ``effective_from``."""

    id: str
    version: str
    title: str = ""
    description: str = ""
    effective_from: date
    count_from: CountFrom = CountFrom.OCCURRED
    direction: Direction = Direction.HIGHER_IS_BETTER
    model: Literal["additive", "weighted"] = "additive"
    scale: Scale
    grades: list[Grade] = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    credits: list[Credit] = Field(default_factory=list)
    measures: list[Measure] = Field(default_factory=list)
    lists: list[ListDef] = Field(default_factory=list)
    stages: Stages | None = None
    contest: Contest = Contest()
    source_names: dict[str, str] = Field(
        default_factory=dict,
        description="The name people read for each kind of source, the part of a record's "
        "source before ':' (lint CR012).",
    )
    tests: list[TestCase] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _consistent(self) -> PolicyVersion:
        problems: list[str] = []
        problems += self._check_grades()
        cat_ids = [c.id for c in self.categories]
        problems += [f"category {c!r} is defined twice" for c in _dupes(cat_ids)]
        all_rules: list[Rule] = [*self.rules, *self.credits]
        problems += [
            f"rule for kind {k!r} is defined twice" for k in _dupes(r.kind for r in all_rules)
        ]
        for rule in all_rules:
            if rule.category not in cat_ids:
                problems.append(
                    f"rule {rule.kind!r}: category {rule.category!r} is not one of {cat_ids}"
                )
        for credit in self.credits:
            if any(p == 0 for p in credit.point_values()):
                problems.append(f"credit {credit.kind!r}: points must not be zero")
            elif not all(self.is_favourable(p) for p in credit.point_values()):
                problems.append(
                    f"credit {credit.kind!r}: a credit must favour the subject "
                    f"({'positive' if self.higher_is_better else 'negative'} points "
                    f"on a {self.direction.value} scale)"
                )
        if self.model == "additive" and self.scale.base is None:
            problems.append("scale.base is required for the additive model")
        if self.model == "weighted":
            for cat in self.categories:
                if cat.weight is None or cat.min is None or cat.max is None:
                    problems.append(
                        f"category {cat.id!r}: the weighted model needs weight, min and max"
                    )
                elif cat.min == cat.max:
                    problems.append(f"category {cat.id!r}: min and max must differ")
        measure_ids = [m.id for m in self.measures]
        problems += [f"measure {m!r} is defined twice" for m in _dupes(measure_ids)]
        problems += [f"list {m!r} is defined twice" for m in _dupes(x.id for x in self.lists)]
        kinds = {r.kind for r in all_rules}
        grade_names = {g.grade for g in self.grades}
        for lst in self.lists:
            for mid in lst.measures:
                if mid not in measure_ids:
                    problems.append(f"list {lst.id!r}: unknown measure {mid!r}")
            for kind in lst.entry.record_kinds or []:
                if kind not in kinds:
                    problems.append(f"list {lst.id!r}: entry kind {kind!r} has no rule")
            for g in lst.entry.grades or []:
                if g not in grade_names:
                    problems.append(f"list {lst.id!r}: unknown grade {g!r}")
            for kind in lst.repair.record_kinds if lst.repair else []:
                if kind not in kinds:
                    problems.append(f"list {lst.id!r}: repair kind {kind!r} has no rule")
        if self.stages is not None:
            problems += self._check_stages(measure_ids)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _check_grades(self) -> list[str]:
        bands = sorted(self.grades, key=lambda g: g.min)
        problems = [f"grade {g!r} is defined twice" for g in _dupes(b.grade for b in bands)]
        for band in bands:
            if band.min > band.max:
                problems.append(f"grade {band.grade!r}: min ({band.min}) above max ({band.max})")
        if bands[0].min != self.scale.min or bands[-1].max != self.scale.max:
            problems.append(
                f"grades must cover the whole scale [{self.scale.min}, {self.scale.max}]; "
                f"they cover [{bands[0].min}, {bands[-1].max}]"
            )
        for low, high in itertools.pairwise(bands):
            if high.min != low.max + 1:
                problems.append(
                    f"grades {low.grade!r} (up to {low.max}) and {high.grade!r} (from {high.min}) "
                    "must meet without gap or overlap"
                )
        return problems

    def _check_stages(self, measure_ids: list[str]) -> list[str]:
        assert self.stages is not None
        problems = [
            f"stage {s!r} is defined twice" for s in _dupes(x.id for x in self.stages.ladder)
        ]
        thresholds = [s.threshold for s in self.stages.ladder]
        ordered = sorted(thresholds, reverse=self.higher_is_better)
        if thresholds != ordered or len(set(thresholds)) != len(thresholds):
            way = "falling" if self.higher_is_better else "rising"
            problems.append(f"stage thresholds must be strictly {way} from the mildest stage")
        for stage in self.stages.ladder:
            if stage.measure is not None and stage.measure not in measure_ids:
                problems.append(f"stage {stage.id!r}: unknown measure {stage.measure!r}")
            if stage.measure is not None and not stage.notice:
                problems.append(
                    f"stage {stage.id!r}: a stage with a measure must serve a notice first"
                )
        return problems

    @property
    def higher_is_better(self) -> bool:
        """True on a merit scale."""
        return self.direction is Direction.HIGHER_IS_BETTER

    def is_favourable(self, points: int) -> bool:
        """True when ``points`` help the subject on this policy's scale."""
        return points > 0 if self.higher_is_better else points < 0

    def better(self, a: int, b: int) -> int:
        """The value of ``a`` and ``b`` that is better for the subject."""
        return max(a, b) if self.higher_is_better else min(a, b)

    def grade_for(self, score: int) -> str:
        """The grade whose band holds ``score``."""
        for band in self.grades:
            if band.min <= score <= band.max:
                return band.grade
        raise ValueError(f"score {score} lies outside every grade band")

    def rule_for(self, kind: str) -> Rule | None:
        """The rule or credit for a record kind, if this version has one."""
        for rule in (*self.rules, *self.credits):
            if rule.kind == kind:
                return rule
        return None

    def category(self, cat_id: str) -> Category:
        """The category with this id."""
        return next(c for c in self.categories if c.id == cat_id)

    def measure(self, measure_id: str) -> Measure:
        """The measure with this id."""
        return next(m for m in self.measures if m.id == measure_id)


def _dupes(items: Any) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item in seen and item not in out:
            out.append(item)
        seen.add(item)
    return out
