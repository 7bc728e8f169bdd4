"""What an evaluation returns: the score and everything needed to explain and contest it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from credence.states import ListingOutcome, ListingStatus, MeasureStatus, NoticeStatus


@dataclass(frozen=True)
class Contribution:
    """Points one record adds to a category, with everything needed to check them."""

    record_id: str
    kind: str
    source: str
    category: str
    points: int
    rule_version: str
    legal_basis: str | None
    occurred_on: date
    effective_on: date
    expires_on: date | None
    lex_mitior: bool = False
    note: str = ""


@dataclass(frozen=True)
class Adjustment:
    """Points added or removed by a cap, the scale's bounds or a stage clamp."""

    type: str  # "category_cap" | "scale_clamp" | "stage_clamp"
    points: int
    reason: str
    category: str | None = None
    expires_on: date | None = None


@dataclass(frozen=True)
class NotCounted:
    """A record of the subject that does not count at the evaluation date, and why."""

    record_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class CategoryTotal:
    """One category's sum before and after its cap (and its normalised value if weighted)."""

    category: str
    raw: int
    total: int
    normalised: str | None = None


@dataclass(frozen=True)
class ListStatus:
    """Whether the subject meets a list's entry criteria, with the evidence."""

    list_id: str
    type: str
    criteria_met: bool
    evidence: tuple[str, ...] = ()
    repaired_by: str | None = None


@dataclass(frozen=True)
class ListMeasureState:
    """A measure that a listing carries, and where it stands."""

    measure: str
    status: MeasureStatus
    in_force_from: date | None
    until: date | None
    human_review: bool = False


@dataclass(frozen=True)
class ListingState:
    """One listing episode: notice, listing, removal, with the reason and the measures."""

    key: str
    list_id: str
    type: str
    status: ListingStatus
    noticed_on: date | None
    served_on: date | None
    deadline: date | None
    listed_on: date | None
    until: date | None
    removed_on: date | None
    reason: str
    evidence: tuple[str, ...]
    measures: tuple[ListMeasureState, ...] = ()
    outcome: ListingOutcome | None = None  # how the episode ended, once it has


@dataclass(frozen=True)
class NoticeState:
    """A notice on the escalation ladder and where it stands at the evaluation date."""

    key: str
    stage: str
    issued_on: date
    served_on: date | None
    status: NoticeStatus
    deadline: date | None = None
    closed_on: date | None = None


@dataclass(frozen=True)
class MeasureState:
    """A measure attached to a stage and where it stands at the evaluation date."""

    key: str
    measure: str
    stage: str
    due_on: date
    status: MeasureStatus
    in_force_from: date | None = None
    until: date | None = None
    human_review: bool = False


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened on the subject's escalation timeline."""

    on: date
    event: str
    detail: str


@dataclass(frozen=True)
class StageState:
    """Stage reached by the score, stage in effect (notices served), and their history."""

    reached: str | None
    effective: str | None
    notices: tuple[NoticeState, ...] = ()
    measures: tuple[MeasureState, ...] = ()
    events: tuple[TimelineEvent, ...] = ()


@dataclass(frozen=True)
class ChangeAhead:
    """A date after the evaluation on which the score changes with no new records."""

    on: date
    reason: str
    record_ids: tuple[str, ...]
    score: int
    grade: str


@dataclass(frozen=True)
class Reason:
    """One principal reason for an adverse outcome: a record that moved the subject across the
    outcome's threshold, with its rule's legal basis and a plain-language sentence."""

    rank: int
    code: str
    text: str
    record_ids: tuple[str, ...]
    kind: str
    points: int
    weight: int
    decisive: bool
    legal_basis: str | None
    source: str
    occurred_on: date
    expires_on: date | None


@dataclass(frozen=True)
class AdverseOutcome:
    """An adverse outcome (a grade below the top, a stage, a listing, a measure) and its at
    most four principal reasons, ranked as docs/output.md defines."""

    outcome: str  # "grade" | "stage" | "list" | "measure"
    id: str
    threshold: int | None
    needed: int | None
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Expiry:
    """The day a negative contribution stops counting."""

    record_id: str
    kind: str
    points: int
    expires_on: date


@dataclass(frozen=True)
class Action:
    """Something the policy offers the subject that improves the outcome sooner."""

    action: str  # "objection" | "credit" | "repair"
    kind: str
    record_id: str | None
    amount: Decimal | None
    on: date
    points: int
    days: int | None
    text: str


@dataclass(frozen=True)
class Goal:
    """A better state (a grade, leaving a list or a stage), when it comes with no new records,
    and how much sooner the smallest set of actions that the policy offers brings it."""

    goal: str  # "grade" | "list" | "stage"
    id: str
    on: date | None
    score_on: int | None
    grade_on: str | None
    sooner_on: date | None = None
    sooner_score: int | None = None
    sooner_grade: str | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class WayBack:
    """The exact way back: expiries of negative contributions, and each goal with its date."""

    expiries: tuple[Expiry, ...]
    goals: tuple[Goal, ...]
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Assessment:
    """(subject, policy version, as-of date, known-at date) → explained score."""

    subject_id: str
    policy_id: str
    policy_version: str
    as_of: date
    known_at: date
    score: int
    grade: str
    base: int | None
    categories: tuple[CategoryTotal, ...]
    contributions: tuple[Contribution, ...]
    adjustments: tuple[Adjustment, ...]
    not_counted: tuple[NotCounted, ...]
    lists: tuple[ListStatus, ...] = ()
    stages: StageState | None = None
    changes_ahead: tuple[ChangeAhead, ...] = field(default=())
    listings: tuple[ListingState, ...] = ()
    reasons: tuple[AdverseOutcome, ...] = ()
    way_back: WayBack | None = None

    def category_totals(self) -> dict[str, int]:
        """Category id → capped total."""
        return {c.category: c.total for c in self.categories}

    def counted_ids(self) -> list[str]:
        """Ids of the records that count, in the order they are listed."""
        return [c.record_id for c in self.contributions]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (dates as ISO strings); the shape is documented."""
        return _jsonable(asdict(self))  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
