"""Hypothesis strategies: random lawful policies and random record sets.

Shared by the property tests and the differential tests of the evaluators.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from credence.policy.load import PolicySet
from credence.policy.model import PolicyVersion
from credence.records import Record, Status, StatusChange

KINDS = ("k0", "k1", "k2", "k3", "k4")
START = date(2025, 1, 1)
DURATIONS = ("P1M", "P3M", "P6M", "P1Y", "P2Y", "P30D", "P1Y6M")


# Units of a per-unit rule: a whole amount, a large one, a fraction (0.5 of a month).
PER_UNIT = ["1", "250", "0.5", "1000", "0.25"]


def _day(offset: int) -> date:
    return START + timedelta(days=offset)


@st.composite
def rule_dicts(
    draw: st.DrawFn, kind: str, categories: list[str], merit: bool, allow_bands: bool = True
) -> dict[str, Any]:
    """One lawful rule for ``kind``."""
    shape = draw(st.sampled_from(["fixed", "bands", "per_unit"])) if allow_bands else "fixed"
    if shape == "per_unit":
        each = draw(st.integers(-20, 20).filter(bool))
        points = {"each": each, "per": draw(st.sampled_from(PER_UNIT))}
        values = [each]
        if draw(st.booleans()):
            # a multiple of each, or one that a record reaches only by the cap
            cap = each * draw(st.integers(1, 6)) + draw(st.sampled_from([0, 0, 1])) * (
                1 if each > 0 else -1
            )
            points["cap"] = cap
            values.append(cap)
    elif shape == "bands":
        n = draw(st.integers(1, 3))
        bounds = sorted(draw(st.sets(st.integers(0, 5000), min_size=n, max_size=n)))
        points: Any = {
            "bands": [{"at_least": b, "points": draw(st.integers(-60, 60))} for b in bounds]
        }
        values = [b["points"] for b in points["bands"]]
    else:
        points = draw(st.integers(-60, 60))
        values = [points]
    harmful = any((v < 0) if merit else (v > 0) for v in values)
    expires = draw(st.sampled_from(DURATIONS)) if harmful or draw(st.booleans()) else None
    out: dict[str, Any] = {
        "kind": kind,
        "category": draw(st.sampled_from(categories)),
        "points": points,
        "legal_basis": f"Act s.{kind}",
        "data_category": "administrative",
        "expiry_from": draw(st.sampled_from(["occurred", "effective"])),
        "same_act_group": draw(st.sampled_from([None, None, "g1", "g2"])),
    }
    if expires:
        out["expires_after"] = expires
    return out


def _grades(low: int, high: int, cuts: list[int]) -> list[dict[str, Any]]:
    edges = [low, *sorted(c for c in set(cuts) if low < c <= high), high + 1]
    return [
        {"grade": f"G{i}", "min": a, "max": b - 1}
        for i, (a, b) in enumerate(itertools.pairwise(edges))
    ]


@st.composite
def version_dicts(
    draw: st.DrawFn,
    *,
    weighted: bool | None = None,
    merit: bool | None = None,
) -> dict[str, Any]:
    """A random lawful policy version without stages or credits (pure scoring)."""
    is_merit = draw(st.booleans()) if merit is None else merit
    is_weighted = draw(st.booleans()) if weighted is None else weighted
    cats = [f"c{i}" for i in range(draw(st.integers(1, 3)))]
    low = draw(st.integers(-100, 100))
    high = low + draw(st.integers(50, 1000))
    categories = []
    for c in cats:
        cat: dict[str, Any] = {"id": c}
        if is_weighted:
            cmin = draw(st.integers(-200, 0))
            cat.update(
                weight=draw(st.integers(1, 5)),
                min=cmin,
                max=cmin + draw(st.integers(1, 300)),
                base=draw(st.integers(-50, 50)),
            )
        else:
            if draw(st.booleans()):
                cat["min"] = draw(st.integers(-200, 0))
            if draw(st.booleans()):
                cat["max"] = draw(st.integers(0, 200))
        categories.append(cat)
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5, unique=True))
    rules = [draw(rule_dicts(k, cats, is_merit)) for k in sorted(kinds)]
    scale: dict[str, Any] = {"min": low, "max": high}
    if not is_weighted:
        scale["base"] = draw(st.integers(low, high))
    cuts = draw(st.lists(st.integers(low + 1, high), max_size=3))
    doc: dict[str, Any] = {
        "id": "gen",
        "version": "1",
        "effective_from": START,
        "count_from": draw(st.sampled_from(["occurred", "effective"])),
        "direction": "higher_is_better" if is_merit else "higher_is_worse",
        "model": "weighted" if is_weighted else "additive",
        "scale": scale,
        "grades": _grades(low, high, cuts),
        "categories": categories,
        "rules": rules,
        "contest": {"suspends": draw(st.booleans())},
    }
    return doc


@st.composite
def policies(
    draw: st.DrawFn, *, weighted: bool | None = None, merit: bool | None = None
) -> PolicySet:
    """One or two versions of a random pure policy (the second changes some rules)."""
    first = draw(version_dicts(weighted=weighted, merit=merit))
    versions = [first]
    if draw(st.booleans()):
        second = dict(first)
        second["version"] = "2"
        second["effective_from"] = _day(draw(st.integers(30, 500)))
        merit_scale = first["direction"] == "higher_is_better"
        cats = [c["id"] for c in first["categories"]]
        second["rules"] = [
            draw(rule_dicts(r["kind"], cats, merit_scale)) if draw(st.booleans()) else r
            for r in first["rules"]
        ]
        versions.append(second)
    return PolicySet.of(*(PolicyVersion.model_validate(v) for v in versions))


@st.composite
def records(
    draw: st.DrawFn, subject: str = "s1", min_size: int = 0, max_size: int = 12
) -> list[Record]:
    """A random record set of one subject, kinds mostly known to the generated policies."""
    n = draw(st.integers(min_size, max_size))
    out = []
    for i in range(n):
        out.append(draw(one_record(f"r{i:03d}", subject)))
    return out


@st.composite
def one_record(draw: st.DrawFn, rid: str, subject: str = "s1") -> Record:
    """One record with random dates, amount and status history."""
    occurred = _day(draw(st.integers(-30, 900)))
    effective = occurred + timedelta(days=draw(st.sampled_from([0, 0, 0, 10, 45, 120])))
    recorded_day = effective + timedelta(days=draw(st.sampled_from([0, 0, 1, 30, 200])))
    amount = draw(
        st.one_of(
            st.none(),
            st.integers(0, 8000).map(Decimal),
            st.integers(0, 800000).map(lambda c: Decimal(c).scaleb(-2)),
        )
    )
    history: list[StatusChange] = []
    if draw(st.integers(0, 4)) == 0:
        when = recorded_day + timedelta(days=draw(st.integers(0, 100)))
        history.append(
            StatusChange(
                draw(st.sampled_from(list(Status))), datetime.combine(when, time(), tzinfo=UTC)
            )
        )
    return Record(
        record_id=rid,
        source="agency",
        source_record_id=rid,
        subject_id=subject,
        kind=draw(st.sampled_from([*KINDS, "unknown"])),
        occurred_on=occurred,
        effective_on=effective,
        recorded_at=datetime.combine(recorded_day, time(), tzinfo=UTC),
        amount=amount,
        history=tuple(history),
    )


eval_days = st.integers(0, 1100).map(_day)


@st.composite
def list_entries(draw: st.DrawFn, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Zero to two lists of a version: grade, score-bound and record-kind criteria mixed."""
    kinds = [r["kind"] for r in doc["rules"]]
    grades = [g["grade"] for g in doc["grades"]]
    low, high = doc["scale"]["min"], doc["scale"]["max"]
    out = []
    for i in range(draw(st.integers(0, 2))):
        entry: dict[str, Any] = {}
        choice = draw(st.sets(st.sampled_from(["grades", "most", "least", "kinds"]), min_size=1))
        if "grades" in choice:
            entry["grades"] = draw(st.lists(st.sampled_from(grades), min_size=1, unique=True))
        if "most" in choice:
            entry["score_at_most"] = draw(st.integers(low, high))
        if "least" in choice:
            entry["score_at_least"] = draw(st.integers(low, high))
        if "kinds" in choice and kinds:
            entry["record_kinds"] = draw(st.lists(st.sampled_from(kinds), min_size=1, unique=True))
        if not entry:
            entry["score_at_most"] = high
        out.append(
            {
                "id": f"l{i}",
                "entry": entry,
                "legal_basis": "Act s.9",
                "duration": draw(st.sampled_from(DURATIONS)),
                "notice_period": draw(st.sampled_from(["P0D", "P30D"])),
                "appeal_route": "court",
            }
        )
    return out


@st.composite
def credit_dicts(
    draw: st.DrawFn, kind: str, doc: dict[str, Any], categories: list[str]
) -> dict[str, Any]:
    """A credit for ``kind``: favourable points, an expiry, optional count and score limits."""
    merit = doc["direction"] == "higher_is_better"
    credit: dict[str, Any] = {
        "kind": kind,
        "category": draw(st.sampled_from(categories)),
        "points": draw(st.integers(1, 40)) * (1 if merit else -1),
        "legal_basis": f"Act s.{kind}",
        "data_category": "administrative",
        "expiry_from": draw(st.sampled_from(["occurred", "effective"])),
        "expires_after": draw(st.sampled_from(DURATIONS)),
    }
    if draw(st.booleans()):
        credit["at_most"] = {
            "count": draw(st.integers(1, 3)),
            "per": draw(st.sampled_from(DURATIONS)),
        }
    if draw(st.booleans()):
        low, high = doc["scale"]["min"], doc["scale"]["max"]
        bound = draw(st.integers(low, high))
        credit["score_range"] = {"min": bound} if draw(st.booleans()) else {"max": bound}
    return credit


@st.composite
def ladder_dict(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """A stage ladder (hold or clamp, earlier notices required or not) on the version's scale."""
    merit = doc["direction"] == "higher_is_better"
    low, high = doc["scale"]["min"], doc["scale"]["max"]
    cuts = sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=3)))
    return {
        "on_skip": draw(st.sampled_from(["clamp", "hold"])),
        "require_earlier_notices": draw(st.booleans()),
        "service_lag": draw(st.sampled_from(["P0D", "P10D"])),
        "ladder": [
            {"id": f"st{i}", "threshold": t} for i, t in enumerate(cuts[::-1] if merit else cuts)
        ],
    }


@st.composite
def full_policies(draw: st.DrawFn, max_versions: int = 3) -> PolicySet:
    """A random policy using the whole language: one to ``max_versions`` versions (each
    changing, adding or abolishing rules), additive or weighted, fixed or banded points,
    expiries from either date, categories with caps, credits with limits, stage ladders with
    hold or clamp, and lists. The compiled policy and every evaluator must agree on it."""
    first = draw(version_dicts())
    merit = first["direction"] == "higher_is_better"
    cats = [c["id"] for c in first["categories"]]
    has_credit = draw(st.booleans())
    has_ladder = draw(st.booleans())
    credit_kind = "k9"
    docs = [first]
    for n in range(1, draw(st.integers(1, max_versions))):
        doc = dict(docs[-1])
        doc["version"] = str(n + 1)
        doc["effective_from"] = docs[-1]["effective_from"] + timedelta(
            days=draw(st.integers(30, 400))
        )
        rules = [
            draw(rule_dicts(r["kind"], cats, merit)) if draw(st.booleans()) else r
            for r in docs[-1]["rules"]
        ]
        if len(rules) > 1 and draw(st.booleans()):
            rules = rules[:-1]  # a kind abolished by the later version
        spare = [k for k in KINDS if k not in {r["kind"] for r in rules}]
        if spare and draw(st.booleans()):
            rules.append(draw(rule_dicts(draw(st.sampled_from(spare)), cats, merit)))
        doc["rules"] = sorted(rules, key=lambda r: r["kind"])
        docs.append(doc)
    versions = []
    for doc in docs:
        doc = dict(doc)
        doc["lists"] = draw(list_entries(doc))
        if has_credit:
            doc["credits"] = [draw(credit_dicts(credit_kind, doc, cats))]
        if has_ladder:
            doc["stages"] = draw(ladder_dict(doc))
        versions.append(PolicyVersion.model_validate(doc))
    return PolicySet.of(*versions)


@st.composite
def full_population(draw: st.DrawFn, max_subjects: int = 4, max_records: int = 8) -> list[Record]:
    """Records of several subjects (ids unique), some of the generated credit kind."""
    out: list[Record] = []
    for i in range(draw(st.integers(1, max_subjects))):
        sid = f"s{i}"
        for j in range(draw(st.integers(0, max_records))):
            r = draw(one_record(f"{sid}-r{j:03d}", sid))
            if draw(st.integers(0, 5)) == 0:
                r = dataclasses.replace(r, kind="k9")
            out.append(r)
    return out
