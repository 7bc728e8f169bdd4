"""The one check of text that comes in: no control characters in any field of a record.

Every way a record comes in (CSV, JSONL and Parquet files on both ingest paths, and the
agency API) reads its fields through :func:`credence.rows.fields.parse_row`, which asks
:func:`control_problem` of every text value. Refused: the C0 controls U+0000-U+001F (NUL,
which PostgreSQL cannot store in text, the tab, carriage return and line feed included), DEL
U+007F, the C1 controls U+0080-U+009F, and lone surrogates (which JSON can spell). They have no
place in an identifier, a kind or an evidence reference, and a portal or a terminal that shows
them can be misled by them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same characters as UTF-8 bytes, for the prescan of a whole file (see ingest.fast): the
# C0 controls but the line feed, DEL, and the lead byte of the C1 controls' two-byte form.
CONTROL_BYTES = bytes([*range(0x00, 0x0A), *range(0x0B, 0x20), 0x7F])
C1_BYTES = re.compile(rb"\xc2[\x80-\x9f]")


# The lone surrogates a file's undecodable bytes become when read with "surrogateescape".
UNDECODED = re.compile(r"[\udc80-\udcff]")


def control_problem(value: str) -> str | None:
    """Why a text value is refused (its first control character and where), or None."""
    found = CONTROL.search(value)
    if found is None:
        return None
    code = ord(found.group())
    # A lone surrogate is no character at all (JSON can spell one): no database stores it.
    what = "unpaired surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
    return f"contains {what} U+{code:04X} at character {found.start() + 1}"


def control_fields(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every text field of a row that :func:`control_problem` refuses, with its reason."""
    texts = [v for v in raw.values() if isinstance(v, str)]
    # One search over the row first: nearly every row has nothing to report.
    if not texts or CONTROL.search("".join(texts)) is None:
        return []
    return [
        (name, problem)
        for name, value in raw.items()
        if isinstance(value, str) and (problem := control_problem(value)) is not None
    ]


def has_control_bytes(chunk: bytes) -> bool:
    """True when UTF-8 bytes hold a control character other than the line feed."""
    if len(chunk.translate(None, CONTROL_BYTES)) != len(chunk):
        return True
    return b"\xc2" in chunk and C1_BYTES.search(chunk) is not None
