"""Reading policy files: YAML with exact locations in every error, versions in force by date.

A policy file holds one version (``id``, ``version``, ``effective_from`` at the top) or several
under ``versions:``. In a multi-version file each version inherits the previous version's
fields; ``rules`` and ``credits`` merge by ``kind`` (``remove_rules`` drops kinds), every other
field is replaced whole. A folder holds one or more such files of the same policy.

A policy file may come from someone hostile (the web lab takes uploads), so it is read with
limits, each refused with a code and the line: :data:`MAX_BYTES` (CR101), no YAML aliases, which
would let 348 bytes expand to billions of nodes (CR102), :data:`MAX_DEPTH` levels of nesting
(CR103) and :data:`MAX_NODES` nodes (CR104).
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from credence.errors import PolicyError
from credence.policy.model import PolicyVersion, TestCase

Path_ = tuple[str | int, ...]
_MERGED = ("rules", "credits")
_HEADER = ("id", "title", "description", "versions", "tests")

MAX_BYTES = 1024 * 1024
"""The largest policy file read; the biggest bundled policy is under 20 KiB."""
MAX_DEPTH = 64
"""The deepest nesting of mappings and lists; a policy needs fewer than 10 levels."""
MAX_NODES = 200_000
"""The most YAML nodes (scalars, lists, mappings) in one file."""
LIMIT_CODES: dict[str, str] = {
    "CR101": "policy file too large",
    "CR102": "YAML alias",
    "CR103": "nested too deep",
    "CR104": "too many YAML nodes",
}


@dataclass(frozen=True)
class PolicySet:
    """All versions of one policy, ordered by ``effective_from``, and its embedded tests."""

    id: str
    versions: tuple[PolicyVersion, ...]
    tests: tuple[TestCase, ...] = ()
    source: str = "<memory>"
    locations: dict[tuple[str, str, str], str] = field(default_factory=dict, compare=False)
    _starts: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(v.effective_from for v in self.versions))

    def locate(self, version: str, section: str, key: str = "") -> str:
        """``file:line:col`` where an element of a version was written (the file if unknown)."""
        return self.locations.get(
            (version, section, key), self.locations.get((version, section, ""), self.source)
        )

    def version_at(self, day: date) -> PolicyVersion | None:
        """The version in force on ``day`` (the latest that started on or before it)."""
        i = bisect_right(self._starts, day)
        return self.versions[i - 1] if i else None

    @property
    def latest(self) -> PolicyVersion:
        """The version with the latest ``effective_from``."""
        return self.versions[-1]

    @cached_property
    def all_kinds(self) -> frozenset[str]:
        """Every record kind that some version has a rule for."""
        return frozenset(r.kind for v in self.versions for r in (*v.rules, *v.credits))

    @classmethod
    def of(cls, *versions: PolicyVersion, tests: tuple[TestCase, ...] = ()) -> PolicySet:
        """Build a set from version objects (used by tests and generators)."""
        ordered = tuple(sorted(versions, key=lambda v: v.effective_from))
        return cls(id=ordered[0].id, versions=ordered, tests=tests or _tests_of(ordered))


def _tests_of(versions: tuple[PolicyVersion, ...]) -> tuple[TestCase, ...]:
    return tuple(t for v in versions for t in v.tests)


def load_policy(path: str | Path) -> PolicySet:
    """Load a policy file or folder; raise :class:`PolicyError` listing every problem."""
    p = Path(path)
    if p.is_dir():
        files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        if not files:
            raise PolicyError(str(p), [("", "folder holds no .yaml policy files")])
        docs = [_read_file(f) for f in files]
    elif p.exists():
        docs = [_read_file(p)]
    else:
        raise PolicyError(str(p), [("", "no such file or folder")])
    return _assemble(str(p), docs)


def loads_policy(text: str, name: str = "<string>") -> PolicySet:
    """Load a policy from YAML text (same rules and errors as :func:`load_policy`)."""
    return _assemble(name, [_parse(text, name)])


@dataclass
class _Doc:
    name: str
    data: Any
    marks: dict[Path_, tuple[int, int]]

    def where(self, path: Path_) -> str:
        """``file:line:col`` of the deepest known node on ``path``."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark:
                return f"{self.name}:{mark[0]}:{mark[1]}"
        return self.name


class _Refused(Exception):
    """A limit of :class:`_Limited` was crossed at ``mark``."""

    def __init__(self, mark: Any, code: str, message: str) -> None:
        self.mark = mark
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class _Limited(yaml.SafeLoader):
    """The safe loader, refusing aliases and counting nesting depth and nodes as it composes.

    Refusing the alias event itself means that nothing ever expands one, and counting in
    ``compose_node`` stops a deep or huge file after at most the limit's nodes were read.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node within the limits (the parser's own method, bounded)."""
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                event.start_mark,
                "CR102",
                f"YAML aliases are not allowed in a policy (*{event.anchor}): "
                "write the value out where it is needed",
            )
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(event.start_mark, "CR103", f"nested deeper than {MAX_DEPTH} levels")
        if self._nodes > MAX_NODES:
            raise _Refused(event.start_mark, "CR104", f"more than {MAX_NODES} YAML nodes")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> date:
        """Read a YAML date, refusing a day the calendar lacks with its line (not a raw error)."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"not a date: {node.value} ({exc})", node.start_mark
            ) from None


_Limited.add_constructor("tag:yaml.org,2002:timestamp", _Limited.construct_yaml_timestamp)


def _too_large(size: int, name: str, text: str = "") -> PolicyError:
    line = text.encode("utf-8")[:MAX_BYTES].count(b"\n") + 1 if text else 1
    return PolicyError(
        name,
        [
            (
                f"{name}:{line}:1",
                f"CR101 error: the file is {size} bytes, more than the limit of {MAX_BYTES} "
                "bytes for a policy",
            )
        ],
    )


def _read_file(path: Path) -> _Doc:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _too_large(size, str(path))
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PolicyError(
            str(path),
            [(f"{path}:{line}:{column}", f"not UTF-8 text: byte {exc.start} ({exc.reason})")],
        ) from None
    except OSError as exc:
        raise PolicyError(str(path), [("", f"cannot read: {exc}")]) from None
    return _parse(text, str(path))


def _parse(text: str, name: str) -> _Doc:
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise _too_large(size, name, text)
    try:
        loader = _Limited(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _Refused as exc:
        m = exc.mark
        loc = f"{name}:{m.line + 1}:{m.column + 1}" if m else name
        raise PolicyError(name, [(loc, f"{exc.code} error: {exc.message}")]) from None
    except RecursionError:  # a backstop: the depth limit stops nesting long before this
        loc = f"{name}:1:1"
        msg = f"CR103 error: nested deeper than {MAX_DEPTH} levels"
        raise PolicyError(name, [(loc, msg)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise PolicyError(name, [(loc, f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(name, [(name, f"YAML error: {exc}")]) from None
    marks: dict[Path_, tuple[int, int]] = {}
    problems: list[tuple[str, str]] = []
    if node is not None:
        _walk(node, (), marks, problems, name)
    if problems:
        raise PolicyError(name, problems)
    if not isinstance(data, dict):
        raise PolicyError(name, [(f"{name}:1:1", "a policy must be a YAML mapping")])
    return _Doc(name, data, marks)


def _walk(
    node: yaml.Node,
    path: Path_,
    marks: dict[Path_, tuple[int, int]],
    problems: list[tuple[str, str]],
    name: str,
) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                m = key_node.start_mark
                problems.append((f"{name}:{m.line + 1}:{m.column + 1}", f"duplicate key {key!r}"))
            seen.add(key)
            _walk(value_node, (*path, key), marks, problems, name)
            marks.setdefault(
                (*path, key), (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            )
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), marks, problems, name)


def _assemble(source: str, docs: list[_Doc]) -> PolicySet:
    versions: list[PolicyVersion] = []
    tests: list[TestCase] = []
    problems: list[tuple[str, str]] = []
    locations: dict[tuple[str, str, str], str] = {}
    for doc in docs:
        for raw, origin in _expand(doc, problems):
            try:
                version = PolicyVersion.model_validate(_clean(raw))
            except ValidationError as exc:
                problems += _explain(exc, doc, origin, raw)
                continue
            versions.append(version)
            locations.update(_locations(version, raw, origin, doc))
        cases = doc.data.get("tests") or [] if "versions" in doc.data else []
        if not isinstance(cases, list):
            problems.append((doc.where(("tests",)), "tests must be a list of test cases"))
            cases = []
        for i, case in enumerate(cases):
            try:
                tests.append(TestCase.model_validate(case))
            except ValidationError as exc:
                problems += _explain(exc, doc, {"": ("tests", i)})
    if problems:
        raise PolicyError(source, problems)
    ids = sorted({v.id for v in versions})
    if len(ids) != 1:
        raise PolicyError(source, [(source, f"all versions must share one policy id, found {ids}")])
    versions.sort(key=lambda v: v.effective_from)
    for a, b in itertools.pairwise(versions):
        if a.effective_from == b.effective_from:
            raise PolicyError(
                source,
                [(source, f"versions {a.version!r} and {b.version!r} start on the same day")],
            )
    seen = sorted({v.version for v in versions})
    if len(seen) != len(versions):
        raise PolicyError(source, [(source, "two versions share one version label")])
    for a, b in itertools.pairwise(versions):
        gone = {c.id for c in a.categories} - {c.id for c in b.categories}
        if gone:
            raise PolicyError(
                source,
                [
                    (
                        source,
                        f"version {b.version!r} drops categories {sorted(gone)}: categories "
                        "may be added by a later version, never removed "
                        "(old records stay valued in them)",
                    )
                ],
            )
    ordered = tuple(versions)
    return PolicySet(
        id=ids[0],
        versions=ordered,
        tests=(*_tests_of(ordered), *tests),
        source=source,
        locations=locations,
    )


def _locations(
    version: PolicyVersion, raw: dict[str, Any], origin: dict[str, Path_], doc: _Doc
) -> dict[tuple[str, str, str], str]:
    """Where each rule, credit, measure, list, grade and stage of a version was written."""
    out: dict[tuple[str, str, str], str] = {}
    ident = {"rules": "kind", "credits": "kind", "measures": "id", "lists": "id", "grades": "grade"}
    for section, key_field in ident.items():
        base = origin.get(section, origin.get("", ()))
        out[(version.version, section, "")] = doc.where((*base, section))
        for i, item in enumerate(raw.get(section) or []):
            if isinstance(item, dict):
                where = item.get("__where__") or (*base, section, i)
                out[(version.version, section, str(item.get(key_field)))] = doc.where(where)
    if version.stages is not None:
        base = origin.get("stages", origin.get("", ()))
        out[(version.version, "stages", "")] = doc.where((*base, "stages"))
        for i, stage in enumerate(version.stages.ladder):
            out[(version.version, "stages", stage.id)] = doc.where((*base, "stages", "ladder", i))
    return out


def _expand(
    doc: _Doc, problems: list[tuple[str, str]]
) -> Iterator[tuple[dict[str, Any], dict[str, Path_]]]:
    """Yield each version's full mapping and, per top-level key, where it was written."""
    data = doc.data
    if "versions" not in data:
        yield data, {"": ()}
        return
    unknown = [k for k in data if k not in _HEADER]
    for key in unknown:
        problems.append(
            (
                doc.where((key,)),
                f"unknown top-level key {key!r} beside 'versions' (allowed: {', '.join(_HEADER)})",
            )
        )
    if not isinstance(data["versions"], list) or not data["versions"]:
        problems.append((doc.where(("versions",)), "versions must be a non-empty list"))
        return
    current: dict[str, Any] = {k: data[k] for k in ("id", "title", "description") if k in data}
    origin: dict[str, Path_] = {k: () for k in current}
    for i, version in enumerate(data["versions"]):
        if not isinstance(version, dict):
            problems.append((doc.where(("versions", i)), "a version must be a mapping"))
            continue
        here: Path_ = ("versions", i)
        current = dict(current)
        origin = dict(origin)
        current.pop("tests", None)
        for key, value in version.items():
            if key == "remove_rules":
                continue
            if key in _MERGED and isinstance(value, list):
                prior = current.get(key)
                by_kind: dict[object, Any] = {
                    _kind_of(r, ("prior", j)): r
                    for j, r in enumerate(prior if isinstance(prior, list) else [])
                }
                for j, rule in enumerate(value):
                    where = (*here, key, j)
                    # A rule that is not a mapping stays, for the schema to refuse it.
                    by_kind[_kind_of(rule, where)] = (
                        {**rule, "__where__": where} if isinstance(rule, dict) else rule
                    )
                current[key] = list(by_kind.values())
            else:
                current[key] = value
            origin[key] = here
        removed = version.get("remove_rules") or []
        if not isinstance(removed, list) or not all(isinstance(k, str) for k in removed):
            problems.append(
                (doc.where((*here, "remove_rules")), "remove_rules must be a list of record kinds")
            )
            removed = []
        drop = set(removed)
        for key in _MERGED:
            if isinstance(current.get(key), list) and drop:
                current[key] = [r for r in current[key] if _kind_of(r, None) not in drop]
        yield current, {**origin, "": here}


def _kind_of(rule: object, otherwise: object) -> object:
    """A rule's ``kind`` (what versions merge by), or ``otherwise`` for what is not a rule."""
    if isinstance(rule, dict):
        kind = rule.get("kind")
        return kind if isinstance(kind, str | int | float | bool) or kind is None else otherwise
    return otherwise


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    """Drop the bookkeeping keys that record where merged rules were written."""
    out = dict(raw)
    for key in _MERGED:
        if isinstance(out.get(key), list):
            out[key] = [
                {k: v for k, v in r.items() if k != "__where__"} if isinstance(r, dict) else r
                for r in out[key]
            ]
    return out


_UNION_TAGS = ("int", "BandedPoints", "PerUnitPoints")


def _mapping_tag(value: dict[str, Any]) -> str:
    """The branch of ``points`` a mapping was meant for: ``bands``, else points per unit."""
    per_unit = "bands" not in value and bool({"each", "per"} & value.keys())
    return "PerUnitPoints" if per_unit else "BandedPoints"


def _branch_name(part: Any) -> Any:
    """A union branch's tag in an error's location, without pydantic's validator wrapper."""
    if isinstance(part, str) and part.startswith("function-") and part.endswith("]"):
        return part.rsplit(", ", 1)[-1][:-1]
    return part


def _one_branch(errors: list[Any]) -> list[Any]:
    """Keep, for ``points: int | bands | per unit``, only the errors of the branch the input
    was meant for."""
    mapping_at: dict[tuple[Any, ...], str] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if "int" in loc and isinstance(err.get("input"), dict):
            mapping_at[loc[: loc.index("int")]] = _mapping_tag(err["input"])
    kept = []
    for err in errors:
        # a branch with a validator is named "function-after[_signed(), PerUnitPoints]"
        loc = tuple(_branch_name(part) for part in err["loc"])
        tag = next((t for t in _UNION_TAGS if t in loc), None)
        if tag is None:
            kept.append(err)
            continue
        prefix = loc[: loc.index(tag)]
        if mapping_at.get(prefix, "int") != tag:
            continue
        err = {**err, "loc": (*prefix, *loc[loc.index(tag) + 1 :])}
        if tag == "int":
            err["msg"] = (
                "expected a whole number of points, a mapping {bands: [...]} or "
                "{each: N, per: AMOUNT}"
            )
        kept.append(err)
    return kept


def _explain(
    exc: ValidationError,
    doc: _Doc,
    origin: dict[str, Path_],
    raw: dict[str, Any] | None = None,
) -> list[tuple[str, str]]:
    out = []
    for err in _one_branch(exc.errors()):
        loc = tuple(err["loc"])
        top = str(loc[0]) if loc else ""
        prefix = origin.get(top, origin.get("", ()))
        path: Path_ = (*prefix, *loc)
        if raw and top in _MERGED and len(loc) > 1 and isinstance(loc[1], int):
            item = (raw.get(top) or [None] * (loc[1] + 1))[loc[1]]
            if isinstance(item, dict) and "__where__" in item:
                path = (*item["__where__"], *loc[2:])
        dotted = ".".join(str(p) for p in path) or "(policy)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling against the policy reference)"
        out.append((doc.where(path), f"{dotted}: {msg}"))
    return out
