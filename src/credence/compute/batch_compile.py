"""Compile one policy at one evaluation date into one Ibis expression (semantic points 1 to 5).

The plan reads two normalised tables (see :mod:`credence.compute.batch` for their columns) and
returns one row per subject: score, grade, each category's raw and capped total, and whether
each list's entry criteria are met. Everything that depends only on the policy and the two
evaluation dates is decided here, in Python, and enters the plan as constants:

* the version in force at ``as_of`` (its ``count_from``, contest rule, categories, scale,
  grades and lists);
* for every rule, the earliest anchor date whose expiry still lies after ``as_of``, so that
  "not expired" is a comparison with a constant date and no backend's calendar arithmetic is
  involved (month-end clamping differs between engines);
* for every (version in force on the act's date, kind) pair, the lex mitior choice as a small
  expression of the record's amount and dates.

What depends on history (credits, stage clamps) is not in the plan: the plan flags the subjects
for which it could matter (``needs_replay``), and the caller replays those with the reference
evaluator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import reduce

import ibis  # type: ignore[import-untyped]
import ibis.expr.types as ir  # type: ignore[import-untyped]

from credence.dates import DateOps
from credence.errors import EvaluationError
from credence.policy.compiled import (
    CompiledPolicy,
    CompiledRule,
    CompiledVersion,
    Ops,
    Stretch,
    change_days,
    compile_policy,
    entry_met,
    same_act_order,
)
from credence.policy.load import PolicySet
from credence.policy.model import PerUnitPoints, PolicyVersion

# A record's days of expiry under the rules that can value it, earlier first, as the incremental
# agenda stores them (computed once when it is filled, not every night).
EXPIRY_COLUMNS = ("_expires_first", "_expires_last")
AMOUNT_TYPE = "decimal(38, 10)"
# Integer arithmetic that a backend may route through a double must stay below 2**53 to be exact.
_EXACT_LIMIT = 2**52


def raw_column(category: str) -> str:
    """Output column: the category's sum before its cap."""
    return f"raw__{category}"


def total_column(category: str) -> str:
    """Output column: the category's total after its cap (the dimension level if weighted)."""
    return f"total__{category}"


def list_column(list_id: str) -> str:
    """Output column: whether the list's entry criteria are met."""
    return f"list__{list_id}"


@dataclass(frozen=True)
class Plan:
    """The compiled plan and the constants a caller needs to read its output."""

    table: ir.Table
    version: PolicyVersion
    categories: tuple[str, ...]
    lists: tuple[str, ...]
    replay_possible: bool


def _lit_int(value: int) -> ir.IntegerValue:
    return ibis.literal(value, type="int64")


# A zero the SQL itself types as BIGINT: a bare literal 0 is an INTEGER to DuckDB, and a worst
# score computed from literals alone (a ladder whose categories have no harmful rule) would
# then be folded in 32 bits and overflow under the weighted model's common denominator.
_BIGINT_ZERO = ibis.literal(0, type="int32").cast("int64")


class _Compiler:
    def __init__(self, policy: CompiledPolicy, as_of: date, known_at: date) -> None:
        compiled = policy.version_at(as_of)
        if compiled is None:
            raise EvaluationError(
                f"policy {policy.id} is not in force on {as_of} "
                f"(first version starts {policy.versions[0].effective_from})"
            )
        if known_at < as_of:
            raise EvaluationError(f"known_at {known_at} is before as_of {as_of}; it can never be")
        self.policy = policy
        self.as_of = as_of
        self.known_at = known_at
        self.cnow = compiled
        self.now = compiled.source
        self.cat_index = {c: i for i, c in enumerate(compiled.categories)}
        self.group_index = {g: i for i, g in enumerate(policy.groups)}
        # Every kind the plan tests, as a small integer computed once per record: the tests
        # then compare integers instead of strings (kinds of no interest get -1).
        named = set(policy.kinds)
        for v in policy.versions:
            for lst in v.lists:
                named |= set(lst.entry.record_kinds or ())
        self.kind_code = {k: i for i, k in enumerate(sorted(named))}

    def codes(self, kinds: Iterable[str]) -> list[int]:
        """The integer codes of ``kinds``."""
        return sorted({self.kind_code[k] for k in kinds})

    def with_kind_code(self, t: ir.Table, kinds: set[str] | None = None) -> ir.Table:
        """``t`` with ``kc``, the integer code of its kind (of ``kinds`` only, if given)."""
        cases = [
            (t.kind == k, _lit_int(i))
            for k, i in self.kind_code.items()
            if kinds is None or k in kinds
        ]
        return t.mutate(kc=ibis.cases(*cases, else_=_lit_int(-1)) if cases else _lit_int(-1))

    # --- one record -------------------------------------------------------------------------

    def points(self, rule: CompiledRule, t: ir.Table) -> ir.IntegerValue:
        """The rule's points for the record; NULL when a banded rule cannot place the amount."""
        if rule.fixed is not None:
            return _lit_int(rule.fixed)
        if rule.per_unit is not None:
            return _per_unit(rule.per_unit, t.amount)
        return _banded(rule, t.amount)

    def alive(self, rule: CompiledRule, t: ir.Table) -> ir.BooleanValue | None:
        """True while the record has not expired under ``rule`` at as_of (None: never expires)."""
        threshold = rule.alive_from(self.as_of)
        if threshold is None:
            return None
        return rule.expiry_anchor(t.occurred_on, t.effective_on) >= ibis.literal(threshold)

    def category(self, rule: CompiledRule) -> int:
        if rule.category not in self.cat_index:
            raise EvaluationError(
                f"category {rule.category!r} of rule {rule.kind!r} does not exist in version "
                f"{self.cnow.label}"
            )
        return self.cat_index[rule.category]

    def valued(
        self, then: CompiledVersion, rule_then: CompiledRule, t: ir.Table
    ) -> tuple[ir.IntegerValue, ir.IntegerValue]:
        """(points or NULL, category index) of one record valued under ``then`` (lex mitior,
        as :meth:`~credence.policy.compiled.CompiledPolicy.lenient_choice` decides it)."""
        now = self.cnow
        rule_now = now.rule(rule_then.kind)
        p1, a1 = self.points(rule_then, t), self.alive(rule_then, t)
        kept1 = p1 if a1 is None else ibis.ifelse(a1, p1, ibis.null("int64"))
        cat1 = _lit_int(self.category(rule_then))
        if then.label == now.label or (
            rule_now is not None and rule_now.source == rule_then.source
        ):
            return kept1, cat1
        val1 = kept1.fill_null(0)
        if rule_now is None:
            # The kind was abolished: an unfavourable value gives way to the new law's zero.
            return ibis.ifelse(now.unfavourable(val1), ibis.null("int64"), kept1), cat1
        p2, a2 = self.points(rule_now, t), self.alive(rule_now, t)
        kept2 = p2 if a2 is None else ibis.ifelse(a2, p2, ibis.null("int64"))
        val2 = kept2.fill_null(0)
        use_now = now.strictly_better(val2, val1)
        cat2 = _lit_int(self.category(rule_now))
        cat = cat1 if cat1.equals(cat2) else ibis.ifelse(use_now, cat2, cat1)
        return ibis.ifelse(use_now, kept2, kept1), cat

    def branches(self) -> tuple[Stretch, ...]:
        """Every stretch of one rule for one kind, from the compiled policy."""
        return self.policy.stretches

    # --- the plan ---------------------------------------------------------------------------

    def plan(self, records: ir.Table, status: ir.Table, calendar: bool = False) -> Plan:
        now, k = self.now, ibis.literal(self.known_at)
        last = status.filter(status.on <= k)
        last = last.mutate(
            _n=ibis.row_number().over(group_by=last.record_id, order_by=ibis.desc(last.seq))
        )
        last = last.filter(last._n == 0).select(_rid=last.record_id, st=last.status)
        grouped = self.grouped_kinds()
        v = self.valued_records(
            self.with_next_event(records, status) if calendar else records, last, calendar
        )
        if grouped:
            # The records of grouped kinds are read a second time rather than split off the
            # first pass: a plan that used the first pass twice would have DuckDB materialise
            # it (every record, spilled at scale) and push both branches' filters into it.
            rival = self.valued_records(
                records.filter(records.kind.isin(grouped)), last, False, set(grouped)
            )
            v = _same_act(v, rival, calendar, self.reads_amount())
        else:
            v = v.mutate(fk=v.kc)

        cats = list(self.cnow.categories)
        aggs: dict[str, ir.Value] = {
            raw_column(c): v.pts.sum(where=v.cat == i).fill_null(0) for i, c in enumerate(cats)
        }
        for j, lst in enumerate(now.lists):
            if lst.entry.record_kinds is not None:
                aggs[f"_ev{j}"] = v.pts.count(where=v.kc.isin(self.codes(lst.entry.record_kinds)))
        flag_aggs, flag_of = self.replay_flag(v)
        if calendar:
            aggs["_next_change"] = v.ev.min()
        per = v.group_by("subject_id").aggregate(**aggs, **flag_aggs)
        raws = {c: per[raw_column(c)] for c in cats}
        totals, score = _score(self.cnow, raws)
        grade = self.cnow.grade_of(score, IBIS_OPS)
        out: dict[str, ir.Value] = {"score": score, "grade": grade}
        for c in cats:
            out[raw_column(c)] = raws[c]
            out[total_column(c)] = totals[c]
        for j, lst in enumerate(now.lists):
            evidence = per[f"_ev{j}"] > 0 if lst.entry.record_kinds is not None else None
            out[list_column(lst.id)] = entry_met(lst.entry, grade, score, evidence, IBIS_OPS)
        needs = flag_of(per) if flag_aggs else ibis.literal(False)
        if calendar:
            out["next_change"] = per["_next_change"]
        table = per.select("subject_id", **out, needs_replay=needs)
        return Plan(
            table=table,
            version=now,
            categories=tuple(cats),
            lists=tuple(lst.id for lst in now.lists),
            replay_possible=bool(flag_aggs),
        )

    def reads_amount(self) -> bool:
        """True when a rule awards points per unit without a cap, so that the replay flags
        need each record's amount (:meth:`worst_points`)."""
        return any(r.unbounded for v in self.policy.versions for r in v.rules.values())

    def grouped_kinds(self) -> list[str]:
        """The kinds some version groups into same-act groups (their records compete)."""
        return list(self.policy.grouped_kinds)

    def valued_records(
        self, records: ir.Table, last: ir.Table, calendar: bool, kinds: set[str] | None = None
    ) -> ir.Table:
        """Per record: subject, kind code, points (NULL if it does not count), category, and
        its same-act group (``grp``, with ``record_id`` and ``occurred_on`` for ranking) and
        next event (``ev``) where the policy and ``calendar`` call for them. With ``kinds``,
        the records are of those kinds only, and only their rules are compiled."""
        now, d, k = self.cnow, ibis.literal(self.as_of), ibis.literal(self.known_at)
        t = self.with_kind_code(records.left_join(last, records.record_id == last._rid), kinds)
        start = now.counts_from(t.occurred_on, t.effective_on)
        excluded = now.excluded_statuses
        # Every record stays in the plan (a record that does not count has NULL points), so
        # that one aggregation sees every subject, counted or not.
        present = (
            (t.recorded_on <= k)
            & (t.effective_on <= k)
            & (start <= d)
            & ~t.st.fill_null("active").isin(excluded)
        )
        pts_cases: list[tuple[ir.BooleanValue, ir.IntegerValue]] = []
        cat_cases: list[tuple[ir.BooleanValue, ir.IntegerValue]] = []
        grp_cases: list[tuple[ir.BooleanValue, ir.IntegerValue]] = []
        for s in self.branches():
            if kinds is not None and s.kind not in kinds:
                continue
            rule = s.rule
            cond = _stretch(t.kc == self.kind_code[s.kind], t.occurred_on, s.begin, s.until)
            pts, cat = self.valued(s.version, rule, t)
            pts_cases.append((cond, pts))
            cat_cases.append((cond, cat))
            if rule.same_act_group:
                grp_cases.append((cond, _lit_int(self.group_index[rule.same_act_group])))
        null = ibis.null("int64")
        pts = ibis.cases(*pts_cases, else_=null) if pts_cases else null
        cat = ibis.cases(*cat_cases, else_=null) if cat_cases else null
        cols: dict[str, ir.Value] = {
            "subject_id": t.subject_id,
            "kc": t.kc,
            "pts": ibis.ifelse(present, pts, null).cast("int64"),
            "cat": cat.cast("int64"),
        }
        if grp_cases:
            cols |= {
                "record_id": t.record_id,
                "occurred_on": t.occurred_on,
                "grp": ibis.cases(*grp_cases, else_=null).cast("int64"),
            }
        if calendar:
            cols["ev"] = t.next_event
        if self.reads_amount():
            cols["amount"] = t.amount
        return t.select(**cols)

    # --- when the result can next change ---------------------------------------------------

    def with_next_event(self, records: ir.Table, status: ir.Table) -> ir.Table:
        """``records`` with ``next_event``: the first day after as_of on which the record may
        change a result without any new data (incremental rescoring's calendar).

        The candidates are the days it starts to count, becomes known, changes status (a change
        already in the data but dated later) or expires under a rule that can value it: the
        rule of its stretch and the rule in force at as_of (lex mitior weighs only those two
        until another version comes into force, which rescores everyone), and for a credit
        kind every version's rule, as the timeline replay decides credits. Expiry is
        ``anchor + duration`` in the backend's calendar arithmetic (months first, clamped to
        the month's end, then days), which is DuckDB's and PostgreSQL's rule and the reference
        evaluator's (:func:`credence.dates.add_duration`).
        """
        after = ibis.literal(self.as_of)
        later = status.filter(status.on > after)
        later = later.group_by(_sid=later.record_id).aggregate(_st_next=later.on.min())
        t = records.left_join(later, records.record_id == later._sid)

        def upcoming(day: ir.DateValue) -> ir.DateValue:
            return ibis.ifelse(day > after, day, ibis.null("date"))

        def ends(rule: CompiledRule) -> ir.DateValue | None:
            day = self.expiry(rule, t)
            return None if day is None else upcoming(day)

        if EXPIRY_COLUMNS[0] in t.columns:
            first, last = t[EXPIRY_COLUMNS[0]], t[EXPIRY_COLUMNS[1]]
        else:
            first, last = self.expiry_days(t)
        expiries: list[tuple[ir.BooleanValue, ir.DateValue]] = []
        for kind in sorted(self.credit_kinds()):
            days = [d for r in self.policy.valuing_rules(kind) if (d := ends(r)) is not None]
            if days:
                expiries.append((t.kind == kind, reduce(lambda a, b: ibis.least(a, b), days)))
        ruled = ibis.least(upcoming(first), upcoming(last))
        expiring = ibis.cases(*expiries, else_=ruled) if expiries else ruled
        candidates = change_days(
            upcoming(t.occurred_on),
            upcoming(t.effective_on),
            [upcoming(t.recorded_on), upcoming(t._st_next)],
            [expiring],
        )
        nxt = reduce(lambda a, b: ibis.least(a, b), candidates)
        return t.mutate(next_event=nxt).drop("_sid", "_st_next")

    def credit_kinds(self) -> frozenset[str]:
        """The kinds some version has a credit for."""
        return self.policy.credit_kinds

    def expiry(self, rule: CompiledRule, t: ir.Table) -> ir.DateValue | None:
        """The day the record expires under ``rule`` (None: never), in the backend's calendar."""
        if rule.expires_after is None:
            return None
        # The period's steps, order and rounding are credence.dates' (Period.on); the backend
        # only supplies month and day arithmetic.
        anchor = rule.expiry_anchor(t.occurred_on, t.effective_on)
        return rule.expires_after.on(anchor, IBIS_DATES).cast("date")

    def expiry_days(self, t: ir.Table) -> tuple[ir.DateValue, ir.DateValue]:
        """Per record (not of a credit kind), the days it expires under the rule of its
        stretch and under the rule in force at as_of, the earlier first (NULL for none)."""
        credits = self.credit_kinds()
        firsts: list[tuple[ir.BooleanValue, ir.DateValue]] = []
        lasts: list[tuple[ir.BooleanValue, ir.DateValue]] = []
        for s in self.branches():
            kind, rule = s.kind, s.rule
            if kind in credits:
                continue
            cond = _stretch(t.kind == kind, t.occurred_on, s.begin, s.until)
            days = [self.expiry(r, t) for r in self.policy.valuing_rules(kind, rule, self.cnow)]
            known = [d for d in days if d is not None]
            if len(known) == 2:
                firsts.append((cond, ibis.least(*known)))
                lasts.append((cond, ibis.greatest(*known)))
            elif known:
                firsts.append((cond, known[0]))
        none = ibis.null("date")
        return (
            ibis.cases(*firsts, else_=none) if firsts else none,
            ibis.cases(*lasts, else_=none) if lasts else none,
        )

    def may_matter(self, records: ir.Table, status: ir.Table) -> ir.Table:
        """``records`` without those that can no longer change any result, from as_of on.

        A record stays if it has an event to come (``with_next_event``), if its points under
        the rules that can value it are not yet gone (expired, or given way to a milder rule;
        whether it counts yet is not asked), or if it is of a credit kind (the replay flags
        count those whatever their points). Neither can come back before another version comes
        into force. A policy whose stage ladders can clamp keeps every record, as its replay
        flag weighs each record's worst value.
        """
        first, last = self.expiry_days(records)
        records = records.mutate(**dict(zip(EXPIRY_COLUMNS, (first, last), strict=True)))
        if self.clamping_ladders():
            return records
        t = self.with_next_event(records, status)
        credits = sorted(self.credit_kinds())
        keep: ir.BooleanValue = t.next_event.notnull()
        if credits:
            keep = keep | t.kind.isin(credits)
        for s in self.branches():
            cond = _stretch(t.kind == s.kind, t.occurred_on, s.begin, s.until)
            keep = keep | (cond & self.valued(s.version, s.rule, t)[0].notnull())
        return t.filter(keep).drop("next_event")

    # --- who needs the timeline replay ------------------------------------------------------

    def replay_flag(
        self, v: ir.Table
    ) -> tuple[dict[str, ir.Value], Callable[[ir.Table], ir.BooleanValue]]:
        """Aggregates and a test that flag subjects whose history could change the result.

        A clamp is set only when, on some day, the score reaches a stage beyond the lowest one
        whose notice is unserved, so at least the second rung. Each record can move the score
        at most by its most unfavourable value under any version, so a subject whose worst
        possible score (every record counting at that value, caps and scale applied, all
        monotone) stays short of the second rung of every clamping ladder never gets a clamp.
        Credits are decided by the replay, so a subject with a record of a credit kind is
        replayed too. Both look at every record of the subject, whether it counts today or not.
        """
        credits = sorted(self.credit_kinds())
        ladders = self.clamping_ladders()
        aggs: dict[str, ir.Value] = {}
        if credits:
            aggs["_credits"] = v.fk.count(where=v.fk.isin(self.codes(credits)))
        for n, version in enumerate(ladders):
            for cat in version.categories:
                worst = self.worst_points(version, cat, v)
                if worst is not None:
                    aggs[f"_w{n}_{cat}"] = worst.sum()

        def flag(per: ir.Table) -> ir.BooleanValue:
            conds: list[ir.BooleanValue] = []
            if credits:
                conds.append(per["_credits"].fill_null(0) > 0)
            for n, version in enumerate(ladders):
                assert version.stages is not None
                raws: dict[str, ir.IntegerValue] = {
                    c: (per[f"_w{n}_{c}"].fill_null(0) if f"_w{n}_{c}" in aggs else _BIGINT_ZERO)
                    for c in version.categories
                }
                _, worst_score = _score(version, raws)
                second = version.stages.ladder[1].threshold
                conds.append(version.reaches(worst_score, second))
            return reduce(lambda a, b: a | b, conds)

        if not credits and not ladders:
            return {}, flag
        if not aggs:
            aggs["_none"] = v.pts.count()
        return aggs, flag

    def clamping_ladders(self) -> list[CompiledVersion]:
        """Versions whose ladder can clamp (on_skip clamp, earlier notices required, 2+ rungs)."""
        return [ver for ver in self.policy.versions if ver.clamps]

    def worst_points(
        self, version: CompiledVersion, category: str, records: ir.Table
    ) -> ir.IntegerValue | None:
        """Per record, its most unfavourable possible value in ``category`` (0 if none)."""
        worst: dict[str, int] = {}
        by_amount: dict[str, list[CompiledRule]] = {}
        for v in self.policy.versions:
            for rule in v.rules.values():
                if rule.category != category:
                    continue
                if rule.unbounded:
                    # no bound without the amount: the record's own value under this rule
                    by_amount.setdefault(rule.kind, []).append(rule)
                    continue
                values = [0, *rule.point_values]
                bad = min(values) if version.higher_is_better else max(values)
                if bad != 0:
                    prev = worst.get(rule.kind, 0)
                    worst[rule.kind] = (
                        min(prev, bad) if version.higher_is_better else max(prev, bad)
                    )
        if not worst and not by_amount:
            return None
        pick = ibis.least if version.higher_is_better else ibis.greatest
        cases = []
        for kind in sorted(worst.keys() | by_amount.keys()):
            values = [_lit_int(worst.get(kind, 0))]
            values += [self.points(r, records).fill_null(0) for r in by_amount.get(kind, [])]
            value = values[0] if len(values) == 1 else pick(*values)
            cases.append((records.fk == self.kind_code[kind], value))
        return ibis.cases(*cases, else_=_lit_int(0))


def _stretch(
    kind: ir.BooleanValue, occurred: ir.DateValue, begin: date, until: date | None
) -> ir.BooleanValue:
    """A record of the kind ``kind`` tests, of an act within one rule's stretch [begin, until)."""
    cond = kind & (occurred >= ibis.literal(begin))
    return cond if until is None else cond & (occurred < ibis.literal(until))


def _banded(rule: CompiledRule, amount: ir.DecimalValue) -> ir.IntegerValue:
    """The points of the highest band whose lower bound the amount reaches (NULL below all)."""
    cases = [
        (amount >= ibis.literal(at_least, type=AMOUNT_TYPE), _lit_int(points))
        for at_least, points in reversed(rule.bands)
    ]
    return ibis.cases(*cases, else_=ibis.null("int64"))


def _per_unit(points: PerUnitPoints, amount: ir.DecimalValue) -> ir.IntegerValue:
    """``each`` times the whole units of the amount (none below one unit), held to the cap.

    A backend may divide decimals as doubles, so the quotient's floor is only a guess within
    one unit of the truth; the decimal products then settle it exactly.
    """
    per = ibis.literal(points.per, type=AMOUNT_TYPE)
    guess = (amount / per).floor().cast("int64")
    units = ibis.cases(
        (guess * per > amount, guess - 1),
        ((guess + 1) * per <= amount, guess + 1),
        else_=guess,
    )
    value = ibis.greatest(units, _BIGINT_ZERO) * _lit_int(points.each)
    if points.cap is not None:
        cap = _lit_int(points.cap)
        value = ibis.greatest(value, cap) if points.each < 0 else ibis.least(value, cap)
    # GREATEST and LEAST skip NULLs on some backends: no amount must stay "cannot place"
    return ibis.cases((amount.isnull(), ibis.null("int64")), else_=value)


def _same_act(v: ir.Table, rival: ir.Table, calendar: bool, amount: bool) -> ir.Table:
    """Of counted records of one act (same group, same day), keep only the heaviest.

    ``v`` holds every record and ``rival`` those of grouped kinds, both valued. Ties go to the
    lowest record id. Every record keeps its row from ``v``, with its points only if it is not
    in a group (so the replay flags and the calendar still see it, through ``fk`` and ``ev``);
    the winners come from ``rival`` with their points and ``fk`` of -1, so that nothing but
    the points is counted twice.
    """
    compete = rival.filter(rival.grp.notnull() & rival.pts.notnull())
    ranked = compete.mutate(
        _n=ibis.row_number().over(
            group_by=[compete.subject_id, compete.grp, compete.occurred_on],
            order_by=list(same_act_order(compete.pts, compete.record_id, IBIS_OPS)),
        )
    )
    tail: dict[str, ir.Value] = {"ev": ibis.null("date")} if calendar else {}
    if amount:
        tail["amount"] = ibis.null(AMOUNT_TYPE)
    winners = ranked.filter(ranked._n == 0).select(
        "subject_id", "kc", "pts", "cat", fk=_lit_int(-1), **tail
    )
    rest = v.select(
        "subject_id",
        "kc",
        pts=ibis.ifelse(v.grp.isnull(), v.pts, ibis.null("int64")),
        cat=v.cat,
        fk=v.kc,
        **({"ev": v.ev} if calendar else {}),
        **({"amount": v.amount.cast(AMOUNT_TYPE)} if amount else {}),
    )
    return rest.union(winners, distinct=False)


def _score(
    version: CompiledVersion, raws: dict[str, ir.IntegerValue]
) -> tuple[dict[str, ir.IntegerValue], ir.IntegerValue]:
    """Category totals and the score from raw category sums (semantic point 3), generated
    from the compiled version's own statement of its caps and formula."""
    if version.weighted:
        q, w, _ = version.weighting
        span = version.scale_max - version.scale_min
        if (2 * span + 1) * q * w >= _EXACT_LIMIT:
            raise EvaluationError(
                f"policy {version.source.id} {version.label}: the weighted model's common "
                f"denominator ({q * w}) is too large for exact batch arithmetic"
            )
    totals = {c.id: c.level_of(raws[c.id], version.weighted, IBIS_OPS) for c in version.caps}
    return totals, version.bounded_of(version.combine_of(totals, IBIS_OPS), IBIS_OPS)


def lasting_records(
    policy: PolicySet, records: ir.Table, status: ir.Table, as_of: date, known_at: date
) -> ir.Table:
    """The normalised ``records`` that may still change a result on or after ``as_of``, with
    their days of expiry (:data:`EXPIRY_COLUMNS`)."""
    return _Compiler(compile_policy(policy), as_of, known_at).may_matter(records, status)


def compile_plan(
    policy: PolicySet,
    records: ir.Table,
    status: ir.Table,
    as_of: date,
    known_at: date,
    *,
    calendar: bool = False,
) -> Plan:
    """Compile ``policy`` at (as_of, known_at) over normalised record and status tables.

    With ``calendar`` the result has a ``next_change`` column: the first day after as_of on
    which any record of the subject may change its result without new data.
    """
    return _Compiler(compile_policy(policy), as_of, known_at).plan(records, status, calendar)


class _IbisDates:
    """:class:`credence.dates.DateOps` on Ibis date columns: the backend's calendar arithmetic
    (a month step clamps the day to the month's end in DuckDB, PostgreSQL and Spark)."""

    def add_months(self, day: ir.Value, months: int) -> ir.Value:
        return day + ibis.interval(months=months)

    def add_days(self, day: ir.Value, days: int) -> ir.Value:
        return day + ibis.interval(days=days)

    def landed_short(self, moved: ir.Value, start: ir.Value) -> ir.Value:
        return moved.day() != start.day()

    def where(self, condition: ir.Value, then: ir.Value, otherwise: ir.Value) -> ir.Value:
        return ibis.ifelse(condition, then, otherwise)


IBIS_DATES: DateOps[ir.Value] = _IbisDates()


class _IbisOps:
    """:class:`credence.policy.compiled.Ops` on Ibis integer, string and boolean columns."""

    def lit(self, value: int) -> ir.Value:
        return _lit_int(value)

    def greatest(self, value: ir.Value, low: int) -> ir.Value:
        return ibis.greatest(value, _lit_int(low))

    def least(self, value: ir.Value, high: int) -> ir.Value:
        return ibis.least(value, _lit_int(high))

    def floor_div(self, num: ir.Value, den: int) -> ir.Value:
        # num >= 0, so floor division is (num - num mod den) / den; the quotient is exact even
        # where a backend divides in floating point, because both operands stay below 2**53.
        return ((num - num % den) / den).cast("int64")

    def abs(self, value: ir.Value) -> ir.Value:
        return value.abs()

    def desc(self, value: ir.Value) -> ir.Value:
        return ibis.desc(value)

    def isin(self, value: ir.Value, options: Sequence[str]) -> ir.Value:
        return value.isin(list(options))

    def all_of(self, conditions: Sequence[ir.Value]) -> ir.Value:
        return reduce(lambda a, b: a & b, conditions)

    def first(self, cases: Sequence[tuple[ir.Value, object]], otherwise: object) -> ir.Value:
        if not cases:
            return ibis.literal(otherwise)
        return ibis.cases(*((c, ibis.literal(v)) for c, v in cases), else_=ibis.literal(otherwise))


IBIS_OPS: Ops = _IbisOps()
