"""What the store knew at K, read three ways: the API, the batch over the store, and
``credence explain --data``. A record the source says it recorded before K but the store
ingested only after K was not known at K, and none of the three counts it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from credence.access.auth import add_principal
from credence.api.app import create_app
from credence.cli import app as cli
from credence.compute.batch import connect, score_batch, source_from_store
from credence.ingest.run import ingest_file
from credence.policy.load import load_policy
from tests.api.world import CHEAP, SCHEME
from tests.store.backends import PG_URL, Backend

K = date(2026, 6, 1)
NOW = datetime(2026, 6, 12, 9, tzinfo=UTC)
HEADER = "source,source_record_id,subject_id,kind,occurred_on,recorded_at\n"


def _world(b: Backend, tmp: Path) -> str:
    pol = load_policy(SCHEME)
    early, late = tmp / "early.csv", tmp / "late.csv"
    early.write_text(HEADER + "agency,E1,NID-5,minor,2026-03-01,2026-03-02\n")
    # The source recorded it on 20 May; the store ingested it on 10 June, after K.
    late.write_text(HEADER + "agency,L1,NID-5,major,2026-04-01,2026-05-20\n")
    for path, at in (
        (early, datetime(2026, 5, 1, tzinfo=UTC)),
        (late, datetime(2026, 6, 10, tzinfo=UTC)),
    ):
        ingest_file(b.store, path, source="agency", policy=pol, actor="loader", now=at)
    return b.keys.subject_id("NID-5")


def _api(b: Backend, sid: str) -> Callable[[str], dict[str, Any]]:
    with b.store.session() as s:
        _, key = add_principal(
            s, b.keys, "eve", "subject", sid, actor="admin", now=NOW, hasher=CHEAP
        )
        s.commit()
    client = TestClient(create_app(b.store, load_policy(SCHEME), clock=lambda: NOW))

    def assessment(query: str) -> dict[str, Any]:
        got = client.get(f"/me/assessment?{query}", headers={"Authorization": f"Bearer {key}"})
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body

    return assessment


def _batch(b: Backend, known: date) -> dict[str, Any]:
    if b.name == "postgresql":
        con = connect("postgres", url=PG_URL)
        schema = b.url.split("search_path%3D")[1]
        source = source_from_store(con, database=schema)
    else:
        # DuckDB reads the SQLite file's two tables as they are (its sqlite extension is not
        # installed here): the store's own rows, text instants and all.
        con = connect("duckdb")
        with sqlite3.connect(b.folder / "credence.db") as db:
            db.row_factory = sqlite3.Row
            for table in ("records", "record_status"):
                rows = [dict(r) for r in db.execute(f"SELECT * FROM {table}")]
                names = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
                columns = {n: pa.array([r[n] for r in rows]) for n in names}
                columns = {n: c.cast(pa.string()) if c.null_count == len(c) else c
                           for n, c in columns.items()}  # fmt: skip
                con.create_table(table, pa.table(columns))
        source = source_from_store(con)
    result = score_batch(load_policy(SCHEME), source, K, known)
    assert result.table is not None
    (row,) = result.table.to_pylist()
    return row


def _explain(b: Backend, sid: str, known: date) -> dict[str, Any]:
    args = ["explain", "-p", str(SCHEME), "--data", str(b.folder), "--subject", sid]
    args += ["--as-of", K.isoformat(), "--known-at", known.isoformat(), "--format", "json"]
    done = CliRunner().invoke(cli, [*args, "--purpose", "test of known_at"], env=b.env())
    assert done.exit_code == 0, done.output
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def test_a_record_ingested_after_k_counts_nowhere_at_k(backend: Backend, tmp_path: Path) -> None:
    sid = _world(backend, tmp_path)
    assessment = _api(backend, sid)
    api = assessment(f"as_of={K}&known_at={K}")
    batch = _batch(backend, K)
    # Only the minor act (1 point) was known at K.
    assert (batch["score"], batch["grade"]) == (1, "low")
    assert (api["score"], api["grade"]) == (1, "low")
    explain = _explain(backend, sid, K)
    assert (explain["score"], explain["grade"]) == (1, "low")
    assert [c["record_id"] for c in api["contributions"]] == ["agency:E1"]
    assert api["contributions"] == explain["contributions"]
    # Known now (12 June), the major act counts too: 1 + 3.
    today = date(2026, 6, 12)
    assert assessment(f"as_of={K}")["score"] == 4
    assert _batch(backend, today)["score"] == 4
    assert _explain(backend, sid, today)["score"] == 4
