"""The due agenda: a run visits only the due subjects and ends exactly where ``--full`` does."""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from credence.audit.access import Access, log_read
from credence.audit.tables import AuditEntry
from credence.cli import app
from credence.ingest.run import ingest_file
from credence.policy.load import PolicySet
from credence.runs.agenda import AgendaError
from credence.runs.objections import ObjectionError, decide, file_objection
from credence.runs.outbox import DeliveryError, FileSender
from credence.runs.reviews import review_measure
from credence.runs.run import run
from credence.states import MeasureStatus
from credence.store.schema import (
    ListEntry,
    MeasureRow,
    Notice,
    Objection,
    OutboxMessage,
    ProcessEvent,
    StoredRecord,
)
from tests.process.test_lifecycle import HEADER, SCHEME, scheme
from tests.store.backends import SECRET, Backend, open_backend

D = date
KINDS = {"minor": "agency", "major": "agency", "debt": "court", "paid": "court", "course": "school"}


@dataclass(frozen=True)
class FlakySender:
    """Fails, on the days named, for the subjects named (the same on both stores)."""

    folder: Path
    failing: frozenset[tuple[date, int]]
    today: list[date]

    def send(self, message: OutboxMessage) -> None:
        """Deliver unless this day and subject's last hex digit are marked as failing."""
        if (self.today[0], int(message.subject_id[-1], 16) % 3) in self.failing:
            raise DeliveryError("mailbox full")
        FileSender(self.folder).send(message)


def _ingest(b: Backend, policy: PolicySet, day: date, rows: list[tuple[str, str, str]]) -> None:
    by_source: dict[str, list[str]] = {}
    for rid, person, kind in rows:
        line = f"{KINDS[kind]},{rid},NID-{person},{kind},{day.isoformat()}\n"
        by_source.setdefault(KINDS[kind], []).append(line)
    for source, lines in sorted(by_source.items()):
        path = b.folder / f"{source}-{day}-{rid}.csv"
        path.write_text(HEADER + "".join(lines))
        noon = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
        ingest_file(b.store, path, source=source, policy=policy, actor="agency", now=noon)


def _state(b: Backend) -> dict[str, Any]:
    """Everything a person or an auditor would notice, without ids and clock times."""
    with b.store.session() as s:
        notices = {n.id: (n.subject_id, n.ref) for n in s.scalars(select(Notice))}
        entries = {e.id: (e.subject_id, e.ref) for e in s.scalars(select(ListEntry))}
        measures = {m.id: (m.subject_id, m.ref) for m in s.scalars(select(MeasureRow))}
        objections = {o.id: (o.subject_id, o.record_id) for o in s.scalars(select(Objection))}
        owner = {
            "notice": notices,
            "list_entry": entries,
            "measure": measures,
            "objection": objections,
        }
        audit = sorted(
            (a.action, a.subject_id or "", _no_ids(a.detail))
            for a in s.scalars(select(AuditEntry))
            if not a.action.startswith("read.")
            and a.action not in ("process.run", "policy.stored")
            and not a.action.startswith("store.")
            and not a.action.startswith("ingest")
        )
        return {
            "notices": sorted(
                (
                    n.subject_id,
                    n.about,
                    n.ref,
                    n.status,
                    n.issued_on,
                    n.served_on,
                    n.deadline,
                    n.body,
                )
                for n in s.scalars(select(Notice))
            ),
            "entries": sorted(
                (e.subject_id, e.list_id, e.ref, e.status, e.entered_on, e.exited_on, e.body)
                for e in s.scalars(select(ListEntry))
            ),
            "measures": sorted(
                (m.subject_id, m.ref or "", m.status, m.in_force_from, m.until, m.body)
                for m in s.scalars(select(MeasureRow))
            ),
            "objections": sorted(
                (o.subject_id, o.record_id, o.status, o.outcome or "", o.review_deadline)
                for o in s.scalars(select(Objection))
            ),
            "outbox": sorted(
                (
                    m.ref,
                    m.kind,
                    m.recipient,
                    m.deliver_on,
                    m.status,
                    m.attempts,
                    m.served_on,
                    m.body,
                )
                for m in s.scalars(select(OutboxMessage))
            ),
            "events": sorted(
                (e.object_type, owner[e.object_type].get(e.object_id), e.status, e.at, e.detail)
                for e in s.scalars(select(ProcessEvent))
            ),
            "audit": audit,
        }


def _no_ids(detail: str) -> str:
    doc = json.loads(detail)
    doc.pop("objection", None)
    return json.dumps(doc, sort_keys=True)


RECORD = st.tuples(st.integers(0, 3), st.sampled_from(sorted(KINDS)))
DAY = st.fixed_dictionaries(
    {
        "gap": st.integers(1, 45),
        "records": st.lists(RECORD, max_size=5),
        "object": st.lists(st.integers(0, 30), max_size=1),
        "decide": st.lists(st.sampled_from(["upheld", "overturned"]), max_size=1),
        "query": st.lists(st.integers(0, 5), max_size=2),
        "fail": st.lists(st.integers(0, 2), max_size=2),
        "review": st.lists(st.booleans(), max_size=1),
    }
)


# The scheme as it is, with a lower first rung, and with every measure under human review.
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "lean": {"stages.ladder.0.threshold": 3, "stages.ladder.1.threshold": 5},
    "reviewed": {"measures.0.human_review": True, "measures.1.human_review": True},
}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(days=st.lists(DAY, min_size=2, max_size=6), variant=st.sampled_from(sorted(VARIANTS)))
def test_agenda_runs_equal_full_runs_after_every_day(
    days: list[dict[str, Any]], variant: str
) -> None:
    """Random stores (records of every kind, objections filed and decided, relying-party
    queries, failed deliveries, reviews) advanced over random days: after each day the agenda
    run's store equals the ``--full`` run's, and it visited no more subjects."""
    with tempfile.TemporaryDirectory() as tmp:
        gens = [open_backend("sqlite", Path(tmp) / name, SECRET) for name in ("agenda", "full")]
        pair = (next(gens[0]), next(gens[1]))
        try:
            _advance_both(pair, days, VARIANTS[variant])
        finally:
            for g in gens:
                g.close()


def _advance_both(
    pair: tuple[Backend, Backend], days: list[dict[str, Any]], changes: dict[str, Any]
) -> None:
    policy = scheme(**changes)
    agenda_store, full_store = pair
    token = f"{id(days):x}"
    day = D(2026, 1, 1)
    n = 0
    for step in days:
        day = day + timedelta(days=step["gap"])
        today = [day]
        failing = frozenset((day, f) for f in step["fail"])
        rows = []
        for person, kind in step["records"]:
            n += 1
            rows.append((f"{token}-{n}", str(person), kind))
        for b in pair:
            if rows:
                _ingest(b, policy, day, rows)
            noon = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=13)
            with b.store.session() as s:
                ids = sorted(s.scalars(select(Notice.subject_id).distinct()))
                rids = sorted(s.scalars(select(StoredRecord.record_id)))
                for k in step["object"]:
                    if rids:
                        # Contesting a contested record is refused alike on both stores.
                        with contextlib.suppress(ObjectionError):
                            file_objection(
                                s,
                                b.keys,
                                policy,
                                rids[k % len(rids)],
                                statement="no",
                                evidence=[],
                                actor="subject",
                                now=noon,
                            )
                opened = sorted(s.scalars(select(Objection.id).where(Objection.status == "open")))
                for outcome in step["decide"]:
                    if opened:
                        decide(
                            s,
                            b.keys,
                            opened[0],
                            outcome,
                            reason="checked",
                            actor="reviewer",
                            now=noon,
                        )
                waiting = s.scalars(
                    select(MeasureRow)
                    .where(MeasureRow.status == MeasureStatus.AWAITING_REVIEW)
                    .order_by(MeasureRow.subject_id, MeasureRow.ref)
                ).first()
                for approve in step["review"]:
                    if waiting is not None:
                        review_measure(
                            s,
                            b.keys,
                            waiting.id,
                            approve=approve,
                            reason="" if approve else "disproportionate",
                            actor="reviewer",
                            on=day,
                            now=noon,
                        )
                for k in step["query"]:
                    if ids:
                        log_read(
                            s,
                            b.keys,
                            Access("bank", "relying_party", "credit"),
                            ids[k % len(ids)],
                            "status",
                            at=noon,
                        )
                s.commit()
        sender = FlakySender(agenda_store.folder / "outbox", failing, today)
        lean = run(agenda_store.store, policy, day, actor="process", sender=sender)
        sender = FlakySender(full_store.folder / "outbox", failing, today)
        full = run(full_store.store, policy, day, actor="process", sender=sender, everyone=True)
        assert _state(agenda_store) == _state(full_store), f"after {day}"
        assert (lean.transitions, lean.delivered) == (full.transitions, full.delivered)
        assert lean.subjects <= full.subjects
    final = _state(full_store)
    for what in ("notices", "entries", "measures", "objections", "outbox"):
        event(f"{what}: {'some' if final[what] else 'none'}")


def test_a_quiet_night_visits_nobody_and_a_day_back_is_refused(backend: Backend) -> None:
    b, policy = backend, scheme()
    _ingest(b, policy, D(2026, 2, 10), [("q1", "1", "major"), ("q2", "1", "minor")])
    outbox = FileSender(b.folder / "outbox")
    first = run(b.store, policy, D(2026, 2, 10), actor="process", sender=outbox)
    assert (first.subjects, first.reasons) == (1, {"first-run": 1})
    # The reminder waits two days in the outbox (service lag): the subject is due only then.
    quiet = run(b.store, policy, D(2026, 2, 11), actor="process", sender=outbox)
    assert (quiet.subjects, quiet.reasons) == (0, {})
    served = run(b.store, policy, D(2026, 2, 12), actor="process", sender=outbox)
    assert (served.subjects, served.delivered, served.reasons) == (1, 1, {"outbox": 1})
    _ingest(b, policy, D(2026, 2, 13), [("q3", "2", "minor")])
    news = run(b.store, policy, D(2026, 2, 13), actor="process", sender=outbox)
    assert (news.subjects, news.reasons) == (1, {"records": 1})
    with pytest.raises(AgendaError, match="2026-02-01 is before 2026-02-13"):
        run(b.store, policy, D(2026, 2, 1), actor="process", sender=outbox)


def test_cli_full_subjects_reasons_and_refusals(sqlite_backend: Backend, tmp_path: Path) -> None:
    b, policy = sqlite_backend, scheme()
    _ingest(b, policy, D(2026, 2, 10), [("c1", "1", "major"), ("c2", "1", "minor")])
    _ingest(b, policy, D(2026, 2, 10), [("c3", "2", "minor")])
    cli, env, pol = CliRunner(), b.env() | {"COLUMNS": "250"}, str(SCHEME)

    def process(*extra: str) -> Any:
        return cli.invoke(app, ["process", "run", "--policy", pol, *extra], env=env)

    first = process("--as-of", "2026-02-10")
    assert first.exit_code == 0, first.output
    # Subject 2's one minor act can never reach the first rung: the first run skips it.
    assert "advanced 1 subject(s) to 2026-02-10" in first.output
    assert "due: first-run 1" in first.output
    full = process("--as-of", "2026-02-12", "--full", "-v", "--chunk", "1")
    assert "advanced 2 subject(s) to 2026-02-12" in full.output and "due: full 2" in full.output
    assert "timings: plan " in full.output and " ms per subject)" in full.output
    one = b.keys.subject_id("NID-2")
    listed = tmp_path / "subjects.txt"
    listed.write_text(f"# re-run\n{one}\n\n{one}\n")
    named = process("--as-of", "2026-02-12", "--subjects", str(listed))
    assert "advanced 1 subject(s) to 2026-02-12" in named.output and "due: named 1" in named.output
    listed.write_text(f"{one}\nNID-3\n")
    bad = process("--as-of", "2026-02-12", "--subjects", str(listed))
    assert bad.exit_code == 2
    assert "line 2: 'NID-3' is not a subject id" in bad.output
    back = process("--as-of", "2026-02-11")
    assert back.exit_code == 2
    assert "--as-of 2026-02-11 is before 2026-02-12" in back.output
    assert "nothing was changed" in back.output
    unknown = cli.invoke(
        app, ["process", "run", "--policy", "no-such-policy", "--as-of", "2026-02-12"], env=env
    )
    assert unknown.exit_code != 0 and "no-such-policy" in unknown.output
    verified = cli.invoke(app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    b.execute("DROP TABLE process_marks")
    behind = process("--as-of", "2026-02-13")
    assert behind.exit_code == 2
    assert "schema is behind" in behind.output and "credence init" in behind.output
