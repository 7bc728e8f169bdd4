"""Incremental rescoring equals a full rescore, night after night."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.compute.batch import (
    BatchSource,
    connect,
    records_to_arrow,
    score_batch,
    source_from_parquet,
    source_from_records,
)
from credence.compute.incremental import export_result, score_incremental
from credence.policy.load import load_policy
from tests.compute.test_batch_replay import _rec, history_policies
from tests.compute.test_batch_support import DIFFERENTIAL, batch_policies, population
from tests.strategies import START


def _rows(path: Path) -> dict[str, dict[str, object]]:
    return {r["subject_id"]: r for r in pq.read_table(str(path)).to_pylist()}


def _steps(draw: st.DrawFn) -> list[int]:
    return sorted(set(draw(st.lists(st.integers(0, 1100), min_size=2, max_size=6))))


def _nights(draw: st.DrawFn) -> list[int]:
    """Runs a few days apart, so that one event (an expiry, say) is often the only change."""
    first = draw(st.integers(0, 1100))
    gaps = draw(st.lists(st.integers(1, 20), min_size=3, max_size=10))
    days = [first]
    for gap in gaps:
        days.append(days[-1] + gap)
    return days


def _parquet_source(recs, tmp: Path) -> BatchSource:
    """The records as Parquet files: unchanged files let the calendar alone find the subjects."""
    records, status = records_to_arrow(recs)
    pq.write_table(records, tmp / "records.parquet")
    pq.write_table(status, tmp / "status.parquet")
    return source_from_parquet(connect("duckdb"), tmp / "records.parquet", tmp / "status.parquet")


def _check(
    policy, recs, offsets, lag, tmp: Path, parquet: bool = False, agenda_days: int = 7
) -> None:
    source = _parquet_source(recs, tmp) if parquet else source_from_records(connect("duckdb"), recs)
    folder = tmp / "state"
    for n, offset in enumerate(offsets):
        day = START + timedelta(days=offset)
        if policy.version_at(day) is None:
            continue
        known = day + timedelta(days=lag)
        inc = score_incremental(policy, source, day, known, folder, agenda_days)
        full = score_batch(policy, source, day, known, output=tmp / f"full{n}.parquet")
        assert full.path is not None
        got = export_result(folder, tmp / f"inc{n}.parquet")
        assert _rows(got) == _rows(full.path), (day, inc.reason)


@settings(DIFFERENTIAL, max_examples=25)
@given(batch_policies(), population(), st.data(), st.sampled_from([0, 0, 20]))
def test_incremental_equals_full_rescore(tmp_path_factory, policy, recs, data, lag) -> None:
    _check(policy, recs, _steps(data.draw), lag, tmp_path_factory.mktemp("inc"))


@settings(DIFFERENTIAL, max_examples=25)
@given(
    batch_policies(),
    population(),
    st.data(),
    st.sampled_from([0, 0, 20]),
    st.sampled_from([0, 3, 7, 30]),
)
def test_calendar_alone_equals_full_rescore(
    tmp_path_factory, policy, recs, data, lag, agenda_days
) -> None:
    """Unchanged Parquet files: the stored calendar and agenda, no search of the records.

    Agendas of a few days make the runs alternate between nights read from the agenda and
    nights past its end, which take the records from the files and refill it.
    """
    _check(
        policy,
        recs,
        _nights(data.draw),
        lag,
        tmp_path_factory.mktemp("cal"),
        parquet=True,
        agenda_days=agenda_days,
    )


@settings(DIFFERENTIAL, max_examples=15)
@given(history_policies(), population(), st.data(), st.booleans())
def test_incremental_with_replayed_subjects(tmp_path_factory, policy, recs, data, parquet) -> None:
    _check(policy, recs, _steps(data.draw), 0, tmp_path_factory.mktemp("inc"), parquet)


def test_quiet_night_rescores_nobody(tmp_path: Path) -> None:
    policy = load_policy("src/credence/policy/library/court-debtor-list.yaml")
    kind = policy.latest.rules[0].kind
    start = policy.latest.effective_from
    recs = [_rec(f"r{i}", f"s{i}", kind, start + timedelta(days=i)) for i in range(5)]
    con = connect("duckdb")
    source = source_from_records(con, recs)
    day = start + timedelta(days=30)
    first = score_incremental(policy, source, day, day, tmp_path)
    assert first.full and first.reason == "no previous run"
    second = score_incremental(
        policy, source, day + timedelta(days=1), day + timedelta(days=1), tmp_path
    )
    assert not second.full
    assert second.rescored == 0 and second.subjects == 5
    late = _rec("late", "s9", kind, day + timedelta(days=2))
    source = source_from_records(con, [*recs, late])
    third = score_incremental(
        policy, source, day + timedelta(days=3), day + timedelta(days=3), tmp_path
    )
    assert third.rescored == 1 and third.subjects == 6


def test_files_changed_with_a_record_dated_after_the_night(tmp_path: Path) -> None:
    """A record added with every day after tonight's is rescored tonight and when it counts."""
    policy = load_policy("src/credence/policy/library/city-merit.yaml")
    day = START + timedelta(days=400)
    kind = "civic.award"
    old = [_rec("a1", "ann", kind, day - timedelta(days=30))]
    folder = tmp_path / "state"
    first = score_incremental(policy, _parquet_source(old, tmp_path), day, day, folder)
    assert first.full
    late = _rec("b1", "bob", kind, day + timedelta(days=5))
    source = _parquet_source([*old, late], tmp_path)
    for offset, rescored in ((1, 1), (2, 0), (5, 1), (6, 0)):
        night = day + timedelta(days=offset)
        inc = score_incremental(policy, source, night, night, folder)
        assert not inc.full
        assert inc.rescored == rescored, night
        full = score_batch(policy, source, night, night, output=tmp_path / "full.parquet")
        assert full.path is not None
        got = export_result(folder, tmp_path / "inc.parquet")
        assert _rows(got) == _rows(full.path), night


def test_a_state_without_calendar_is_rescored_in_full(tmp_path: Path) -> None:
    """Rows written without a calendar (Spark) would never fall due: the next run is full."""
    import duckdb

    policy = load_policy("src/credence/policy/library/city-merit.yaml")
    day = START + timedelta(days=400)
    source = _parquet_source([_rec("a1", "ann", "civic.award", day)], tmp_path)
    folder = tmp_path / "state"
    score_incremental(policy, source, day, day, folder)
    con = duckdb.connect(str(folder / "state.duckdb"))
    body = con.execute("SELECT body FROM run").fetchone()[0]  # type: ignore[index]
    con.execute("UPDATE run SET body = ?", [body.replace('"calendar": true', '"calendar": false')])
    con.close()
    later = day + timedelta(days=1)
    again = score_incremental(policy, source, later, later, folder)
    assert again.full and again.reason == "the stored result has no calendar"


def test_nights_within_the_agenda_read_it_and_a_night_past_it_refills_it(tmp_path: Path) -> None:
    """Unchanged files: the agenda's head answers; past its end the files answer and refill it."""
    policy = load_policy("src/credence/policy/library/city-merit.yaml")
    day = date(2027, 3, 1)
    arrears = "financial.utility_arrears"  # counts for a year from the day it occurred
    recs = [
        _rec("a1", "ann", arrears, date(2026, 3, 4)),  # expires 4 March: on the agenda
        _rec("b1", "bob", arrears, date(2026, 3, 11)),  # expires 11 March: past its end
        _rec("c1", "cat", "civic.award", date(2027, 2, 19)),  # nothing changes for years
    ]
    source = _parquet_source(recs, tmp_path)
    folder = tmp_path / "state"
    first = score_incremental(policy, source, day, day, folder, agenda_days=7)
    assert first.full
    nights = [
        (2, "from the agenda", 0),
        (3, "from the agenda", 0),
        (4, "from the agenda", 1),  # ann's arrears expire
        (11, "incremental", 1),  # past 8 March: bob's arrears expire; the agenda is refilled
        (12, "from the agenda", 0),
    ]
    for offset, reason, rescored in nights:
        night = date(2027, 3, offset)
        inc = score_incremental(policy, source, night, night, folder, agenda_days=7)
        assert (inc.reason, inc.rescored) == (reason, rescored), night
        full = score_batch(policy, source, night, night, output=tmp_path / "full.parquet")
        assert full.path is not None
        got = export_result(folder, tmp_path / "inc.parquet")
        assert _rows(got) == _rows(full.path), night
    scores = {sid: row["score"] for sid, row in _rows(got).items()}
    assert scores == {"ann": 1000, "bob": 1000, "cat": 1030}


def _agenda_nights(policy, source, folder: Path, tmp: Path, nights) -> dict[str, dict[str, object]]:
    """Run each (day of March 2027, subjects rescored) night: read from the agenda, rescoring
    that many, each equal to a full rescore; the last night's rows by subject."""
    got: dict[str, dict[str, object]] = {}
    for offset, rescored in nights:
        night = date(2027, 3, offset)
        inc = score_incremental(policy, source, night, night, folder, agenda_days=7)
        assert (inc.reason, inc.rescored) == ("from the agenda", rescored), night
        full = score_batch(policy, source, night, night, output=tmp / "full.parquet")
        assert full.path is not None
        got = _rows(export_result(folder, tmp / "inc.parquet"))
        assert got == _rows(full.path), night
    return got


def test_a_subject_filed_again_is_read_from_the_agenda_on_its_next_day(tmp_path: Path) -> None:
    """Dan is rescored on the 2nd, filed again under the 5th, and read from the agenda again;
    the rows of the nights already taken are not read twice (else the night would fall back to
    the files)."""
    policy = load_policy("src/credence/policy/library/city-merit.yaml")
    day = date(2027, 3, 1)
    arrears = "financial.utility_arrears"
    recs = [
        _rec("d1", "dan", arrears, date(2026, 3, 2)),
        _rec("d2", "dan", arrears, date(2026, 3, 5)),
        _rec("a1", "ann", arrears, date(2026, 3, 4)),
    ]
    source = _parquet_source(recs, tmp_path)
    source.con.raw_sql("SET threads = 3")
    folder = tmp_path / "state"
    assert score_incremental(policy, source, day, day, folder, agenda_days=7).full
    got = _agenda_nights(policy, source, folder, tmp_path, ((2, 1), (3, 0), (4, 1), (5, 1), (6, 0)))
    scores = {sid: row["score"] for sid, row in got.items()}
    assert scores == {"ann": 1000, "dan": 1000}
    # The vacuum was off only for the agenda nights' writes: the caller's setting is back.
    setting = source.con.raw_sql("SELECT current_setting('max_vacuum_tasks')").fetchone()
    assert setting == (100,)
    # So is the thread count, which was one for their inserts.
    assert source.con.raw_sql("SELECT current_setting('threads')").fetchone() == (3,)


def test_the_agenda_keeps_only_records_that_may_still_change_a_result(tmp_path: Path) -> None:
    """Of Ann's four records the agenda keeps the arrears that expire on the 4th (an event to
    come) and the award that still counts; the arrears from before the policy and those that
    expired in January can change nothing again. Each night still equals a full rescore."""
    policy = load_policy("src/credence/policy/library/city-merit.yaml")
    day = date(2027, 3, 1)
    arrears = "financial.utility_arrears"  # counts for a year from the day it occurred
    recs = [
        _rec("a0", "ann", arrears, date(2025, 6, 1)),  # before the policy: never counts
        _rec("a1", "ann", arrears, date(2026, 3, 4)),  # expires 4 March, within the agenda
        _rec("a2", "ann", "civic.award", date(2026, 5, 1)),  # counts until May 2029
        _rec("a3", "ann", arrears, date(2026, 1, 10)),  # expired on 10 January 2027
    ]
    source = _parquet_source(recs, tmp_path)
    folder = tmp_path / "state"
    assert score_incremental(policy, source, day, day, folder, agenda_days=7).full
    con = duckdb.connect(str(folder / "state.duckdb"), read_only=True)
    kept = con.execute("SELECT record_id FROM agenda_records ORDER BY record_id").fetchall()
    con.close()
    assert kept == [("a1",), ("a2",)]
    got = _agenda_nights(policy, source, folder, tmp_path, ((2, 0), (4, 1), (5, 0)))
    assert got["ann"]["score"] == 1030


def test_an_agenda_of_another_layout_is_refilled_before_it_is_read(tmp_path: Path) -> None:
    """A state written by an earlier release holds its agenda another way: its next night takes
    the records from the files and refills the agenda, which the night after reads."""
    policy = load_policy("src/credence/policy/library/city-merit.yaml")
    day = date(2027, 3, 1)
    recs = [_rec("a1", "ann", "financial.utility_arrears", date(2026, 3, 4))]
    source = _parquet_source(recs, tmp_path)
    folder = tmp_path / "state"
    assert score_incremental(policy, source, day, day, folder, agenda_days=7).full
    con = duckdb.connect(str(folder / "state.duckdb"))
    body = json.loads(con.execute("SELECT body FROM run").fetchone()[0])  # type: ignore[index]
    body["agenda_layout"] = 2
    con.execute("UPDATE run SET body = ?", [json.dumps(body)])
    con.close()
    reasons = []
    for offset in (2, 3, 4):
        night = date(2027, 3, offset)
        inc = score_incremental(policy, source, night, night, folder, agenda_days=7)
        reasons.append((inc.reason, inc.rescored))
        full = score_batch(policy, source, night, night, output=tmp_path / "full.parquet")
        assert full.path is not None
        assert _rows(export_result(folder, tmp_path / "inc.parquet")) == _rows(full.path)
    assert reasons == [("incremental", 0), ("from the agenda", 0), ("from the agenda", 1)]
