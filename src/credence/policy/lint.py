"""The policy linter: what Credence refuses to run, each refusal with a stable code.

| code  | refuses |
|-------|---------|
| CR001 | a rule, credit, measure or list without a legal basis |
| CR002 | a negative rule without expiry, or a blacklist without a listing duration |
| CR003 | a rule on a special category of data (GDPR Art. 9) |
| CR004 | a rule that reads another subject's records (family, household, contacts, employer) |
| CR005 | a sanction (measure or blacklist) without a notice period |
| CR006 | a sanction (measure or blacklist) without an appeal route |
| CR007 | a measure outside its trigger's domain without its own ``cross_domain_basis`` |
| CR008 | a cross-domain ("joint") measure: flagged by default, refused under ``eu`` |
| CR009 | ``eu``: a score-driven measure without human review (GDPR Art. 22) |
| CR010 | a record kind whose name suggests a special category (warning) |
| CR011 | a rule's ``reason`` text that names no conduct (a vague phrase: "insufficient score") |
| CR012 | a record kind, list, measure, stage or source without the words people read (warning) |
| CR020 | a month or year period that can land on a missing day, with no declared ``round`` |
| CR030-CR032 | departures from the policy's code dictionary (:mod:`credence.policy.dictionary`) |
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from credence.dates import Period
from credence.policy.dictionary import check as check_dictionary
from credence.policy.load import PolicySet
from credence.policy.model import ListDef, Measure, PolicyVersion, Rule, Scope

Profile = Literal["default", "eu"]
Severity = Literal["error", "warning"]
_Add = Callable[[str, Severity, str, str], None]

FORBIDDEN_CATEGORIES = frozenset(
    {
        "racial_origin",
        "ethnic_origin",
        "religion",
        "belief",
        "religious_belief",
        "philosophical_belief",
        "political_opinion",
        "trade_union",
        "trade_union_membership",
        "health",
        "sex_life",
        "sexual_orientation",
        "genetic",
        "biometric",
    }
)
"""GDPR Art. 9 special categories; no indicator may be built on them."""

_SUSPECT = re.compile(
    r"ethnic|race|racial|religio|church|mosque|synagogue|belief|political|party_member|"
    r"trade_union|union_member|health|medical|disease|diagnos|pregnan|sexual|orientation|"
    r"genetic|biometric|face|fingerprint|dna",
    re.IGNORECASE,
)

CODES: dict[str, str] = {
    "CR001": "missing legal basis",
    "CR002": "negative effect that never expires",
    "CR003": "special category of data",
    "CR004": "scores a subject by another's records",
    "CR005": "sanction without notice period",
    "CR006": "sanction without appeal route",
    "CR007": "cross-domain measure without its own legal basis",
    "CR008": "cross-domain (joint) measure",
    "CR009": "score-driven measure without human review",
    "CR010": "record kind suggests a special category",
    "CR011": "reason text names no conduct",
    "CR012": "shown to people without a title",
    "CR020": "date arithmetic without a declared rounding",
}

VAGUE_REASONS = (
    "internal standards",
    "internal policy",
    "internal policies",
    "insufficient score",
    "score too low",
    "low score",
    "credit score",
    "scoring model",
    "policy",
    "policies",
    "criteria",
    "requirements",
    "standards",
    "not eligible",
    "ineligible",
    "risk profile",
    "various reasons",
    "other reasons",
    "unspecified",
)
"""Phrases that say a decision was made without saying for what (Regulation B, 12 CFR 1002.9
(b)(2): "internal standards" or "insufficient score" are not specific reasons)."""

_VAGUE = re.compile(r"\b(" + "|".join(re.escape(p) for p in VAGUE_REASONS) + r")\b", re.I)


def vague_phrase(text: str) -> str | None:
    """The first vague phrase in a reason text (one that names no conduct), or None.

    >>> vague_phrase("Did not meet our internal standards")
    'internal standards'
    >>> vague_phrase("Drove 21-30 km/h over the speed limit") is None
    True
    """
    found = _VAGUE.search(text)
    return found.group(1).lower() if found else None


@dataclass(frozen=True)
class Finding:
    """One lint result: a code, its severity, where it is, and what is wrong."""

    code: str
    severity: Literal["error", "warning"]
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.code} {self.severity}: {self.message}"


def lint(policy: PolicySet, profile: Profile = "default") -> list[Finding]:
    """Every finding for every version of ``policy`` under ``profile``."""
    findings: list[Finding] = []
    for version in policy.versions:
        findings += _lint_version(policy, version, profile)
    findings += [Finding(c, "error", where, msg) for c, where, msg in check_dictionary(policy)]
    return findings


RUNS_ANYWAY = frozenset({"CR020"})
"""Errors ``policy lint`` reports that an evaluator still runs: an undeclared rounding counts
down (the month's last day), the rule every decision before declared rounding was taken by, so
that those decisions stay reproducible."""


def unlawful(policy: PolicySet) -> list[str]:
    """The default-profile errors, as text; an evaluator refuses a policy that has any."""
    return [str(f) for f in lint(policy) if f.severity == "error" and f.code not in RUNS_ANYWAY]


def _lint_version(policy: PolicySet, v: PolicyVersion, profile: Profile) -> list[Finding]:
    out: list[Finding] = []

    def add(code: str, severity: Literal["error", "warning"], where: str, msg: str) -> None:
        out.append(Finding(code, severity, where, f"{msg} [version {v.version}]"))

    for section, rules in (("rules", v.rules), ("credits", v.credits)):
        for rule in rules:
            where = policy.locate(v.version, section, rule.kind)
            _lint_rule(v, rule, where, add)
    for measure in v.measures:
        where = policy.locate(v.version, "measures", measure.id)
        if not measure.legal_basis:
            add("CR001", "error", where, f"measure {measure.id!r} has no legal_basis")
        if measure.type == "sanction":
            if measure.notice_period is None:
                add("CR005", "error", where, f"measure {measure.id!r} has no notice_period")
            if not measure.appeal_route:
                add("CR006", "error", where, f"measure {measure.id!r} has no appeal_route")
    for lst in v.lists:
        where = policy.locate(v.version, "lists", lst.id)
        _lint_list(v, lst, where, add)
        triggers = _list_triggers(v, lst)
        for mid in lst.measures:
            _lint_measure_use(
                policy,
                v,
                v.measure(mid),
                triggers,
                f"list {lst.id!r}",
                profile,
                add,
                score_driven=lst.entry.record_kinds is None,
            )
    if v.stages is not None:
        every = {c.id for c in v.categories}
        for stage in v.stages.ladder:
            if stage.measure is not None:
                _lint_measure_use(
                    policy,
                    v,
                    v.measure(stage.measure),
                    every,
                    f"stage {stage.id!r}",
                    profile,
                    add,
                    score_driven=True,
                )
    _lint_words(policy, v, add)
    _lint_periods(policy, v, add)
    return out


def periods_of(v: PolicyVersion) -> list[tuple[str, str, str, Period]]:
    """Every period of a version: (section, key, field, period)."""
    out: list[tuple[str, str, str, Period]] = []
    for section, rules in (("rules", v.rules), ("credits", v.credits)):
        out += [
            (section, r.kind, "expires_after", r.expires_after) for r in rules if r.expires_after
        ]
    for m in v.measures:
        out += [
            ("measures", m.id, f, p)
            for f, p in (("notice_period", m.notice_period), ("duration", m.duration))
            if p
        ]
    for x in v.lists:
        probation = x.repair.probation if x.repair else None
        out += [
            ("lists", x.id, f, p)
            for f, p in (
                ("notice_period", x.notice_period),
                ("duration", x.duration),
                ("repair.probation", probation),
            )
            if p
        ]
    out += [
        ("contest", "", f, p)
        for f, p in (("review_period", v.contest.review_period), ("extension", v.contest.extension))
    ]
    return out


def _lint_periods(policy: PolicySet, v: PolicyVersion, add: _Add) -> None:
    for section, key, name, period in periods_of(v):
        if period.can_miss_a_day and period.round is None:
            what = (
                f"{section[:-1] if section.endswith('s') else section} {key!r} {name}"
                if key
                else f"{section}.{name}"
            )
            add(
                "CR020",
                "error",
                policy.locate(v.version, section, key),
                f"{what} {period} can land on a day its month lacks (31 January + P1M, "
                "29 February + P1Y): declare round: down or up (calendar.round or the period's)",
            )


def _lint_words(policy: PolicySet, v: PolicyVersion, add: _Add) -> None:
    """CR012: what the portal and notices show a person must have words, not only a code."""
    missing: list[tuple[str, str, str]] = [
        (section, r.kind, f"record kind {r.kind!r} has no title")
        for section, rules in (("rules", v.rules), ("credits", v.credits))
        for r in rules
        if not r.title.strip()
    ]
    missing += [
        ("measures", m.id, f"measure {m.id!r} has no title") for m in v.measures if not m.title
    ]
    missing += [("lists", x.id, f"list {x.id!r} has no title") for x in v.lists if not x.title]
    if v.stages is not None:
        missing += [
            ("stages", "", f"stage {x.id!r} has no title") for x in v.stages.ladder if not x.title
        ]
    named = {k for k, name in v.source_names.items() if name.strip()}
    sources = sorted({s.partition(":")[0] for r in (*v.rules, *v.credits) for s in r.sources})
    missing += [
        ("source_names", "", f"source {s!r} has no name in source_names")
        for s in sources
        if s not in named
    ]
    for section, key, message in missing:
        add("CR012", "warning", policy.locate(v.version, section, key), message)


def _lint_rule(v: PolicyVersion, rule: Rule, where: str, add: _Add) -> None:
    if not rule.legal_basis or not rule.legal_basis.strip():
        add("CR001", "error", where, f"rule {rule.kind!r} has no legal_basis")
    harmful = [p for p in rule.point_values() if p != 0 and not v.is_favourable(p)]
    if harmful and rule.expires_after is None:
        add("CR002", "error", where, f"negative rule {rule.kind!r} has no expires_after")
    if (
        rule.data_category.strip().lower().replace("-", "_").replace(" ", "_")
        in FORBIDDEN_CATEGORIES
    ):
        add(
            "CR003",
            "error",
            where,
            f"rule {rule.kind!r} uses data_category {rule.data_category!r}, a special category "
            "(GDPR Art. 9) that no indicator may use",
        )
    if rule.scope is not Scope.SELF:
        add(
            "CR004",
            "error",
            where,
            f"rule {rule.kind!r} reads the records of the subject's {rule.scope.value}: "
            "a subject is scored only by their own conduct",
        )
    # A rule without its own reason gives its title as the reason: both must name conduct.
    said = rule.reason.strip() or rule.title.strip()
    if said and (phrase := vague_phrase(said)) is not None:
        field = "reason" if rule.reason.strip() else "title (the reason a notice gives)"
        add(
            "CR011",
            "error",
            where,
            f"rule {rule.kind!r}: {field} {said!r} names no conduct ({phrase!r} is not a "
            "reason a person can act on); say what the person did",
        )
    if _SUSPECT.search(rule.kind):
        add(
            "CR010",
            "warning",
            where,
            f"record kind {rule.kind!r} suggests a special category of data; check what it records",
        )


def _lint_list(v: PolicyVersion, lst: ListDef, where: str, add: _Add) -> None:
    if not lst.legal_basis:
        add("CR001", "error", where, f"list {lst.id!r} has no legal_basis")
    if lst.type == "blacklist":
        if lst.duration is None:
            add("CR002", "error", where, f"blacklist {lst.id!r} has no listing duration")
        if lst.notice_period is None:
            add("CR005", "error", where, f"blacklist {lst.id!r} has no notice_period")
        if not lst.appeal_route:
            add("CR006", "error", where, f"blacklist {lst.id!r} has no appeal_route")


def _list_triggers(v: PolicyVersion, lst: ListDef) -> set[str]:
    if lst.entry.record_kinds is None:
        return {c.id for c in v.categories}
    cats = set()
    for kind in lst.entry.record_kinds:
        rule = v.rule_for(kind)
        if rule is not None:
            cats.add(rule.category)
    return cats


def _lint_measure_use(
    policy: PolicySet,
    v: PolicyVersion,
    measure: Measure,
    triggers: set[str],
    used_by: str,
    profile: Profile,
    add: _Add,
    *,
    score_driven: bool,
) -> None:
    where = policy.locate(v.version, "measures", measure.id)
    if measure.domain not in triggers:
        if not measure.cross_domain_basis:
            add(
                "CR007",
                "error",
                where,
                f"measure {measure.id!r} (domain {measure.domain!r}) used by {used_by} is "
                f"triggered by {sorted(triggers)} and has no cross_domain_basis",
            )
        else:
            add(
                "CR008",
                "error" if profile == "eu" else "warning",
                where,
                f"measure {measure.id!r} used by {used_by} acts in domain {measure.domain!r}, "
                f"outside its trigger {sorted(triggers)} (joint punishment"
                + (
                    ": refused under the eu profile, EU AI Act Art. 5(1)(c))"
                    if profile == "eu"
                    else "; flagged in every impact report)"
                ),
            )
    if profile == "eu" and score_driven and measure.type == "sanction" and not measure.human_review:
        add(
            "CR009",
            "error",
            where,
            f"measure {measure.id!r} used by {used_by} is score-driven and needs "
            "human_review: true under the eu profile (GDPR Art. 22)",
        )
