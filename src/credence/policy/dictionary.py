"""Code dictionaries: the record kinds a scheme family's agencies may report, defined once.

A dictionary (a YAML file per scheme family, versioned) lists every code with its description,
legal basis, unit, severity and the agencies allowed to report it, and may carry mappings from
an agency's own code list (``S10`` in a court's conviction codes) to its codes. A policy takes
its record kinds from a dictionary: named by its ``dictionary`` field, or, for the bundled
policies as shipped, by the dictionary's ``policies`` list. The linter checks the policy against it
(:func:`check`), and ingest refuses a code the dictionary does not know or an agency reporting
a code it may not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credence.errors import PolicyError
from credence.policy import library
from credence.policy.load import PolicySet

BUNDLED = Path(__file__).parent / "dictionaries"

CODES: dict[str, str] = {
    "CR030": "record kind not in the policy's code dictionary",
    "CR031": "source not allowed by the code dictionary",
    "CR032": "code dictionary not found",
}
"""The lint codes of :func:`check` (errors: the linter refuses such a policy)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Strict):
    """One code: what it records, under which law, in which unit, and who may report it."""

    code: str
    description: str
    legal_basis: str
    unit: str = Field(description="What one record counts: `event`, or the amount's unit.")
    severity: Literal["adverse", "favourable", "neutral"]
    agencies: list[str] = Field(min_length=1)


class Mapping(_Strict):
    """An external code list (an agency's own codes) and the dictionary code each stands for."""

    list: str
    title: str
    note: str = ""
    codes: dict[str, str]


class Dictionary(_Strict):
    """One version of a scheme family's code dictionary."""

    family: str
    title: str
    version: str
    effective_from: date
    policies: list[str] = Field(default_factory=list)
    codes: list[Code] = Field(min_length=1)
    mappings: list[Mapping] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Dictionary:
        seen: set[str] = set()
        problems = []
        for c in self.codes:
            if c.code in seen:
                problems.append(f"code {c.code!r} is defined twice")
            seen.add(c.code)
        for m in self.mappings:
            problems += [
                f"mapping {m.list!r}: {ext!r} maps to {code!r}, which is not a code here"
                for ext, code in m.codes.items()
                if code not in seen
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def label(self) -> str:
        """``family version`` as people read it."""
        return f"{self.family} {self.version}"

    def get(self, code: str) -> Code | None:
        """The code, if the dictionary has it."""
        return next((c for c in self.codes if c.code == code), None)

    def translate(self, list_name: str, external: str) -> str:
        """The dictionary code an agency's own ``external`` code of ``list_name`` stands for."""
        mapping = next((m for m in self.mappings if m.list == list_name), None)
        if mapping is None:
            known = ", ".join(m.list for m in self.mappings) or "none"
            raise PolicyError(self.label, [("mappings", f"no code list {list_name!r} ({known})")])
        if external not in mapping.codes:
            raise PolicyError(self.label, [(f"mappings.{list_name}", f"unknown code {external!r}")])
        return mapping.codes[external]

    def refusal(self, kind: str, source: str) -> tuple[str, str] | None:
        """Why ``source`` may not report ``kind`` under this dictionary (field, reason), or None."""
        code = self.get(kind)
        if code is None:
            return ("kind", f"{kind!r} is not a code of dictionary {self.label}")
        if source not in code.agencies:
            return (
                "source",
                f"{source!r} may not report {kind!r}: dictionary {self.label} allows "
                f"{', '.join(code.agencies)}",
            )
        return None


def load_dictionary(path: Path) -> Dictionary:
    """Read one dictionary file; a :class:`PolicyError` names every problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Dictionary.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(str(path), [("", str(exc))]) from None
    except ValidationError as exc:
        raise PolicyError(
            str(path),
            [(".".join(str(p) for p in e["loc"]) or "", e["msg"]) for e in exc.errors()],
        ) from None


@cache
def bundled() -> tuple[Dictionary, ...]:
    """The bundled dictionaries, read once."""
    return tuple(load_dictionary(p) for p in sorted(BUNDLED.glob("*.yaml")))


def named(family: str) -> Dictionary | None:
    """The bundled dictionary of ``family``."""
    return next((d for d in bundled() if d.family == family), None)


def dictionary_for(policy: PolicySet) -> Dictionary | None:
    """The dictionary a policy takes its kinds from: its ``dictionary`` field, else, for a
    bundled policy read from the library, the bundled dictionary that lists it; None when it has
    none (a policy of its own kinds)."""
    family = policy.latest.dictionary
    if family is not None:
        return named(family)
    # A bundled policy as shipped (read from its library file, not an edited copy).
    return next(
        (d for d in bundled() for n in d.policies if _same_file(policy.source, n)),
        None,
    )


def _same_file(source: str, name: str) -> bool:
    return Path(source).resolve() == library.path_of(name).resolve()


def check(policy: PolicySet) -> Iterator[tuple[str, str, str]]:
    """Every (code, location, message) where the policy departs from its dictionary."""
    family = policy.latest.dictionary
    found = dictionary_for(policy)
    if found is None:
        if family is not None:
            known = ", ".join(d.family for d in bundled())
            where = policy.locate(policy.latest.version, "dictionary")
            yield ("CR032", where, f"no code dictionary {family!r} (bundled: {known})")
        return
    for v in policy.versions:
        for section, rules in (("rules", v.rules), ("credits", v.credits)):
            for rule in rules:
                where = policy.locate(v.version, section, rule.kind)
                code = found.get(rule.kind)
                if code is None:
                    yield (
                        "CR030",
                        where,
                        f"record kind {rule.kind!r} is not a code of dictionary {found.label} "
                        f"[version {v.version}]",
                    )
                    continue
                extra = [s for s in rule.sources if s not in code.agencies]
                if extra:
                    yield (
                        "CR031",
                        where,
                        f"rule {rule.kind!r} lets {extra} report it; dictionary {found.label} "
                        f"allows only {code.agencies} [version {v.version}]",
                    )
