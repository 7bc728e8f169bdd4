"""The lab on PostgreSQL: the same run into a PostgreSQL store, its report equal to SQL counts.

The store and the baseline each live in a schema of their own (``search_path``), dropped after.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from credence.policy import library
from credence.sim.experiment import run_experiment
from credence.sim.scenarios import Injection, Scenario
from tests.store.backends import PG_URL, require_postgres


@pytest.fixture
def schema() -> Iterator[str]:
    require_postgres()
    name = "credence_lab_" + secrets.token_hex(5)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(text(f"CREATE SCHEMA {name}"))
    try:
        yield name
    finally:
        with admin.connect() as con:
            con.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            con.execute(text(f"DROP SCHEMA IF EXISTS {name}_baseline CASCADE"))
        admin.dispose()


def test_a_lab_run_on_postgresql(tmp_path: Path, schema: str) -> None:
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    scenario = Scenario(
        population=400,
        years=1,
        seed=3,
        injections=(Injection("legal.judgment_unfulfilled", subjects=4, records_each=5),),
    )
    run = run_experiment(
        library.resolve("city-merit"),
        scenario,
        tmp_path / "run",
        name="pg",
        url=url,
        step_days=28,
        snapshots=2,
    )
    assert run.lab.store.url.startswith("postgresql")
    assert run.baseline is not None and f"{schema}_baseline" in run.baseline.store.url
    engine = create_engine(url)
    with engine.connect() as con:

        def one(sql: str) -> int:
            return int(con.execute(text(sql)).scalar() or 0)

        m = run.report["with_safeguards"]
        assert m["records"]["ingested"] == one("SELECT COUNT(*) FROM records") > 0
        assert m["population"]["subjects"] == one("SELECT COUNT(*) FROM lab_subjects") == 400
        listed = one(
            "SELECT COUNT(DISTINCT subject_id) FROM list_entries "
            "WHERE list_id = 'serious-arrears' AND entered_on IS NOT NULL"
        )
        assert m["lists"]["serious-arrears"]["people"] == listed
        filed = one("SELECT COUNT(*) FROM objections")
        assert m["objections"]["filed"] == filed
    engine.dispose()
    run.lab.store.close()
    run.baseline.store.close()
    # The injected people: listed without safeguards (no notice period, nobody objects).
    assert run.report["safeguards_effect"]["clean_people_listed"]["without"] >= 1
