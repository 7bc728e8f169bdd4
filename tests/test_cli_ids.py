"""CLI tables print ids whole at 80 columns; ``principal add`` warns of an id without records."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from typer.testing import CliRunner

from credence.cli import app
from credence.commands import runs as commands
from credence.store.schema import Notice
from tests.web.world import World, build, reopen


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The web tests' populated store (it has notices), built once."""
    w = build(tmp_path_factory.mktemp("ids") / "data")
    w.close()
    yield w


@pytest.fixture
def world(template: World, tmp_path: Path) -> Iterator[World]:
    """A fresh copy of the store."""
    w = reopen(template, tmp_path / "data")
    try:
        yield w
    finally:
        w.close()


def run(*args: str) -> tuple[int, str, str]:
    """``credence ARGS`` at 80 columns: exit code, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    return result.exit_code, result.stdout, result.stderr


def test_notices_prints_every_subject_id_whole_at_80_columns(world: World) -> None:
    with world.store.session() as session:
        subjects = set(session.scalars(select(Notice.subject_id)))
    assert subjects and all(len(s) == 64 for s in subjects)
    code, printed, _ = run("notices", "--data", str(world.store.folder))
    assert code == 0, printed
    for subject in subjects:
        assert subject in printed


def test_principal_list_prints_a_subjects_scope_whole(world: World) -> None:
    folder = str(world.store.folder)
    code, _, _ = run(
        "principal", "add", "nid-alice", "--role", "subject", "--national-id", "NID-ALICE",
        "--data", folder,
    )  # fmt: skip
    assert code == 0
    code, printed, _ = run("principal", "list", "--data", folder)
    assert code == 0 and world.store.keys.subject_id("NID-ALICE") in printed


def test_principal_add_warns_when_no_records_exist_for_the_national_id(world: World) -> None:
    folder = str(world.store.folder)
    code, printed, warned = run(
        "principal", "add", "nobody", "--role", "subject", "--national-id", "NID-NOBODY",
        "--data", folder,
    )  # fmt: skip
    assert code == 0 and "created" in printed
    pseudonym = world.store.keys.subject_id("NID-NOBODY")
    assert warned.replace("\n", " ").startswith(
        f"warning: the store holds no records of subject {pseudonym} (national id 'NID-NOBODY')"
    )
    code, printed, warned = run(
        "principal", "add", "alice2", "--role", "subject", "--national-id", "NID-ALICE",
        "--data", folder,
    )  # fmt: skip
    assert code == 0 and "created" in printed and warned == ""


def test_in_a_narrow_terminal_ids_fold_onto_more_lines_but_stay_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(
        commands, "out", Console(file=screen, force_terminal=True, width=80, color_system=None)
    )
    subject = "8f1b39945502659e16a2cc351e6f5f92216c36a9efc0c3d356d3ca33c3a7336c"
    table = Table()
    for col in ("id", "subject", "policy", "about", "ref", "status", "issued", "served"):
        table.add_column(col, overflow="fold" if col in ("id", "subject", "ref") else "ellipsis")
    table.add_row("1", subject, "city-merit", "list", "L-1", "issued", "2026-01-01", "")
    commands.print_table(table)
    lines = screen.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = [line.split("│")[2].strip() for line in lines if line.count("│") > 3]
    assert "".join(cells) == subject
