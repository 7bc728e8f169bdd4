"""Parallel workers on PostgreSQL end where one worker does; two runs started at once never
both act on one subject; SQLite refuses more than one worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from credence.audit.tables import AuditEntry
from credence.cli import app
from credence.runs.agenda import AgendaError
from credence.runs.outbox import FileSender
from credence.runs.run import run
from tests.process.test_agenda import _ingest, _state
from tests.process.test_lifecycle import SCHEME, scheme
from tests.store.backends import SECRET, Backend, open_backend

PEOPLE = 30
DAYS = (date(2026, 2, 10), date(2026, 2, 12), date(2026, 3, 20))


def _fill(b: Backend) -> None:
    rows = [(f"w{n}-{i}", str(n), "major") for n in range(PEOPLE) for i in range(2)]
    _ingest(b, scheme(), date(2026, 2, 10), rows)


def _transitions(b: Backend) -> Counter[tuple[str, str]]:
    """Audit entries of transitions, per (action, subject): one per transition made."""
    with b.store.session() as s:
        return Counter(
            (a.action, a.subject_id or "")
            for a in s.scalars(select(AuditEntry))
            if a.action.startswith("process.") and a.action != "process.run"
        )


def _verify(b: Backend) -> None:
    verified = CliRunner().invoke(app, ["audit", "verify"], env=b.env())
    assert verified.exit_code == 0, verified.output


def test_three_workers_end_where_one_worker_does(tmp_path: Path) -> None:
    gens = [open_backend("postgresql", tmp_path / n, SECRET) for n in ("one", "three")]
    one, three = next(gens[0]), next(gens[1])
    try:
        for b in (one, three):
            _fill(b)
        policy = scheme()
        seen = []
        for day in DAYS:
            alone = run(
                one.store, policy, day, actor="p", sender=FileSender(one.folder / "o"), chunk=4
            )
            spread = run(
                three.store,
                policy,
                day,
                actor="p",
                sender=FileSender(three.folder / "o"),
                chunk=4,
                workers=3,
            )
            assert _state(one) == _state(three), f"after {day}"
            got = (spread.subjects, spread.transitions, spread.delivered, spread.reasons)
            assert got == (alone.subjects, alone.transitions, alone.delivered, alone.reasons)
            seen.append((alone.subjects, alone.transitions, alone.delivered))
        # Each of the 30 people: a reminder issued on 10 February (delivered after the two-day
        # lag), served on the 12th with the next stage's step, and by 20 March a further step
        # with its message delivered.
        assert seen == [(30, 30, 0), (30, 60, 30), (30, 30, 30)]
        assert sorted(p.name for p in (one.folder / "o").glob("*.json")) == sorted(
            p.name for p in (three.folder / "o").glob("*.json")
        )
        assert _transitions(one) == _transitions(three)
        for b in (one, three):
            _verify(b)
    finally:
        for g in gens:
            g.close()


def test_two_runs_started_at_once_never_both_act_on_one_subject(tmp_path: Path) -> None:
    gens = [open_backend("postgresql", tmp_path / n, SECRET) for n in ("twice", "once")]
    twice, once = next(gens[0]), next(gens[1])
    try:
        for b in (twice, once):
            _fill(b)
        day = DAYS[0]
        run(once.store, scheme(), day, actor="process", sender=FileSender(once.folder / "o"))
        command = [str(Path(sys.executable).parent / "credence"), "process", "run", "--policy"]
        command += [str(SCHEME), "--as-of", day.isoformat(), "--outbox", str(twice.folder / "o")]
        command += ["--chunk", "3", "--actor", "process", "--workers", "2"]
        env = twice.env() | {"PYTHONPATH": os.pathsep.join(sys.path)}
        procs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for _ in range(2)
        ]
        for p in procs:
            out, _ = p.communicate(timeout=300)
            assert p.returncode == 0, out.decode()
        # Both runs visited everyone; every transition was made (and logged) exactly once.
        assert _state(twice) == _state(once)
        made = _transitions(twice)
        assert made == _transitions(once)
        assert set(made.values()) == {1} and len(made) == PEOPLE
        _verify(twice)
    finally:
        for g in gens:
            g.close()


def test_sqlite_refuses_more_than_one_worker(sqlite_backend: Backend) -> None:
    b = sqlite_backend
    _fill(b)
    with pytest.raises(AgendaError, match="single writer"):
        run(b.store, scheme(), DAYS[0], actor="p", sender=FileSender(b.folder / "o"), workers=2)
    cli = CliRunner().invoke(
        app,
        ["process", "run", "--policy", str(SCHEME), "--as-of", "2026-02-10", "--workers", "2"],
        env=b.env(),
    )
    assert cli.exit_code == 2, cli.output
    assert "--workers 2: the embedded SQLite store has a single writer" in cli.output
    assert "use a PostgreSQL store" in cli.output
    # Nothing was changed: the first run is still to come.
    first = run(b.store, scheme(), DAYS[0], actor="p", sender=FileSender(b.folder / "o"))
    assert first.reasons == {"first-run": PEOPLE}
