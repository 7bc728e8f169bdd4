"""The policy language as a pydantic schema (the JSON Schema users see is generated from it).

Structural mistakes (a wrong type, an unknown category, overlapping grade bands) are schema
errors and stop loading. Lawfulness (no legal basis, forbidden data, missing notice or appeal
route) is the linter's job, so that a user sees every refusal with its code at once.
"""

from __future__ import annotations

import itertools
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from credence.calendars import Calendar, check_jurisdiction
from credence.dates import Duration, Period, Rounding, parse_duration


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


@dataclass(frozen=True)
class _Counting:
    """How the version being read counts days (its ``calendar``), bound into its periods."""

    calendar: Calendar = field(default_factory=Calendar)
    round: Rounding | None = None
    next_working_day: bool = False


# Set while a PolicyVersion is validated, so that every period of the version is built with the
# version's calendar and rounding: a period means one thing wherever it is read.
_COUNTING: ContextVar[_Counting | None] = ContextVar("credence_counting", default=None)
_PERIOD_KEYS = ("steps", "working_days", "round", "next_working_day")


def _to_period(value: Any, *, deadline: bool) -> Period:
    if isinstance(value, Period):
        return value
    counting = _COUNTING.get() or _Counting()
    if isinstance(value, Duration | str):
        value = {"steps": [str(value)]}
    if not isinstance(value, dict):
        raise ValueError(
            "expected an ISO-8601 duration such as P30D, or a mapping with steps, "
            "working_days, round and next_working_day"
        )
    unknown = sorted(str(k) for k in value if k not in _PERIOD_KEYS)
    if unknown:
        raise ValueError(f"unknown period key(s) {unknown}; a period has {list(_PERIOD_KEYS)}")
    raw_steps = value.get("steps", [])
    if not isinstance(raw_steps, list) or not all(isinstance(x, str) for x in raw_steps):
        raise ValueError("steps: expected a list of ISO-8601 durations such as [P180D, P7Y]")
    steps = tuple(parse_duration(x) for x in raw_steps)
    working = value.get("working_days", 0)
    if isinstance(working, bool) or not isinstance(working, int) or working < 0:
        raise ValueError(f"working_days: expected a whole number of days, got {working!r}")
    rounding = value.get("round", counting.round)
    if rounding not in (None, "down", "up"):
        raise ValueError(f"round: expected down or up, got {rounding!r}")
    move = value.get("next_working_day", counting.next_working_day if deadline else False)
    if not isinstance(move, bool):
        raise ValueError(f"next_working_day: expected true or false, got {move!r}")
    if not deadline and (working or value.get("next_working_day")):
        raise ValueError(
            "this period counts calendar days: working_days and next_working_day are for "
            "deadlines (notice, review and repair periods)"
        )
    if not steps and not working:
        raise ValueError("a period needs steps (ISO-8601 durations) or working_days")
    return Period(
        sum(x.years for x in steps),
        sum(x.months for x in steps),
        sum(x.days for x in steps),
        steps=steps if len(steps) > 1 else (),
        working_days=working,
        round=rounding,
        next_working_day=move,
        calendar=counting.calendar if working or move else None,
    )


def _period_text(period: Period) -> str | dict[str, Any]:
    if not (period.steps or period.working_days or period.next_working_day or period.round):
        return str(period)
    out: dict[str, Any] = {"steps": [str(s) for s in period.ordered]} if period.ordered else {}
    if period.working_days:
        out["working_days"] = period.working_days
    if period.round:
        out["round"] = period.round
    if period.next_working_day:
        out["next_working_day"] = True
    return out


_PERIOD_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$"},
        {
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {"type": "string"}},
                "working_days": {"type": "integer", "minimum": 0},
                "round": {"enum": ["down", "up"]},
                "next_working_day": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    ]
}


def _span(value: Any) -> Period:
    return _to_period(value, deadline=False)


def _deadline(value: Any) -> Period:
    return _to_period(value, deadline=True)


SpanField = Annotated[
    Period,
    BeforeValidator(_span),
    PlainSerializer(_period_text),
    WithJsonSchema(_PERIOD_SCHEMA),
]
"""A period in calendar days (an expiry, a listing's or a measure's duration)."""

DeadlineField = Annotated[
    Period,
    BeforeValidator(_deadline),
    PlainSerializer(_period_text),
    WithJsonSchema(_PERIOD_SCHEMA),
]
"""A period that ends in a deadline: calendar or working days, moved off a day off if told."""


class CalendarSpec(BaseModel):
    """How a version counts days: a jurisdiction's holidays, extra days off, date rounding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: str | None = Field(
        None, description="Jurisdiction of the holiday calendar: DE, US, CN, or DE-BY."
    )
    days_off: list[date] = Field(default_factory=list, description="Extra days off.")
    round: Rounding | None = Field(
        None, description="Month and year steps onto a missing day: down or up."
    )
    next_working_day: bool = Field(
        False, description="A deadline on a day off moves to the next working day."
    )

    @field_validator("holidays")
    @classmethod
    def _known(cls, code: str | None) -> str | None:
        return None if code is None else check_jurisdiction(code)

    def counting(self) -> _Counting:
        """What the version's periods are built with."""
        cal = Calendar(self.holidays, frozenset(self.days_off))
        return _Counting(cal, self.round, self.next_working_day)


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


class PerUnitPoints(Strict):
    """Points for every whole ``per`` of the record's ``amount``, up to an optional ``cap``."""

    each: int = Field(description="Points for each whole unit of the amount (not 0).")
    per: Decimal = Field(gt=0, description="The amount that makes one unit (for example 1 month).")
    cap: int | None = Field(
        None, description="The most one record can award, with the sign of ``each``."
    )

    @model_validator(mode="after")
    def _signed(self) -> PerUnitPoints:
        if self.each == 0:
            raise ValueError("each must not be 0")
        if self.cap is not None and (
            (self.cap > 0) != (self.each > 0) or abs(self.cap) < abs(self.each)
        ):
            raise ValueError(
                f"cap ({self.cap}) must have the sign of each ({self.each}) and be at least "
                "as large"
            )
        return self

    def units(self, amount: Decimal) -> int:
        """The whole units in ``amount`` (0 for an amount below one unit or negative)."""
        with localcontext() as ctx:
            ctx.prec = 80
            return max(0, int(amount // self.per))

    @property
    def bounds(self) -> tuple[int, ...]:
        """The first unit's value and the cap, which bound every other value (0 below one
        unit)."""
        return (self.each,) if self.cap is None else (self.each, self.cap)

    def amount_for(self, points: int) -> Decimal:
        """The smallest amount whose whole units bring at least ``points`` (in size)."""
        return self.per * -(-abs(points) // abs(self.each))

    def for_amount(self, amount: Decimal) -> int:
        """``each`` times the whole units in ``amount``, held to ``cap``."""
        points = self.units(amount) * self.each
        if self.cap is None:
            return points
        return max(points, self.cap) if self.each < 0 else min(points, self.cap)


class Rule(Strict):
    """How one kind of record is scored."""

    kind: str
    category: str
    points: int | BandedPoints | PerUnitPoints
    expires_after: SpanField | None = None
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
    reason: str = Field(
        "",
        description="The plain-language sentence a notice gives when this record is a principal "
        "reason; it must name the conduct (lint CR011).",
    )
    reason_code: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The stable reason code (default: the record kind).",
    )
    title: str = Field("", description="What people read for this kind of record (lint CR012).")

    def point_values(self) -> list[int]:
        """Every value this rule can award (points per unit: the values that bound them)."""
        if isinstance(self.points, int):
            return [self.points]
        if isinstance(self.points, PerUnitPoints):
            return list(self.points.bounds)
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
    notice_period: DeadlineField | None = None
    appeal_route: str | None = None
    duration: SpanField | None = None
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
    probation: DeadlineField | None = None


class ListDef(Strict):
    """A blacklist or redlist."""

    id: str
    title: str = ""
    type: Literal["blacklist", "redlist"] = "blacklist"
    entry: ListEntryCriteria
    notice_period: DeadlineField | None = None
    duration: SpanField | None = None
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
    # Factories, not values: built while the version is read, with the version's calendar.
    review_period: DeadlineField = Field(default_factory=lambda: _deadline("P30D"))
    extension: DeadlineField = Field(default_factory=lambda: _deadline("P15D"))


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
    contest: Contest = Field(default_factory=Contest)
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    source_names: dict[str, str] = Field(
        default_factory=dict,
        description="The name people read for each kind of source, the part of a record's "
        "source before ':' (lint CR012).",
    )
    dictionary: str | None = Field(
        None, description="The code dictionary (scheme family) the record kinds come from."
    )
    tests: list[TestCase] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _with_calendar(cls, data: Any, handler: ModelWrapValidatorHandler[PolicyVersion]) -> Any:
        # The calendar is read first so that every period of this version is built with it.
        counting = _Counting()
        if isinstance(data, dict) and data.get("calendar") is not None:
            # An invalid calendar is reported where it is, by the field's own validation.
            with suppress(ValueError):
                counting = CalendarSpec.model_validate(data["calendar"]).counting()
        token = _COUNTING.set(counting)
        try:
            return handler(data)
        finally:
            _COUNTING.reset(token)

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
