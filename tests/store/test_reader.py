"""The one reader of subject inputs: bulk and single forms agree, and "known at" is one cut."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from credence.audit.access import Access
from credence.audit.chain import verify
from credence.audit.tables import AccessEvent
from credence.ingest.run import ingest_file
from credence.runs.state import decisions_of as process_decisions
from credence.store.reader import cutoff, decisions_of, inputs_of, read_rows, typed
from credence.store.records import revoke
from credence.store.schema import RecordStatus, StoredRecord
from tests.ingest.helpers import write_csv
from tests.store.backends import SECRET, Backend, open_backend, policy_set

T1 = datetime(2026, 2, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 3, 1, 9, tzinfo=UTC)
T3 = datetime(2026, 4, 1, 9, tzinfo=UTC)
READER = Access("clerk", "reviewer", "case 42")


def _load(b: Backend, tmp_path: Path) -> list[str]:
    early = [
        ("police", "F1", "NID-7", "fine", "2025-06-01", "", "", "", "", "", ""),
        ("police", "F3", "NID-8", "fine", "2025-07-01", "", "", "", "", "", ""),
    ]
    # Recorded (by the source) in January, ingested by the store only on 1 March.
    late = [("police", "F2", "NID-7", "fine", "2025-07-01", "", "2026-01-05", "", "", "", "")]
    pol = policy_set()
    ingest_file(b.store, write_csv(tmp_path / "a.csv", early), source="police", policy=pol,
                actor="loader", now=T1)  # fmt: skip
    ingest_file(b.store, write_csv(tmp_path / "b.csv", late), source="police", policy=pol,
                actor="loader", now=T2)  # fmt: skip
    with b.store.session() as s:
        revoke(s, b.keys, "police:F1", actor="court", reason="quashed", now=T3)
        s.commit()
    return [b.keys.subject_id(n) for n in ("NID-7", "NID-8", "NID-9")]


def test_the_bulk_read_cuts_at_the_store_s_knowledge_and_logs_every_subject(
    backend: Backend, tmp_path: Path
) -> None:
    seven, eight, nine = _load(backend, tmp_path)
    with backend.store.session() as s:
        before = s.scalar(select(func.count()).select_from(AccessEvent))
        feb = inputs_of(s, backend.keys, [seven, eight, nine, seven], date(2026, 2, 15),
                        access=READER, policy_id="test", now=T3)  # fmt: skip
        unwritten = s.scalar(select(func.count()).select_from(AccessEvent))
        now = inputs_of(s, backend.keys, [seven], None, access=READER, now=T3)
        s.commit()
        logged = s.scalar(select(func.count()).select_from(AccessEvent))
    # One entry per distinct subject asked for, in the order asked, also for one without data;
    # written as the session commits (no write lock held while the caller evaluates).
    assert list(feb) == [seven, eight, nine]
    assert unwritten == (before or 0)
    assert logged == (before or 0) + 3 + 1
    # Known at 15 February: F2 was not ingested yet, F1's revocation not logged yet.
    assert [(r.record_id, r.history) for r in feb[seven].records] == [("police:F1", ())]
    assert [r.record_id for r in feb[eight].records] == ["police:F3"]
    assert feb[nine].records == [] and feb[nine].decisions.served == {}
    # Everything the store holds now.
    got = now[seven].records
    assert [r.record_id for r in got] == ["police:F1", "police:F2"]
    assert [c.status.value for c in got[0].history] == ["revoked"]
    with backend.store.session() as s:
        assert verify(s, backend.keys).ok


def test_the_single_subject_rows_give_the_bulk_read_s_inputs(
    backend: Backend, tmp_path: Path
) -> None:
    seven, _, _ = _load(backend, tmp_path)
    for known in (None, date(2026, 2, 15), date(2026, 3, 1), T2, datetime(2026, 3, 1, 10)):
        with backend.store.session() as s:
            bulk = inputs_of(s, backend.keys, [seven], known, access=READER, policy_id="test")
            raw = read_rows(s.connection(), seven, "test", known)
            single = typed(raw, s.connection().dialect, seven, known)
            s.rollback()
        assert single == bulk[seven], known


@pytest.fixture(scope="module")
def history_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A SQLite store whose records were ingested, and statuses logged, over several days."""
    tmp = tmp_path_factory.mktemp("reader")
    gen = open_backend("sqlite", tmp / "data", SECRET)
    b = next(gen)
    pol = policy_set()
    for day in range(1, 8):
        rows = [
            ("police", f"F{day}-{n}", f"NID-{n}", "fine", f"2025-0{day}-01", "", "", "", "", "", "")
            for n in range(day % 3 + 1)
        ]
        when = datetime(2026, 2, day, 9, tzinfo=UTC)
        ingest_file(b.store, write_csv(tmp / f"{day}.csv", rows), source="police", policy=pol,
                    actor="loader", now=when)  # fmt: skip
        if day % 2 == 0:
            with b.store.session() as s:
                revoke(s, b.keys, f"police:F{day - 1}-0", actor="court", reason="quashed",
                       now=when + timedelta(hours=1))  # fmt: skip
                s.commit()
    yield b
    gen.close()


@settings(max_examples=40, deadline=None)
@given(
    known=st.one_of(
        st.none(),
        st.dates(date(2026, 1, 30), date(2026, 2, 9)),
        st.datetimes(datetime(2026, 1, 31), datetime(2026, 2, 9), timezones=st.just(UTC)),
    )
)
def test_known_at_k_is_what_was_ingested_and_logged_before_the_cut(
    history_store: Backend, known: date | datetime | None
) -> None:
    b = history_store
    sids = [b.keys.subject_id(f"NID-{n}") for n in range(4)]
    cut = cutoff(known)
    with b.store.session() as s:
        ingested = dict(s.execute(select(StoredRecord.record_id, StoredRecord.ingested_at)).all())
        statuses = s.execute(
            select(RecordStatus.id, RecordStatus.record_id, RecordStatus.logged_at)
        ).all()
        full = inputs_of(s, b.keys, sids, None, access=READER, policy_id="test")
        got = inputs_of(s, b.keys, sids, known, access=READER, policy_id="test")
        singles = {
            sid: typed(
                read_rows(s.connection(), sid, "test", known), s.connection().dialect, sid, known
            )
            for sid in sids
        }
        s.rollback()
    for sid in sids:
        expected = [r for r in full[sid].records if cut is None or ingested[r.record_id] < cut]
        assert [r.record_id for r in got[sid].records] == [r.record_id for r in expected]
        for mine, everything in zip(got[sid].records, expected, strict=True):
            kept = [
                i for i, rid, at in statuses if rid == mine.record_id and (cut is None or at < cut)
            ]
            assert len(mine.history) == len(kept)
            assert mine.history == everything.history[: len(kept)]
        assert singles[sid] == got[sid]


def test_a_notice_served_after_k_was_not_served_as_known_at_k(
    backend: Backend, tmp_path: Path
) -> None:
    from tests.api.world import build

    w = build(backend, tmp_path)
    served = {}
    with backend.store.session() as s:
        for known in (date(2026, 4, 11), date(2026, 4, 12), None):
            got = inputs_of(s, backend.keys, [w.alice], known, access=READER, policy_id="scheme")
            served[known] = dict(got[w.alice].decisions.served)
            alone = decisions_of(s, [w.alice, w.alice], "scheme", known)
            assert alone == {w.alice: got[w.alice].decisions}
        # Everything known: what the process layer's own read of its decisions gives.
        assert alone[w.alice] == process_decisions(s, w.alice, "scheme")
        s.rollback()
    assert served[date(2026, 4, 11)] == {
        "reminder@2026-02-10": date(2026, 2, 12),
        "warning@2026-04-10": None,
        "ban@2026-05-10": None,
    }
    assert served[date(2026, 4, 12)]["warning@2026-04-10"] == date(2026, 4, 12)
    assert served[None]["ban@2026-05-10"] == date(2026, 5, 12)
