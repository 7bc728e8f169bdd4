"""Evaluated explanations, remembered while their inputs stay the same.

An explanation is a pure function of the policy (fixed for an application), the subject's
records with their status histories, the due-process decisions on record, and the two dates.
The inputs are read from the store on every request anyway (they are what the read is about);
only the evaluation, which costs milliseconds, is skipped when the inputs read now are equal
to those the remembered result was computed from. A new record, a correction, a revocation, a
served notice or an approved measure changes the inputs and so is never answered from memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from typing import Any

from credence.engine.timeline import Decisions
from credence.records import Record

Key = tuple[str, date, date]
Inputs = tuple[tuple[Record, ...], tuple[str, ...]]


def _inputs(records: Sequence[Record]) -> Inputs:
    # Decimal("1.0") == Decimal("1.00"), but an explanation may print the amount: compare the
    # amounts' texts too, so that equal inputs always mean the same output.
    return tuple(records), tuple(str(r.amount) for r in records)


class Explanations:
    """A bounded, least-recently-used memory of explanations by subject and dates."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._memory: OrderedDict[Key, tuple[Inputs, Decisions, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key, records: Sequence[Record], decisions: Decisions) -> Any | None:
        """The result remembered for ``key`` if it came from exactly these inputs, else None."""
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
        if hit is not None and hit[0] == _inputs(records) and hit[1] == decisions:
            self.hits += 1
            return hit[2]
        self.misses += 1
        return None

    def put(self, key: Key, records: Sequence[Record], decisions: Decisions, result: Any) -> None:
        """Remember the result computed from these inputs (the caller must not change it)."""
        with self._lock:
            self._memory[key] = (_inputs(records), decisions, result)
            self._memory.move_to_end(key)
            while len(self._memory) > self.size:
                self._memory.popitem(last=False)
