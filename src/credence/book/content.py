"""What a policy book says: each element in plain words beside its law, versions with their
dates, the analysis, and the policy's own tests worked through by the reference evaluator.

Everything here is read from the compiled policy and computed by the evaluator; nothing is
written by hand, so the book cannot drift from what the policy does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from credence.dates import Duration
from credence.engine.reference import evaluate
from credence.engine.spec import run_case, to_record
from credence.errors import CredenceError
from credence.policy.analyze import Analysis, analyze
from credence.policy.compiled import CompiledPolicy, CompiledRule, CompiledVersion, compile_policy
from credence.policy.load import PolicySet
from credence.policy.model import ListDef, Measure, Stage, TestCase
from credence.states import ListingStatus, MeasureStatus


@dataclass(frozen=True)
class Entry:
    """One rule, stage, list or measure: its name, the law beside it, and what it does."""

    section: str
    id: str
    title: str
    citation: str
    legal_text: str
    plain: str


@dataclass(frozen=True)
class VersionPage:
    """One version: the days it is in force and its elements."""

    label: str
    title: str
    in_force_from: date
    in_force_until: date | None
    scale: str
    grades: tuple[tuple[str, str, str], ...]
    entries: tuple[Entry, ...]

    @property
    def period(self) -> str:
        """The days in force, in words."""
        if self.in_force_until is None:
            return f"in force from {self.in_force_from}, until a later version replaces it"
        last = self.in_force_until - timedelta(days=1)
        return f"in force from {self.in_force_from} to {last} (replaced on {self.in_force_until})"


@dataclass(frozen=True)
class Example:
    """One of the policy's tests, worked through: records, expectation, computed result."""

    name: str
    as_of: date
    known_at: date | None
    records: tuple[tuple[str, str, str, str], ...]
    expected: tuple[tuple[str, str], ...]
    computed: tuple[tuple[str, str], ...]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when the computed result is what the test expects."""
        return not self.failures


@dataclass(frozen=True)
class Book:
    """The whole book of one policy."""

    policy_id: str
    title: str
    description: str
    source: str
    versions: tuple[VersionPage, ...]
    analysis: Analysis
    examples: tuple[Example, ...] = field(default=())


def words(d: Duration | None) -> str:
    """A duration in words (``P2Y6M`` -> ``2 years 6 months``).

    >>> from credence.dates import parse_duration
    >>> words(parse_duration("P2Y6M")), words(parse_duration("P1D")), words(None)
    ('2 years 6 months', '1 day', 'never')
    """
    if d is None:
        return "never"
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((d.years, "year"), (d.months, "month"), (d.days, "day"))
        if n
    ]
    return " ".join(parts) or "0 days"


def _points(n: int) -> str:
    return f"{n:+d} point{'' if abs(n) == 1 else 's'}"


def plain_rule(rule: CompiledRule, version: CompiledVersion) -> str:
    """A rule or credit in plain words."""
    if rule.fixed is not None:
        value = f"adds {_points(rule.fixed)}"
    elif rule.per_unit is not None:
        pu = rule.per_unit
        cap = "" if pu.cap is None else f", {_points(pu.cap)} at most"
        value = f"adds {_points(pu.each)} for each whole {pu.per} of the record's amount{cap}"
    else:
        bands = ", ".join(f"{_points(p)} from an amount of {a}" for a, p in rule.bands)
        value = f"adds, by the record's amount, {bands} (nothing below {rule.bands[0][0]})"
    counts = "the day of the act" if version.count_from.value == "occurred" else "the day it "
    counts += "" if version.count_from.value == "occurred" else "became final"
    anchor = "the act" if rule.expiry_from.value == "occurred" else "the decision became final"
    expiry = (
        "It never expires."
        if rule.expires_after is None
        else f"It stops counting {words(rule.expires_after)} after {anchor}."
    )
    text = (
        f"A record of this kind {value} to the {rule.category} category, counted from "
        f"{counts}. {expiry}"
    )
    if rule.same_act_group:
        text += (
            f" Several records of one act (group {rule.same_act_group}) count once: the heaviest."
        )
    if rule.credit:
        if rule.at_most is not None:
            text += (
                f" At most {rule.at_most.count} such credit(s) in any {words(rule.at_most.per)}."
            )
        if rule.score_range is not None:
            low, high = rule.score_range.min, rule.score_range.max
            text += f" Earned only at a score {_range(low, high)} just before it."
    return text


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    return f"of at least {low}" if low is not None else f"of at most {high}"


def plain_stage(stage: Stage, version: CompiledVersion) -> str:
    """A stage of the ladder in plain words."""
    way = "or less" if version.higher_is_better else "or more"
    s = version.stages
    assert s is not None
    text = f"Reached at a score of {stage.threshold} {way}."
    if stage.notice:
        text += f" A notice is served (taken as delivered {words(s.service_lag)} after issue)."
    if stage.measure:
        text += f" Then measure {stage.measure} applies."
    return text


def plain_list(lst: ListDef, version: CompiledVersion) -> str:
    """A list's entry, notice, duration, exits and measures in plain words."""
    e = lst.entry
    conds = []
    if e.grades is not None:
        conds.append(f"the grade is {' or '.join(e.grades)}")
    if e.score_at_most is not None:
        conds.append(f"the score is at most {e.score_at_most}")
    if e.score_at_least is not None:
        conds.append(f"the score is at least {e.score_at_least}")
    if e.record_kinds is not None:
        conds.append(f"a record of {', '.join(e.record_kinds)} counts")
    text = f"A {lst.type}: a subject qualifies when {' and '.join(conds)}."
    if lst.notice_period is not None:
        text += f" Listing follows a served notice and {words(lst.notice_period)} to rectify."
    text += (
        f" A listing lasts {words(lst.duration)}."
        if lst.duration
        else " A listing has no fixed duration."
    )
    if lst.repair is not None:
        text += f" It ends early on repair: a record of {', '.join(lst.repair.record_kinds)}"
        text += (
            f" and a probation of {words(lst.repair.probation)}." if lst.repair.probation else "."
        )
    if lst.measures:
        text += f" Measures while listed: {', '.join(lst.measures)}."
    return text


def plain_measure(m: Measure) -> str:
    """A measure's effect and safeguards in plain words."""
    text = f"A {m.type} in the {m.domain} domain."
    if m.notice_period is not None:
        text += f" It takes effect {words(m.notice_period)} after its notice is served."
    text += f" It lasts {words(m.duration)}." if m.duration else " It lasts while its cause holds."
    if m.human_review:
        text += " A reviewer must sign it off first."
    if m.appeal_route:
        text += f" Appeal: {m.appeal_route}."
    if m.cross_domain_basis:
        text += f" Outside its trigger's domain, on its own basis: {m.cross_domain_basis}."
    return text


def _entries(compiled: CompiledVersion) -> tuple[Entry, ...]:
    v = compiled.source
    out: list[Entry] = []
    for rule in (*v.rules, *v.credits):
        c = compiled.rules[rule.kind]
        out.append(
            Entry(
                "credit" if c.credit else "rule",
                rule.kind,
                rule.title or rule.kind,
                rule.legal_basis or "",
                rule.legal_text,
                plain_rule(c, compiled),
            )
        )
    for stage in v.stages.ladder if v.stages else []:
        basis = stage.legal_basis or (
            compiled.measures[stage.measure].legal_basis or "" if stage.measure else ""
        )
        out.append(
            Entry(
                "stage",
                stage.id,
                stage.title or stage.id,
                basis,
                stage.legal_text,
                plain_stage(stage, compiled),
            )
        )
    for lst in v.lists:
        out.append(
            Entry(
                "list",
                lst.id,
                lst.title or lst.id,
                lst.legal_basis or "",
                lst.legal_text,
                plain_list(lst, compiled),
            )
        )
    for m in v.measures:
        out.append(
            Entry(
                "measure",
                m.id,
                m.title or m.id,
                m.legal_basis or "",
                m.legal_text,
                plain_measure(m),
            )
        )
    return tuple(out)


def _versions(compiled: CompiledPolicy) -> tuple[VersionPage, ...]:
    pages = []
    for i, c in enumerate(compiled.versions):
        v = c.source
        until = compiled.versions[i + 1].effective_from if i + 1 < len(compiled.versions) else None
        way = "higher is better" if c.higher_is_better else "higher is worse"
        base = f", starting at {c.base}" if not c.weighted else ", weighted categories"
        pages.append(
            VersionPage(
                label=c.label,
                title=v.title,
                in_force_from=c.effective_from,
                in_force_until=until,
                scale=f"{c.scale_min} to {c.scale_max} ({way}{base})",
                grades=tuple((g.grade, g.label, f"{g.min} to {g.max}") for g in v.grades),
                entries=_entries(c),
            )
        )
    return tuple(pages)


def work_example(policy: PolicySet, case: TestCase) -> Example:
    """Run one embedded test through the reference evaluator and set out what it computed."""
    records = tuple(
        (
            r.id or f"r{i + 1}",
            r.kind,
            r.occurred_on.isoformat(),
            "" if r.amount is None else str(r.amount),
        )
        for i, r in enumerate(case.records)
    )
    expected = tuple((k, _show(v)) for k, v in case.expect.model_dump(exclude_none=True).items())
    computed: list[tuple[str, str]] = []
    try:
        got = evaluate(
            policy,
            [to_record(policy, i, r) for i, r in enumerate(case.records)],
            case.as_of,
            case.known_at or case.as_of,
        )
    except CredenceError as exc:
        computed.append(("error", str(exc)))
    else:
        computed += [("score", str(got.score)), ("grade", got.grade)]
        computed.append(("counted", _show(sorted(got.counted_ids()))))
        met = sorted(s.list_id for s in got.lists if s.criteria_met)
        if met:
            computed.append(("lists", _show(met)))
        listed = sorted(e.list_id for e in got.listings if e.status == ListingStatus.LISTED)
        if listed:
            computed.append(("listed", _show(listed)))
        if got.stages is not None:
            computed.append(("stage", got.stages.effective or "none"))
            served = [n.stage for n in got.stages.notices if n.served_on]
            computed.append(("notices_served", _show(served)))
            live = [m.measure for m in got.stages.measures if m.status == MeasureStatus.IN_FORCE]
            computed.append(("measures_in_force", _show(live)))
    result = run_case(policy, case)
    return Example(
        case.name,
        case.as_of,
        case.known_at,
        records,
        expected,
        tuple(computed),
        result.failures,
    )


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(x) for x in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def book_of(policy: PolicySet) -> Book:
    """Everything the book of ``policy`` shows (computed; no I/O)."""
    compiled = compile_policy(policy)
    latest = policy.latest
    return Book(
        policy_id=policy.id,
        title=latest.title or policy.id,
        description=latest.description,
        source=policy.source,
        versions=_versions(compiled),
        analysis=analyze(policy),
        examples=tuple(work_example(policy, c) for c in policy.tests),
    )
