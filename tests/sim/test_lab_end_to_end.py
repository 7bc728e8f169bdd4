"""A small city through the lab, then its store checked independently of the report.

About 2,000 people over 2 years: the reports are ingested, the due process runs every four
weeks (the lab's cost is per step, so fewer steps keep this test cheap), people object and reviewers decide, and a baseline runs the same city without the
safeguards. The checks below read the SQLite files with the standard library's ``sqlite3``,
not with the report's queries: every figure the report gives must be what the store holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from credence.policy import library
from credence.sim.experiment import Experiment, run_experiment
from credence.sim.scenarios import Injection, Scenario

CITY = library.resolve("city-merit")
# Ten law-abiding people get five false unfulfilled judgments each (a botched import): the
# scheme must list them without safeguards, and their objections must protect them with.
SCENARIO = Scenario(
    population=2000,
    years=2,
    seed=3,
    chronic_factor=25.0,
    injections=(Injection("legal.judgment_unfulfilled", subjects=10, records_each=5),),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    folder = tmp_path_factory.mktemp("lab") / "city"
    return run_experiment(CITY, SCENARIO, folder, name="e2e", step_days=28, snapshots=4)


@pytest.fixture(scope="module")
def db(run: Experiment) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(run.lab.store.folder / "credence.db")
    yield con
    con.close()


@pytest.fixture(scope="module")
def base_db(run: Experiment) -> Iterator[sqlite3.Connection]:
    assert run.baseline is not None
    con = sqlite3.connect(run.baseline.store.folder / "credence.db")
    yield con
    con.close()


def one(con: sqlite3.Connection, sql: str, *args: object) -> int:
    return int(con.execute(sql, args).fetchone()[0] or 0)


def test_every_listing_in_the_report_is_a_listing_row(
    run: Experiment, db: sqlite3.Connection
) -> None:
    lists = run.report["with_safeguards"]["lists"]
    for lid, x in lists.items():
        rows = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT subject_id) FROM list_entries "
            "WHERE list_id = ? AND entered_on IS NOT NULL",
            (lid,),
        ).fetchone()
        assert (x["listings"], x["people"]) == rows
        clean = one(
            db,
            "SELECT COUNT(DISTINCT e.subject_id) FROM list_entries e JOIN lab_subjects t "
            "USING (subject_id) WHERE e.list_id = ? AND e.entered_on IS NOT NULL AND t.clean",
            lid,
        )
        assert x["clean_people"] == clean
    assert lists["serious-arrears"]["people"] > 0


def test_no_listing_or_sanction_without_a_served_notice(db: sqlite3.Connection) -> None:
    assert (
        one(
            db,
            "SELECT COUNT(*) FROM list_entries WHERE list_id = 'serious-arrears' "
            "AND entered_on IS NOT NULL",
        )
        > 0
    )
    unserved_listings = one(
        db,
        "SELECT COUNT(*) FROM list_entries e WHERE e.list_id = 'serious-arrears' "
        "AND e.entered_on IS NOT NULL AND NOT EXISTS (SELECT 1 FROM notices n "
        "WHERE n.subject_id = e.subject_id AND n.about = 'list' AND n.ref = e.ref "
        "AND n.served_on IS NOT NULL AND n.served_on <= e.entered_on)",
    )
    unserved_sanctions = one(
        db,
        "SELECT COUNT(*) FROM measures m WHERE m.measure_id = 'enhanced-review' "
        "AND m.in_force_from IS NOT NULL AND NOT EXISTS (SELECT 1 FROM notices n "
        "WHERE n.subject_id = m.subject_id AND n.served_on IS NOT NULL "
        "AND n.served_on <= m.in_force_from)",
    )
    assert (unserved_listings, unserved_sanctions) == (0, 0)


def test_the_reports_counts_equal_sql_counts(run: Experiment, db: sqlite3.Connection) -> None:
    m = run.report["with_safeguards"]
    assert m["records"]["ingested"] == one(db, "SELECT COUNT(*) FROM records")
    assert m["records"]["wrong"] == one(
        db, "SELECT COUNT(*) FROM lab_records f JOIN records r USING (record_id)"
    )
    by_status = dict(db.execute("SELECT status, COUNT(*) FROM objections GROUP BY status"))
    assert m["objections"]["by_status"] == by_status
    assert m["objections"]["filed"] == one(db, "SELECT COUNT(*) FROM objections") > 0
    served = dict(
        db.execute("SELECT about, COUNT(served_on) FROM notices GROUP BY about").fetchall()
    )
    assert {k: v["served"] for k, v in m["notices"].items() if k != "tables"} == served
    sanctioned = one(
        db,
        "SELECT COUNT(DISTINCT subject_id) FROM measures WHERE measure_id = 'enhanced-review' "
        "AND in_force_from IS NOT NULL",
    )
    assert m["measures"].get("enhanced-review", {"people_in_force": 0})["people_in_force"] == (
        sanctioned
    )
    for group in ("region", "age_band"):
        rows = m["burden"][group]
        assert sum(r["residents"] for r in rows) == 2000
        assert sum(r["listed"] for r in rows) == m["lists"]["serious-arrears"]["people"]
    gaps = [
        row[0]
        for row in db.execute(
            "SELECT julianday(e.entered_on) - julianday(n.served_on) FROM list_entries e "
            "JOIN notices n ON n.subject_id = e.subject_id AND n.about = 'list' AND n.ref = e.ref "
            "WHERE e.entered_on IS NOT NULL AND n.served_on IS NOT NULL"
        )
    ]
    assert m["notice_to_listing_days"]["n"] == len(gaps)
    # A listing follows the notice by its period at least (P30D in city-merit).
    assert min(gaps) >= 30


def test_objections_went_through_the_store_and_react_to_delivered_notices(
    run: Experiment, db: sqlite3.Connection
) -> None:
    # Every objection a warned person filed was filed after a notice served to them.
    warned = "json_extract(o.body, '$.statement') LIKE 'After your notice:%'"
    assert one(db, f"SELECT COUNT(*) FROM objections o WHERE {warned}") > 0
    early = one(
        db,
        "SELECT COUNT(*) FROM objections o WHERE NOT EXISTS (SELECT 1 FROM notices n "
        "WHERE n.subject_id = o.subject_id AND n.served_on IS NOT NULL "
        f"AND n.served_on <= date(o.filed_at)) AND {warned}",
    )
    assert early == 0
    overturned_wrong = one(
        db,
        "SELECT COUNT(*) FROM objections o JOIN lab_records f USING (record_id) "
        "WHERE o.status = 'overturned'",
    )
    assert (
        overturned_wrong
        == run.report["with_safeguards"]["objections"]["against_wrong_records"].get("overturned", 0)
        > 0
    )
    # The record an objection overturned carries the status, dated by the decision.
    assert (
        one(
            db,
            "SELECT COUNT(*) FROM objections o WHERE o.status = 'overturned' AND NOT EXISTS "
            "(SELECT 1 FROM record_status s WHERE s.record_id = o.record_id "
            "AND s.status = 'overturned')",
        )
        == 0
    )


def test_safeguards_side_by_side(
    run: Experiment, db: sqlite3.Connection, base_db: sqlite3.Connection
) -> None:
    sql = (
        "SELECT COUNT(DISTINCT e.subject_id) FROM list_entries e JOIN lab_subjects t "
        "USING (subject_id) WHERE e.list_id = 'serious-arrears' AND e.entered_on IS NOT NULL "
        "AND t.clean"
    )
    effect = run.report["safeguards_effect"]["clean_people_listed"]
    assert effect == {"with": one(db, sql), "without": one(base_db, sql)}
    # Without a notice period nobody can object in time: most of the ten injected people are
    # listed (one may hold enough merit points to stay above grade D); with it, fewer are.
    assert effect["without"] >= 5
    assert effect["without"] > effect["with"]
    assert one(base_db, "SELECT COUNT(*) FROM objections") == 0
    html = run.html.read_text()
    assert "The safeguards&#x27; measured effect" in html or "measured effect" in html
    assert html.count("<desc>") >= 3 and "From the store tables: list_entries" in html
