"""CSV that a spreadsheet opens as data: text that would start a formula is neutralised.

OWASP's rule for CSV injection: a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is read by spreadsheets as a formula (which can run commands or leak data), so
it is written with a single quote before it; the quote shows, and the value reads as text.
A value that is a number stays as it is (``-12.50`` is a negative amount, not a formula):
non-text values, and text that is a plain decimal number (``-3``, ``+1.5``, ``-2e3``), are
written unchanged. Every CSV the project writes goes through :func:`writer`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """A value as a cell a spreadsheet will not run: text that starts a formula gets a quote."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and NUMBER.fullmatch(value) is None
    ):
        return "'" + value
    return value


class SafeWriter:
    """A ``csv.writer`` whose every cell goes through :func:`cell`."""

    def __init__(self, handle: Any, **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, values: Iterable[Any]) -> Any:
        """Write one row."""
        return self._writer.writerow([cell(v) for v in values])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write many rows."""
        for values in rows:
            self.writerow(values)


def writer(handle: Any, **options: Any) -> SafeWriter:
    """A CSV writer (``csv.writer``'s options) that neutralises formula-leading text."""
    return SafeWriter(handle, **options)
