"""The analytics: exact figures from the batch over the store, kept, and the page that shows them.

The figures are hand-computed on a store of four people; on the web tests' world they agree
with the reference evaluator run subject by subject; the page renders the kept figures, starts
a computation in the background when there are none (with its progress polled) and portal
pages keep answering while one runs.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from credence.audit.access import Access
from credence.audit.tables import AccessEvent, AuditEntry
from credence.compute import analytics as an
from credence.compute.analytics_runner import Refresher
from credence.engine.reference import evaluate
from credence.ingest.run import ingest_file
from credence.policy import library
from credence.store.db import Store
from credence.store.reader import inputs_of
from credence.store.schema import StoredRecord, Subject
from credence.web import create_web_router
from tests.store.backends import BACKENDS, SECRET, open_backend
from tests.web.conftest import sign_in
from tests.web.world import World

AUDITOR = Access("audrey", "auditor", an.PURPOSE)
TODAY = date(2026, 7, 15)
# Four people, their records and regions; the grades below are worked out by hand from
# city-merit (base 1000; A is 960-1029, AA 1030-1049, B 850-959).
FOUR = (
    ("city_hall", "AW-1", "NID-P1", "civic.award", "2026-03-10", ""),  # +30
    ("bank", "L-2", "NID-P2", "financial.loan_default", "2026-02-15", ""),  # -50
    ("traffic_police", "TR-3", "NID-P3", "civic.traffic_violation", "2026-05-20", ""),  # -5
    ("court", "J-3", "NID-P3", "legal.judgment_unfulfilled", "2026-06-01", ""),  # -100
    ("tax_office", "T-4", "NID-P4", "financial.tax_arrears", "2026-04-01", "500"),  # -10
    ("ngo_registry", "V-4", "NID-P4", "civic.volunteering", "2026-05-05", ""),  # +5, a credit
)
REGION = {"NID-P1": "North", "NID-P2": "North", "NID-P3": "Riverside"}


@pytest.fixture(params=BACKENDS)
def four(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The four people's store on each backend (SQLite file, PostgreSQL schema)."""
    for b in open_backend(request.param, tmp_path / "data", SECRET):
        four_people(b.store, tmp_path)
        yield b.store


def four_people(store: Store, folder: Path) -> None:
    """The four people above, ingested two weeks before :data:`TODAY`."""
    policy = library.resolve("city-merit")
    moment = datetime(2026, 7, 1, 9, tzinfo=UTC)
    for source in sorted({r[0] for r in FOUR}):
        path = folder / f"in-{source}.csv"
        lines = [f"{s},{i},{n},{k},{d},{d},{a}\n" for s, i, n, k, d, a in FOUR if s == source]
        path.write_text(
            "source,source_record_id,subject_id,kind,occurred_on,effective_on,amount\n"
            + "".join(lines)
        )
        ingest_file(store, path, source=source, policy=policy, actor="agency", now=moment)
    with store.session() as session:
        for nid, region in REGION.items():
            row = session.get(Subject, store.keys.subject_id(nid))
            assert row is not None
            row.region = region
        session.commit()


def test_the_figures_of_four_people_are_the_hand_computed_ones(four: Store) -> None:
    store, policy = four, library.resolve("city-merit")
    steps: list[str] = []
    f = an.compute(store, policy, TODAY, AUDITOR, progress=lambda s, _: steps.append(s))
    assert f.subjects == 4 and f.grades == ("D", "C", "B", "A", "AA", "AAA")
    assert tuple(f.tables) == an.TABLES
    assert f.months_done == f.months_total == 7 and f.complete
    assert f.tables["grades-by-region"].rows == (
        ("(no region)", 0, 0, 0, 1, 0, 0, 1),
        ("North", 0, 0, 1, 0, 1, 0, 2),
        ("Riverside", 0, 0, 1, 0, 0, 0, 1),
    )
    assert f.tables["grades-over-time"].rows == (
        ("2026-01-01", 0, 0, 0, 4, 0, 0, 4),
        ("2026-02-01", 0, 0, 0, 4, 0, 0, 4),
        ("2026-03-01", 0, 0, 1, 3, 0, 0, 4),  # P2's default
        ("2026-04-01", 0, 0, 1, 2, 1, 0, 4),  # P1's award; P4's arrears keep an A (990)
        ("2026-05-01", 0, 0, 1, 2, 1, 0, 4),
        ("2026-06-01", 0, 0, 2, 1, 1, 0, 4),  # P3's judgment: 895
        ("2026-07-01", 0, 0, 2, 1, 1, 0, 4),
        ("2026-07-15", 0, 0, 2, 1, 1, 0, 4),
    )
    assert f.tables["lists"].rows == () and f.tables["objections"].rows == ()
    assert steps[0] == "reading the store's records" and steps[-1] == "done"
    with store.session() as session:
        kept = an.load(session, policy.id)
        assert kept is not None and kept.tables == f.tables and kept.as_of == TODAY
        assert an.is_current(kept, session, TODAY)
        assert not an.is_current(kept, session, TODAY + timedelta(days=1))
        # One aggregate read for the computation, no read of any one subject.
        assert session.scalar(select(func.count()).select_from(AccessEvent)) == 0
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "read.aggregate")
        ).all()
        assert len(entries) == 1 and entries[0].actor == "audrey"
        assert json.loads(entries[0].detail) == {
            "as_of": "2026-07-15",
            "policy": "city-merit",
            "purpose": an.PURPOSE,
            "role": "auditor",
            "subjects": 4,
        }


def test_new_records_make_the_kept_figures_stale(four: Store, tmp_path: Path) -> None:
    store, policy = four, library.resolve("city-merit")
    an.compute(store, policy, TODAY, AUDITOR, months=1)
    path = tmp_path / "late.csv"
    path.write_text(
        "source,source_record_id,subject_id,kind,occurred_on,effective_on,amount\n"
        "court,J-9,NID-P1,legal.judgment_unfulfilled,2026-07-10,2026-07-10,\n"
    )
    with store.session() as session:
        kept = an.load(session, policy.id)
        assert kept is not None and an.is_current(kept, session, TODAY)
    moment = datetime(2026, 7, 14, 9, tzinfo=UTC)
    ingest_file(store, path, source="court", policy=policy, actor="agency", now=moment)
    with store.session() as session:
        assert not an.is_current(kept, session, TODAY)
    f = an.compute(store, policy, TODAY, AUDITOR, months=1)
    assert f.tables["grades-by-region"].rows[1] == ("North", 0, 0, 2, 0, 0, 0, 2)  # 930, 950


def test_the_kept_figures_agree_with_the_reference_evaluator(world: World) -> None:
    f = an.compute(world.store, world.policy, world.today, AUDITOR)
    assert f.complete
    days = [date.fromisoformat(r[0]) for r in f.tables["grades-over-time"].rows]
    assert days[-1] == world.today and len(days) >= 2
    with world.store.session() as session:
        ids = sorted(set(session.scalars(select(StoredRecord.subject_id))))
        regions = dict(session.execute(select(Subject.subject_id, Subject.region)).all())
        everyone = inputs_of(
            session, world.store.keys, ids, world.today, access=AUDITOR, what="records"
        )
        session.rollback()
    by_day: dict[date, Counter[str]] = {d: Counter() for d in days}
    by_region: dict[str, Counter[str]] = {}
    for sid, inputs in everyone.items():
        for d in days:
            a = evaluate(world.policy, inputs.records, d, world.today, subject_id=sid)
            by_day[d][a.grade] += 1
            if d == world.today:
                region = regions.get(sid) or an.UNKNOWN_REGION
                by_region.setdefault(region, Counter())[a.grade] += 1
    g = f.grades
    assert f.tables["grades-over-time"].rows == tuple(
        (d.isoformat(), *(by_day[d][x] for x in g), len(ids)) for d in days
    )
    assert f.tables["grades-by-region"].rows == tuple(
        (r, *(c[x] for x in g), sum(c.values())) for r, c in sorted(by_region.items())
    )


def _client(world: World) -> TestClient:
    app = FastAPI()
    app.include_router(create_web_router(world.store, world.policy))
    return TestClient(app)


def test_the_page_shows_the_kept_figures_and_their_csv(world: World) -> None:
    an.compute(world.store, world.policy, world.today, AUDITOR)
    with _client(world) as client:
        sign_in(client, world, "audrey")
        page = client.get("/analytics").text
        assert 'id="analytics-progress"' not in page  # current: nothing to compute
        for name in an.TABLES:
            assert f'data-testid="section-{name}"' in page
            r = client.get(f"/analytics/{name}.csv")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            assert "attachment" in r.headers["content-disposition"]
        assert page.count('class="chart"') == 6
        region = client.get("/analytics/grades-by-region.csv").text.splitlines()
        assert region[0] == "region,D,C,B,A,AA,AAA,subjects"
        found = re.search(r"(\d+) subjects with records", page)
        assert found
        assert sum(int(line.rsplit(",", 1)[1]) for line in region[1:]) == int(found.group(1))
        assert "upheld,1" in client.get("/analytics/objections.csv").text
        assert client.get("/analytics/nothing.csv").status_code == 404


def _wait_until_ready(client: TestClient, seconds: float = 120) -> list[str]:
    """Poll the progress as htmx does until it says to reload; the fragments seen."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = client.get("/analytics/progress")
        assert r.status_code == 200, r.text
        seen.append(r.text)
        if r.headers.get("HX-Refresh") == "true":
            return seen
        time.sleep(0.3)
    raise AssertionError(f"not ready after {seconds} s: {seen[-1]}")


def test_a_cold_store_computes_in_the_background_with_progress(world: World) -> None:
    with _client(world) as client:
        sign_in(client, world, "audrey")
        first = client.get("/analytics")
        assert first.status_code == 200
        assert (
            'id="analytics-progress"' in first.text and 'hx-get="/analytics/progress"' in first.text
        )
        assert "Computing the figures" in first.text
        assert 'data-testid="section-' not in first.text  # nothing kept yet
        _wait_until_ready(client)
        page = client.get("/analytics").text
        assert 'id="analytics-progress"' not in page
        assert all(f'data-testid="section-{name}"' in page for name in an.TABLES)
    with world.store.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "read.aggregate")
        ).all()
        assert len(entries) == 1  # one computation, one aggregate read


def test_portal_pages_answer_while_a_recomputation_runs(world: World) -> None:
    refresher = Refresher(world.store, world.policy)
    assert refresher.start(world.today, AUDITOR)
    failures: list[str] = []
    answered = 0
    with _client(world) as client:
        sign_in(client, world, "alice")
        while refresher.running():
            r = client.get("/portal")
            answered += 1
            if r.status_code != 200:
                failures.append(f"{r.status_code}: {r.text[:200]}")
    status = refresher.status()
    assert status is not None and status.error is None, status
    assert answered and not failures
    with world.store.session() as session:
        kept = an.load(session, world.policy.id)
        assert kept is not None and kept.complete


def test_a_running_computation_is_cancelled_within_seconds(world: World) -> None:
    refresher = Refresher(world.store, world.policy)
    assert refresher.start(world.today, AUDITOR)
    time.sleep(0.5)
    started = time.monotonic()
    assert refresher.cancel()
    assert time.monotonic() - started < 10
    assert not refresher.running()
    # The next start works as before.
    assert refresher.start(world.today, AUDITOR)
    done = threading.Event()
    deadline = time.monotonic() + 120
    while refresher.running() and time.monotonic() < deadline:
        done.wait(0.2)
    status = refresher.status()
    assert status is not None and not status.running and status.error is None


def _lock_taken(folder: Path) -> bool:
    """Whether some process holds the analytics lock of ``folder`` (a computation runs)."""
    import fcntl
    import os

    fd = os.open(folder / "analytics.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock this test took
    return False


def test_serve_stops_within_10_s_of_sigterm_and_ends_a_computation_under_way(
    world: World,
) -> None:
    import signal

    from tests.test_serve import Server

    world.close()
    server = Server(world)
    try:
        client = httpx.Client(base_url=server.base, timeout=30)
        form = client.get("/sign-in").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        fields = {"api_key": world.keys["audrey"], **({"csrf": token.group(1)} if token else {})}
        assert client.post("/sign-in", data=fields).status_code == 303
        page = client.get("/analytics")
        assert page.status_code == 200 and 'id="analytics-progress"' in page.text
        deadline = time.monotonic() + 60
        while not _lock_taken(world.store.folder):  # the child is computing
            assert time.monotonic() < deadline, "the computation never started"
            time.sleep(0.05)
    except BaseException:
        server.proc.kill()
        raise
    code, took = server.stop(signal.SIGTERM)
    assert code == 0, server.output
    assert took < 10, server.output
    assert "Traceback" not in server.output
    assert not _lock_taken(world.store.folder)  # the computation ended with the server
    with world.store.session() as session:
        kept = an.load(session, world.policy.id)
        assert kept is None or not kept.complete  # it did not run to its end


KINDS = (
    ("traffic_police", "civic.traffic_violation", ""),
    ("city_hall", "civic.award", ""),
    ("tax_office", "financial.tax_arrears", "1500"),
    ("utility", "financial.utility_arrears", ""),
    ("bank", "financial.loan_default", ""),
    ("court", "legal.judgment_unfulfilled", ""),
    ("ngo_registry", "civic.volunteering", ""),
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, len(KINDS) - 1), st.integers(0, 190)),
        min_size=1,
        max_size=14,
    )
)
def test_random_stores_agree_with_the_reference_evaluator(
    drawn: list[tuple[int, int, int]],
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for b in open_backend("sqlite", Path(tmp) / "data", SECRET):
            store, policy = b.store, library.resolve("city-merit")
            path = Path(tmp) / "in.csv"
            rows = []
            for n, (who, k, offset) in enumerate(drawn):
                source, kind, amount = KINDS[k]
                on = (date(2026, 1, 5) + timedelta(days=offset)).isoformat()
                rows.append(f"{source},R{n},NID-{who},{kind},{on},{on},{amount}\n")
            moment = datetime(2026, 7, 14, 9, tzinfo=UTC)  # known at TODAY
            for source in sorted({KINDS[k][0] for _, k, _ in drawn}):
                part = path.with_name(f"in-{source}.csv")
                part.write_text(
                    "source,source_record_id,subject_id,kind,occurred_on,effective_on,amount\n"
                    + "".join(r for r in rows if r.startswith(source + ","))
                )
                ingest_file(store, part, source=source, policy=policy, actor="a", now=moment)
            f = an.compute(store, policy, TODAY, AUDITOR, months=2)
            with store.session() as session:
                ids = sorted(set(session.scalars(select(StoredRecord.subject_id))))
                assert f.subjects == len(ids)
                everyone = inputs_of(session, store.keys, ids, TODAY, access=AUDITOR)
                session.rollback()
            for row in f.tables["grades-over-time"].rows:
                day = date.fromisoformat(row[0])
                grades = Counter(
                    evaluate(policy, i.records, day, TODAY, subject_id=sid).grade
                    for sid, i in everyone.items()
                )
                assert row == (row[0], *(grades[g] for g in f.grades), len(ids)), row
