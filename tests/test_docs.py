"""The manual is part of the product: every command, policy field and lint code is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main
from pydantic import BaseModel

from credence.cli import app
from credence.policy import model
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
