"""``credence subject export``: an operator's copy of one subject's file on a written request,
logged in the audit chain with the request's reference."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from credence.audit.tables import AuditEntry
from credence.commands.subject import register
from tests.api.test_export import pdf_text
from tests.api.world import World, build, policy
from tests.store.backends import Backend
from tests.store.backends import sqlite_backend as sqlite_backend  # the fixture

cli = typer.Typer()
register(cli)


def test_an_export_on_a_written_request(sqlite_backend: Backend, tmp_path: Path) -> None:
    sqlite_world: World = build(sqlite_backend, tmp_path)
    scheme = tmp_path / "scheme.yaml"
    scheme.write_text(
        yaml.safe_dump(policy().versions[0].model_dump(mode="json", exclude_none=True))
    )
    env = sqlite_world.backend.env() | {"COLUMNS": "200"}
    out = tmp_path / "out"
    args = ["subject", "export", "--policy", str(scheme), "--out", str(out), "--request-ref",
            "REQ-2026-17", "--actor", "clerk", "--now", "2026-06-02T12:00:00Z"]  # fmt: skip
    got = CliRunner().invoke(cli, [*args, "--national-id", "NID-1"], env=env)
    assert got.exit_code == 0, got.output
    sid = sqlite_world.alice
    assert sorted(p.name for p in out.iterdir()) == [
        f"{sid}.json", f"{sid}.pdf", "letter-1.pdf", "letter-2.pdf", "letter-3.pdf"
    ]  # fmt: skip
    doc = json.loads((out / f"{sid}.json").read_text())
    assert (doc["request_ref"], doc["as_of"], len(doc["records"]), len(doc["notices"])) == (
        "REQ-2026-17", "2026-06-02", 5, 3
    )  # fmt: skip
    assert (doc["assessment"]["score"], doc["assessment"]["grade"]) == (9, "high")
    assert pdf_text((out / "letter-3.pdf").read_bytes()).splitlines()[:2] == [
        "Notice: ban", "Reference number: ban@2026-05-10"
    ]  # fmt: skip
    with sqlite_world.backend.store.session() as s:
        entry = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert entry is not None
    assert (entry.actor, entry.action, entry.subject_id) == ("clerk", "read.export", sid)
    assert json.loads(entry.detail) == {
        "as_of": "2026-06-02",
        "purpose": "written request REQ-2026-17: the subject's copy of their file (GDPR Art. 15)",
        "request_ref": "REQ-2026-17",
        "role": "operator",
    }
    # The subject sees who exported the file and why.
    reads = sqlite_world.call("alice", "GET", "/me/accesses").json()["items"]
    assert [(r["actor"], r["role"], r["what"]) for r in reads][-1] == (
        "clerk",
        "operator",
        "export",
    )
    # Bad input: both ids, neither, an unknown subject.
    both = CliRunner().invoke(cli, [*args, "--national-id", "NID-1", "--subject-id", sid], env=env)
    assert (both.exit_code, both.output.strip()) == (
        2, "give exactly one of --national-id and --subject-id"
    )  # fmt: skip
    nobody = CliRunner().invoke(cli, [*args, "--subject-id", "f" * 64], env=env)
    assert (nobody.exit_code, nobody.output.strip()) == (
        2, f"the store holds no data about subject {'f' * 64}"
    )  # fmt: skip
