"""The series over time, with each subject's records read once, equals one plain batch a month."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from credence.compute import analytics as an
from credence.compute import batch
from credence.policy import library
from credence.store.db import Store
from tests.store.backends import BACKENDS, SECRET, open_backend
from tests.web.test_analytics import AUDITOR, TODAY, four_people


@pytest.fixture(params=BACKENDS)
def four(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The four people's store (one of them with a credit, so replayed) on each backend."""
    for b in open_backend(request.param, tmp_path / "data", SECRET):
        four_people(b.store, tmp_path)
        yield b.store


def test_the_series_equals_a_plain_batch_run_per_month(four: Store) -> None:
    policy = library.resolve("city-merit")
    f = an.compute(four, policy, TODAY, AUDITOR)
    days = [date.fromisoformat(r[0]) for r in f.tables["grades-over-time"].rows]
    assert days == [date(2026, m, 1) for m in range(1, 8)] + [TODAY]
    with an.store_source(four) as plain, an.store_source(four) as read:
        once = an.remembered(read)
        replayed = 0
        for day in days:
            expected = batch.score_batch(policy, plain, day, TODAY)
            got = batch.score_batch(policy, once, day, TODAY)
            assert got.table is not None and expected.table is not None
            assert got.table.to_pylist() == expected.table.to_pylist()
            replayed += expected.replayed
            row = f.tables["grades-over-time"].rows[days.index(day)]
            counts = Counter(expected.grades)
            assert row == (day.isoformat(), *(counts[g] for g in f.grades), expected.subjects)
    # The subject with a credit is replayed in the months after it, so the kept records served.
    assert replayed >= 3
    assert isinstance(once, an._Remembered) and len(once.kept[TODAY]) == 1
