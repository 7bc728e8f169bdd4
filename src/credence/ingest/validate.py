"""Validating rows against a policy: known kind, authorised source, a version in force, no future.

The file reader (:mod:`credence.ingest.formats`) checks types and dates; this module adds what
needs the policy and the clock. A :class:`Candidate` is a parsed row with its dates as ISO text,
the form both the row-by-row reader and the columnar fast path produce, and the form the bulk
writers load.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import Any, NamedTuple

from credence.policy.dictionary import dictionary_for
from credence.policy.load import PolicySet
from credence.records import Record, StatusChange
from credence.sql.columns import instant_text


class Candidate(NamedTuple):
    """A well-formed row that still has to pass the policy checks."""

    line: int
    record_id: str | None
    source: str
    source_record_id: str
    national_id: str
    kind: str
    occurred_on: str
    effective_on: str
    recorded_at: str
    amount: str | None
    evidence_ref: str | None
    history: tuple[StatusChange, ...]

    @classmethod
    def of_record(cls, line: int, record: Record, *, national_id: str | None = None) -> Candidate:
        """A candidate from a parsed record (whose ``subject_id`` is the national id)."""
        return cls(
            line=line,
            record_id=record.record_id,
            source=record.source,
            source_record_id=record.source_record_id,
            national_id=record.subject_id if national_id is None else national_id,
            kind=record.kind,
            occurred_on=record.occurred_on.isoformat(),
            effective_on=record.effective_on.isoformat(),
            recorded_at=instant_text(record.recorded_at),
            amount=None if record.amount is None else str(record.amount),
            evidence_ref=record.evidence_ref,
            history=record.history,
        )

    @property
    def key(self) -> str:
        """The record id the store gives it: ``source:source_record_id``."""
        return f"{self.source}:{self.source_record_id}"


Problem = tuple[str, str]


class Validator:
    """The policy and clock checks for rows reported by one source."""

    def __init__(self, policy: PolicySet, source: str, now: datetime) -> None:
        self.policy = policy
        self.source = source
        self.today = now.date().isoformat()
        self.now = instant_text(now)
        self.starts = [v.effective_from.isoformat() for v in policy.versions]
        self.kinds = policy.all_kinds
        self.dictionary = dictionary_for(policy)
        self._rules: dict[tuple[str, str, int, str], Problem | None] = {}

    def check(self, c: Candidate) -> list[Problem]:
        """Every policy or clock problem of a row (empty when it may be stored)."""
        problems: list[Problem] = []
        if ":" in c.source:
            problems.append(("source", f"{c.source!r} must not contain ':'"))
        if c.record_id is not None and c.record_id != c.key:
            problems.append(
                ("record_id", f"{c.record_id!r} must be empty or source:source_record_id")
            )
        if c.source != self.source:
            problems.append(
                ("source", f"row says {c.source!r} but the file is ingested as {self.source!r}")
            )
        # The dates follow one another (effective_on defaults to occurred_on, recorded_at to
        # effective_on), so only the first one in the future is reported.
        if c.occurred_on > self.today:
            problems.append(("occurred_on", f"{c.occurred_on} is in the future"))
        elif c.effective_on > self.today:
            problems.append(("effective_on", f"{c.effective_on} is in the future"))
        elif c.recorded_at > self.now:
            problems.append(("recorded_at", f"{c.recorded_at} is in the future"))
        for i, change in enumerate(c.history):
            if instant_text(change.at) > self.now:
                problems.append(
                    (f"status_history[{i}]", f"{change.at.isoformat()} is in the future")
                )
        # The code dictionary first: its reason names the authority that defines the codes.
        refused = self.dictionary.refusal(c.kind, c.source) if self.dictionary else None
        if refused is not None:
            problems.append(refused)
            return problems
        if c.kind not in self.kinds:
            problems.append(("kind", f"{c.kind!r} is not a kind of policy {self.policy.id}"))
            return problems
        index = bisect_right(self.starts, c.occurred_on)
        # The reasons name the date, so it is part of the key (dates per file are few).
        key = (c.kind, c.source, index, c.occurred_on)
        if key not in self._rules:
            self._rules[key] = self._rule_problem(c.kind, c.source, c.occurred_on, index)
        problem = self._rules[key]
        if problem is not None:
            problems.append(problem)
        return problems

    def _rule_problem(self, kind: str, source: str, occurred_on: str, index: int) -> Problem | None:
        if index == 0:
            return (
                "occurred_on",
                f"no version of policy {self.policy.id} was in force on {occurred_on}",
            )
        version = self.policy.versions[index - 1]
        rule = version.rule_for(kind)
        if rule is None:
            return (
                "kind",
                f"{kind!r} has no rule in {self.policy.id} version {version.version}, "
                f"in force on {occurred_on}",
            )
        if source not in rule.sources:
            allowed = ", ".join(rule.sources) or "none"
            return (
                "source",
                f"{source!r} may not report {kind!r} under {self.policy.id} version "
                f"{version.version} (authorised: {allowed})",
            )
        return None

    def _in_dictionary(self, kind: str) -> bool:
        """True when the dictionary (if any) lets this file's source report ``kind``."""
        return self.dictionary is None or self.dictionary.refusal(kind, self.source) is None

    def passes(self, table: Any) -> Any:
        """Which rows of a fast-path table :meth:`check` would surely pass, computed by column.

        ``table`` has the columns of :data:`credence.ingest.fast.COLUMNS` (no status history, the
        record id is the key). A row marked True has no problem; a row marked False may have
        some, and is checked by :meth:`check`, which words the reasons. The policy versions are
        looked up once per distinct date, and the kind and source once per version: a join of
        the rows against the small table of what the policy authorises this source to report.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        n = table.num_rows
        if n == 0 or ":" in self.source:
            return pa.array([False] * n, pa.bool_())
        occurred = table.column("occurred_on")
        ok = pc.and_(
            pc.equal(table.column("source"), self.source),
            pc.less_equal(occurred, self.today),
        )
        ok = pc.and_(ok, pc.less_equal(table.column("effective_on"), self.today))
        ok = pc.and_(ok, pc.less_equal(table.column("recorded_at"), self.now))
        # The policy version in force on each row's date: bisect once per distinct date.
        days = pc.unique(occurred)
        index_of_day = pa.array(
            [bisect_right(self.starts, d) for d in days.to_pylist()], pa.int32()
        )
        index = pc.take(index_of_day, pc.index_in(occurred, value_set=days))
        allowed = pa.array([False] * n, pa.bool_())
        kinds = table.column("kind")
        for i in range(1, len(self.starts) + 1):
            authorised = [
                k
                for k in self.kinds
                if self._rule_problem(k, self.source, "", i) is None and self._in_dictionary(k)
            ]
            if not authorised:
                continue
            here = pc.and_(
                pc.equal(index, i), pc.is_in(kinds, value_set=pa.array(authorised, pa.string()))
            )
            allowed = pc.or_(allowed, here)
        return pc.fill_null(pc.and_(ok, allowed), False)
