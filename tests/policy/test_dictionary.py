"""Code dictionaries: record kinds defined once per scheme family; the linter checks a policy
against its dictionary and ingest quarantines a code it does not know or an agency it does not
allow, with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from credence.errors import PolicyError
from credence.ingest.run import ingest_file
from credence.policy import library
from credence.policy.dictionary import CODES, bundled, dictionary_for, named
from credence.policy.lint import lint
from credence.policy.load import loads_policy
from tests.ingest.helpers import NOW, quarantine, records, write_csv
from tests.store.backends import Backend, sqlite_backend

DOCS = Path(__file__).parents[2] / "docs"
__all__ = ["sqlite_backend"]


@pytest.mark.parametrize("name", library.names())
def test_every_bundled_policy_takes_its_kinds_from_a_dictionary(name: str) -> None:
    pol = library.resolve(name)
    found = dictionary_for(pol)
    assert found is not None and pol.id in found.policies
    for v in pol.versions:
        for rule in (*v.rules, *v.credits):
            code = found.get(rule.kind)
            assert code is not None, rule.kind
            assert set(rule.sources) <= set(code.agencies), rule.kind
    assert [f for f in lint(pol) if f.code in CODES] == []


def test_an_edited_copy_of_a_bundled_policy_is_not_held_to_its_dictionary() -> None:
    text = library.path_of("licence-demerit").read_text()
    assert dictionary_for(loads_policy(text, "copy.yaml")) is None


POLICY = """\
id: own
version: "1"
effective_from: 2026-01-01
direction: higher_is_worse
dictionary: {family}
scale: {{base: 0, min: 0, max: 30}}
grades: [{{grade: all, min: 0, max: 30}}]
categories: [{{id: road_traffic}}]
rules:
  - {{kind: traffic.offence_minor, title: Minor, category: road_traffic, points: 1, expires_after: P900D, legal_basis: "Road Traffic Act s. 4(2) no. 3", sources: [traffic_authority], data_category: traffic}}
  - {{kind: {kind}, title: Other, category: road_traffic, points: 2, expires_after: P900D, legal_basis: "Road Traffic Act s. 4(2) no. 2", sources: [{source}], data_category: traffic}}
"""


def dictionary_codes(family: str, kind: str, source: str) -> list[tuple[str, str, str]]:
    pol = loads_policy(POLICY.format(family=family, kind=kind, source=source), "own.yaml")
    return [(f.code, f.severity, f.message) for f in lint(pol) if f.code in CODES]


def test_a_policy_naming_its_dictionary_is_clean_when_it_keeps_to_it() -> None:
    assert dictionary_codes("road-traffic-de", "traffic.offence_serious", "court") == []


def test_cr030_a_kind_that_is_not_a_code_of_the_dictionary() -> None:
    assert dictionary_codes("road-traffic-de", "traffic.parking", "court") == [
        (
            "CR030",
            "error",
            "record kind 'traffic.parking' is not a code of dictionary road-traffic-de 2026.1 "
            "[version 1]",
        )
    ]


def test_cr031_a_source_the_dictionary_does_not_allow() -> None:
    assert dictionary_codes("road-traffic-de", "traffic.offence_criminal", "traffic_authority") == [
        (
            "CR031",
            "error",
            "rule 'traffic.offence_criminal' lets ['traffic_authority'] report it; dictionary "
            "road-traffic-de 2026.1 allows only ['court'] [version 1]",
        )
    ]


def test_cr032_an_unknown_dictionary() -> None:
    [(code, severity, message)] = dictionary_codes("road-traffic-xx", "traffic.parking", "court")
    assert (code, severity) == ("CR032", "error")
    assert message.startswith("no code dictionary 'road-traffic-xx' (bundled: commercial-credit,")


def test_agency_codes_translate_through_the_two_mappings() -> None:
    ny, city = named("road-traffic-ny"), named("municipal-merit")
    assert ny is not None and city is not None
    assert ny.translate("acd-style", "S10") == "traffic.speeding"
    assert city.translate("city-points-table", "L-02") == "legal.judgment_unfulfilled"
    with pytest.raises(PolicyError, match="unknown code 'Z99'"):
        ny.translate("acd-style", "Z99")
    with pytest.raises(PolicyError, match="no code list 'aamva'"):
        ny.translate("aamva", "S10")


def test_every_mapping_points_at_a_code_of_its_dictionary() -> None:
    for d in bundled():
        for m in d.mappings:
            assert all(d.get(code) is not None for code in m.codes.values())


def test_ingest_quarantines_an_unknown_code_and_a_disallowed_agency(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    rows = [
        (
            "traffic_authority",
            "T1",
            "NID-1",
            "traffic.offence_minor",
            "2026-03-01",
            "",
            "",
            "",
            "",
            "",
            "",
        ),
        (
            "traffic_authority",
            "T2",
            "NID-1",
            "traffic.parking",
            "2026-03-01",
            "",
            "",
            "",
            "",
            "",
            "",
        ),
        (
            "traffic_authority",
            "T3",
            "NID-2",
            "traffic.offence_criminal",
            "2026-03-01",
            "",
            "",
            "",
            "",
            "",
            "",
        ),
    ]
    path = write_csv(tmp_path / "authority.csv", rows)
    ingest_file(
        sqlite_backend.store,
        path,
        source="traffic_authority",
        policy=library.resolve("licence-demerit"),
        actor="tester",
        now=NOW,
    )
    assert [r[0] for r in records(sqlite_backend)] == ["traffic_authority:T1"]
    assert quarantine(sqlite_backend) == [
        (3, "kind", "'traffic.parking' is not a code of dictionary road-traffic-de 2026.1"),
        (
            4,
            "source",
            "'traffic_authority' may not report 'traffic.offence_criminal': dictionary "
            "road-traffic-de 2026.1 allows court",
        ),
    ]


def test_the_dictionary_codes_and_field_are_documented() -> None:
    text = (DOCS / "policy-language.md").read_text()
    assert [c for c in CODES if c not in text] == []
    assert "`dictionary`" in text


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_ingest_holds_a_policy_to_its_dictionary_even_where_its_rules_stray(
    sqlite_backend: Backend, tmp_path: Path, fmt: str
) -> None:
    """A policy with a rule outside its dictionary (CR030) still cannot store such a code:
    the row-by-row check and the columnar fast path both refuse it."""
    from tests.ingest.helpers import write_parquet

    pol = loads_policy(
        POLICY.format(family="road-traffic-de", kind="traffic.parking", source="court"), "own.yaml"
    )
    rows = [
        ("court", "C1", "NID-1", "traffic.parking", "2026-03-01", "", "", "", "", "", ""),
        ("court", "C2", "NID-1", "traffic.parking", "2026-03-02", "", "", "", "", "", ""),
    ]
    write = write_csv if fmt == "csv" else write_parquet
    path = write(tmp_path / f"court.{fmt}", rows)
    ingest_file(sqlite_backend.store, path, source="court", policy=pol, actor="tester", now=NOW)
    assert records(sqlite_backend) == []
    reason = "'traffic.parking' is not a code of dictionary road-traffic-de 2026.1"
    first = 2 if fmt == "csv" else 1  # a CSV's first row is line 2, under its header
    assert quarantine(sqlite_backend) == [(first, "kind", reason), (first + 1, "kind", reason)]
