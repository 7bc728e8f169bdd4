"""What the reader thread prepares for the writer: digests, new subjects, inlined constants."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from credence.ingest.run import ingest_file
from credence.policy.load import loads_policy
from tests.ingest.helpers import NOW, records, subjects, write_csv
from tests.store.backends import Backend, policy_set


def _ingest(b: Backend, path: Path, **kw: object) -> object:
    return ingest_file(
        b.store,
        path,
        source="police",
        policy=policy_set(),
        actor="tester",
        now=NOW,
        **kw,  # type: ignore[arg-type]
    )


def _row(srid: str, nid: str) -> tuple[str, ...]:
    return ("police", srid, nid, "fine", "2025-03-01", "", "", "", "", "", "")


def _batches(b: Backend) -> list[dict[str, object]]:
    rows = b.rows("SELECT detail FROM audit_log WHERE action = 'ingest.batch' ORDER BY seq")
    return [json.loads(r[0]) for r in rows]


def _sha(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def test_batch_digests_name_exactly_the_records_written(backend: Backend, tmp_path: Path) -> None:
    first = [_row(f"D{i}", f"NID-{i % 3}") for i in range(6)]
    _ingest(backend, write_csv(tmp_path / "a.csv", first))
    # The second file repeats three stored records: its digest covers only the new ones.
    second = [_row(f"D{i}", f"NID-{i % 4}") for i in range(3, 9)]
    _ingest(backend, write_csv(tmp_path / "b.csv", second))
    one, two = _batches(backend)
    assert one["records_sha256"] == _sha(sorted(f"police:D{i}" for i in range(6)))
    assert (two["records"], two["duplicates"]) == (3, 3)
    assert two["records_sha256"] == _sha(sorted(f"police:D{i}" for i in range(6, 9)))


def test_a_subject_first_seen_on_a_repeated_row_is_stored(backend: Backend, tmp_path: Path) -> None:
    _ingest(backend, write_csv(tmp_path / "a.csv", [_row("S0", "NID-10"), _row("S1", "NID-9")]))
    # In the second run NID-10 first appears on a row stored already (its batch writes no
    # record), and then only on new records of later batches.
    rows = [_row("S0", "NID-10"), _row("S2", "NID-10"), _row("S3", "NID-10"), _row("S4", "NID-9")]
    summary = _ingest(backend, write_csv(tmp_path / "b.csv", rows), batch_size=1)
    assert (summary.accepted, summary.duplicates) == (3, 1)  # type: ignore[attr-defined]
    keys = backend.store.keys
    stored = {s[0] for s in subjects(backend)}
    assert stored == {keys.subject_id("NID-9"), keys.subject_id("NID-10")}
    assert {r[0] for r in records(backend)} == {f"police:S{i}" for i in range(5)}


QUOTED_POLICY = """
id: quoted
version: "1"
effective_from: 2020-01-01
scale: {base: 100, min: 0, max: 200}
grades: [{grade: C, min: 0, max: 200}]
categories: [{id: main}]
rules:
  - {kind: fine, category: main, points: -10, expires_after: P2Y, legal_basis: "s.1",
     sources: ["o'hara"], data_category: administrative}
"""


def test_a_source_with_a_quote_is_stored_as_given(backend: Backend, tmp_path: Path) -> None:
    rows = [
        ("o'hara", f"Q{i}", f"NID-{i}", "fine", "2025-03-01", "", "", "", "", "", "")
        for i in range(3)
    ]
    path = write_csv(tmp_path / "q.csv", rows)
    for bulk in (True, False):
        ingest_file(
            backend.store,
            path,
            source="o'hara",
            policy=loads_policy(QUOTED_POLICY),
            actor="tester",
            now=NOW,
            bulk_load=bulk,
        )
    stored = [(r[0], r[1], r[2]) for r in records(backend)]
    assert stored == [(f"o'hara:Q{i}", "o'hara", f"Q{i}") for i in range(3)]


def test_a_bulk_load_meets_a_subject_stored_already(backend: Backend, tmp_path: Path) -> None:
    keys = backend.store.keys
    # A subject without records (say, an identity registered first): the load is still a
    # bulk load, and its subjects go in whether or not they exist.
    backend.execute(
        "INSERT INTO subjects (subject_id, kind, created_at) VALUES "
        f"('{keys.subject_id('NID-3')}', 'person', '2025-01-01T00:00:00.000000Z')"
    )
    rows = [_row(f"E{i}", f"NID-{i}") for i in range(6)]
    summary = _ingest(backend, write_csv(tmp_path / "e.csv", rows), batch_size=2)
    assert summary.accepted == 6  # type: ignore[attr-defined]
    start = backend.rows("SELECT detail FROM audit_log WHERE action = 'ingest.start'")
    assert '"bulk_load":true' in start[0][0]
    assert {s[0] for s in subjects(backend)} == {keys.subject_id(f"NID-{i}") for i in range(6)}
    assert len(records(backend)) == 6


def test_blank_optional_fields_are_stored_as_null(backend: Backend, tmp_path: Path) -> None:
    # More rows than one INSERT statement takes, in batches that end with a shorter statement.
    rows = [
        (
            "police",
            f"N{i:03d}",
            f"NID-{i % 7}",
            "fine",
            "2025-03-01",
            "",
            "",
            "" if i % 2 else f"{i}.5",
            "" if i % 3 else f"doc://{i}",
            "",
            "",
        )
        for i in range(250)
    ]
    # Spaces around a field send the row through the row-by-row reader.
    rows.append(("police", "N999", "NID-1", "fine", "2025-03-01", "", "", " 7 ", "  ", "", ""))
    _ingest(backend, write_csv(tmp_path / "a.csv", rows), batch_size=230)
    stored = {
        r[0]: (None if r[1] is None else str(r[1]), r[2])
        for r in backend.rows("SELECT source_record_id, amount, evidence_ref FROM records")
    }
    expected = {
        f"N{i:03d}": (None if i % 2 else f"{i}.5", None if i % 3 else f"doc://{i}")
        for i in range(250)
    }
    expected["N999"] = ("7", None)
    assert stored == expected
