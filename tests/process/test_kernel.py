"""The kernel's bound on what a subject's records can ever bring (hand-computed on the scheme)."""

from __future__ import annotations

import pytest

from credence.policy.compiled import compile_policy
from credence.process.kernel import may_issue, reach_of
from tests.process.test_lifecycle import scheme


def test_value_ranges_per_kind_and_category() -> None:
    reach = reach_of(compile_policy(scheme()))
    assert reach.ranges == {
        "minor": {"conduct": (0, 1)},
        "major": {"conduct": (0, 3)},
        "debt": {"conduct": (0, 0)},
        "paid": {"conduct": (0, 0)},
        "course": {"conduct": (-2, 0)},
    }


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([], False),  # a score of 0 at most: short of the reminder at 4
        (["minor"] * 3, False),  # 3 points at most
        (["minor"] * 4, True),  # 4 points reach the reminder
        (["major"], False),
        (["major", "minor"], True),
        (["paid", "paid", "minor"], False),
        (["debt"], True),  # the debtors' list enters on a debt, whatever the score
        (["course", "major"], False),  # a credit helps, if accepted: 3 points at most
        (["course", "major", "minor"], True),
        (["major"] * 10, True),
    ],
)
def test_may_issue_on_the_scheme(kinds: list[str], expected: bool) -> None:
    assert may_issue(reach_of(compile_policy(scheme())), kinds) is expected
