"""The manual is part of the product: every command, policy field and lint code is documented."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic import BaseModel

from credence.cli import app
from credence.engine.assessment import Assessment
from credence.policy import library, model
from credence.policy.lint import CODES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _all_docs() -> str:
    return "\n".join(p.read_text() for p in DOCS.rglob("*.md"))


def _commands(group: Any, prefix: str = "credence") -> list[str]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            out += _commands(cmd, path)
        else:
            out.append(path)
    return out


def test_every_cli_command_has_a_section_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    root = typer.main.get_command(app)
    missing = [c for c in _commands(root) if f"## `{c}" not in text]
    assert missing == []


def test_every_policy_field_is_in_the_language_reference() -> None:
    text = (DOCS / "policy-language.md").read_text()
    missing = []
    for obj in vars(model).values():
        if (
            isinstance(obj, type)
            and issubclass(obj, BaseModel)
            and obj.__module__ == model.__name__
        ):
            missing += [f"{obj.__name__}.{f}" for f in obj.model_fields if f"`{f}`" not in text]
    assert missing == []


def test_every_lint_code_is_documented() -> None:
    text = _all_docs()
    assert [c for c in CODES if c not in text] == []


def test_readme_setup_is_the_two_make_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every ``## `` section of a page, in order."""
    parts = re.split(r"^## (.*)$", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def _leaves(group: Any, prefix: str = "credence") -> Iterator[tuple[str, Any]]:
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _leaves(cmd, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", cmd


def test_every_cli_option_is_in_its_command_s_section() -> None:
    """An option is documented in its command's section, or (options many commands share,
    such as ``--data``) in the introduction of the group of sections it stands in."""
    sections = _sections((DOCS / "cli.md").read_text())
    where: dict[str, str] = {}
    intro = ""
    for heading, body in sections:
        command = re.fullmatch(r"`(credence[^`]*)`", heading.strip())
        if command is None:
            intro = body
        else:
            where[command.group(1)] = body + intro
    missing = []
    for path, cmd in _leaves(typer.main.get_command(app)):
        text = where.get(path, "")
        for param in cmd.params:
            if param.param_type_name != "option" or param.hidden:
                continue
            longs = [o for o in param.opts if o.startswith("--")]
            if longs and not any(re.search(re.escape(o) + r"(?![\w-])", text) for o in longs):
                missing.append(f"{path} {longs[0]}")
    assert missing == []


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The OpenAPI document of the application on a fresh store."""
    from credence.api.app import create_app
    from credence.store.db import initialise

    store, _ = initialise(tmp_path_factory.mktemp("docs") / "data", actor="docs")
    try:
        yield create_app(store, library.resolve("city-merit")).openapi()
    finally:
        store.close()


def _placeholders(text: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", text)


def test_every_api_path_and_method_is_in_the_endpoints_table(openapi: dict[str, Any]) -> None:
    rows = [
        _placeholders(line)
        for line in (DOCS / "api.md").read_text().splitlines()
        if line.startswith("| `")
    ]
    missing = []
    for path, operations in openapi["paths"].items():
        shown = re.compile(re.escape(_placeholders(path)) + r"[`?, ]")
        for method in operations:
            if not any(shown.search(r) and method.upper() in r for r in rows):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_api_response_field_is_in_the_response_fields_table(
    openapi: dict[str, Any],
) -> None:
    """Each schema an operation answers with has a row ``| `Name` | ... |`` in api.md that
    names every one of its fields, or every value of an enumeration (pages are described once,
    in the section on pagination). Two models of one name are told apart in the OpenAPI
    document by their module; one row describes both."""
    schemas = openapi["components"]["schemas"]
    answered: set[str] = set()
    todo = [r for ops in openapi["paths"].values() for op in ops.values()
            for r in _refs(op.get("responses", {}))]  # fmt: skip
    while todo:
        name = todo.pop()
        if name not in answered:
            answered.add(name)
            todo.extend(_refs(schemas[name]))
    text = (DOCS / "api.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", text, re.M)}
    missing = []
    for name in sorted(answered):
        fields = list(schemas[name].get("properties", {})) or schemas[name].get("enum", [])
        short = re.sub(r"^(?:[a-z_]+__)+", "", name)
        if short.startswith("Page_"):
            missing += [f"{name}.{f}" for f in fields if f"`{f}`" not in text]
            continue
        row = rows.get(short, "")
        missing += [f"{name}.{f}" for f in fields if f"`{f}`" not in row] or (
            [name] if not row else []
        )
    assert missing == []


def _fields(cls: type, seen: set[type]) -> Iterator[tuple[str, str]]:
    """(class name, field name) of a dataclass and of every dataclass its fields hold."""
    if cls in seen:
        return
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        yield cls.__name__, f.name
        for inner in _types(hints[f.name]):
            if dataclasses.is_dataclass(inner):
                yield from _fields(inner, seen)


def _types(hint: Any) -> Iterator[type]:
    if isinstance(hint, type):
        yield hint
    for arg in typing.get_args(hint):
        yield from _types(arg)


def test_every_assessment_field_is_in_the_output_reference() -> None:
    """Every field of an explained assessment (``credence explain --format json``, the API's
    assessments) is named in that section of docs/output.md."""
    sections = dict(_sections((DOCS / "output.md").read_text()))
    text = sections["`credence explain --format json`"]
    missing = [
        f"{owner}.{name}"
        for owner, name in _fields(Assessment, set())
        if not re.search(rf"(?<![\w-]){name}(?![\w-])", text)
    ]
    assert missing == []


def test_every_score_output_key_is_in_the_output_reference() -> None:
    """The keys of ``credence score --format json`` and the columns of ``--format csv``, as the
    command prints them for the bundled sample records."""
    from typer.testing import CliRunner

    sample = Path(library.__file__).resolve().parents[2] / "data" / "sample-records.csv"
    sections = dict(_sections((DOCS / "output.md").read_text()))
    base = ["score", "-p", "licence-demerit", "-r", str(sample), "--as-of", "2026-11-01"]
    run = CliRunner()
    # The sample holds rejected rows on purpose (exit 1); the others are scored.
    shown = run.invoke(app, [*base, "--format", "json"])
    assert shown.exit_code == 1, shown.output
    keys = json.loads(shown.stdout)[0].keys()
    text = sections["`credence score --format json`"]
    missing = [k for k in keys if f'"{k}"' not in text]
    shown = run.invoke(app, [*base, "--format", "csv"])
    assert shown.exit_code == 1, shown.output
    header = shown.stdout.splitlines()[0]
    assert header in sections["`credence score --format csv`"]
    assert missing == []


def test_the_readme_layout_names_every_package_and_module() -> None:
    """Every package of ``src/credence`` and every module at its top is in the README's layout,
    and so is every module of ``engine/`` (the batch and the incremental calendar included)."""
    readme = (DOCS.parent / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```")[1]
    src = DOCS.parent / "src" / "credence"
    names = [f"{p.parent.name}/" for p in sorted(src.glob("*/__init__.py"))]
    names += [p.name for p in sorted(src.glob("*.py")) if p.name != "__init__.py"]
    names += [p.stem for p in sorted((src / "engine").glob("*.py")) if p.stem != "__init__"]
    assert [n for n in names if not re.search(rf"(?<![\w/]){re.escape(n)}", layout)] == []


def _guide_commands() -> list[str]:
    """Every ``credence ...`` command line of the guide's code blocks (the prompt's path and
    environment removed)."""
    blocks = re.findall(r"```(?:sh|text)\n(.*?)```", (DOCS / "guide.md").read_text(), re.S)
    lines = []
    for block in blocks:
        for line in block.splitlines():
            found = re.search(r"(?:^|\s|/)(credence\s.*?)(?:\s+#.*)?$", line)
            if found:
                lines.append(found.group(1).strip())
    return lines


def test_every_command_in_the_guide_exists_with_its_options() -> None:
    leaves = dict(_leaves(typer.main.get_command(app)))
    lines = _guide_commands()
    assert len(lines) >= 8
    bad = []
    for line in lines:
        words = line.split()
        path = next(
            (
                " ".join(words[:n])
                for n in range(len(words), 1, -1)
                if " ".join(words[:n]) in leaves
            ),
            None,
        )
        if path is None:
            bad.append(f"{line}: no such command")
            continue
        known = {o for p in leaves[path].params for o in p.opts}
        bad += [f"{line}: {w}" for w in words if w.startswith("--") and w not in known]
    assert bad == []
