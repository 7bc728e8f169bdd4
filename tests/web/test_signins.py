"""The ready-made sign-ins: found in a store, printed with commands that work as printed."""

from __future__ import annotations

import shlex

from sqlalchemy import select
from typer.testing import CliRunner

from credence.audit.tables import AccessEvent
from credence.cli import app
from credence.commands.signins import find_signins
from credence.states import LISTING_ENDS
from credence.store.schema import ListEntry, MeasureRow, Notice, PrincipalRow
from tests.web.world import World


def test_three_sign_ins_each_as_described(world: World) -> None:
    with world.store.session() as session:
        found = {s.name: s for s in find_signins(session, world.store)}
        session.commit()
        assert set(found) == {"citizen-clean", "citizen-listed", "reviewer"}
        clean, listed = found["citizen-clean"].scope, found["citizen-listed"].scope
        assert clean and listed and clean != listed
        for table in (Notice, ListEntry, MeasureRow):
            assert session.scalars(select(table).where(table.subject_id == clean)).all() == []
        assert session.scalars(select(Notice).where(Notice.subject_id == listed)).all()
        entries = session.scalars(select(ListEntry).where(ListEntry.subject_id == listed)).all()
        assert any(e.status not in LISTING_ENDS for e in entries)
        # Choosing them is a read of their data, logged like any other.
        readers = session.scalars(
            select(AccessEvent.purpose).where(AccessEvent.subject_id.in_([clean, listed]))
        ).all()
        assert sum("demo's sign-ins" in p for p in readers) == 2
    assert found["reviewer"].role == "reviewer" and found["reviewer"].scope is None


def test_the_printed_commands_create_the_principals(world: World) -> None:
    folder = world.store.folder
    result = CliRunner().invoke(app, ["demo-signins", "--data", str(folder)])
    assert result.exit_code == 0, result.output
    commands = [
        line.strip() for line in result.output.splitlines() if "credence principal add" in line
    ]
    assert len(commands) == 3
    for command in commands:
        words = shlex.split(command)
        assert words[0] == f"CREDENCE_DATA={folder}" and words[1] == "credence"
        done = CliRunner().invoke(app, [*words[2:], "--data", str(folder)])
        assert done.exit_code == 0, done.output
        assert "warning" not in done.output  # every subject has records
    with world.store.session() as session:
        names = set(session.scalars(select(PrincipalRow.name)))
    assert {"citizen-clean", "citizen-listed", "reviewer"} <= names
    again = CliRunner().invoke(app, ["demo-signins", "--data", str(folder)])
    assert again.output.count("exists already") == 3
