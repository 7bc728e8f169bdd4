"""The due-process commands end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from credence.cli import app
from tests.process.test_lifecycle import SCHEME
from tests.store.backends import Backend


def test_process_cli_from_ingest_to_review(sqlite_backend: Backend, tmp_path: Path) -> None:
    b = sqlite_backend
    run, env, pol = CliRunner(), b.env() | {"COLUMNS": "250"}, str(SCHEME)
    csv = tmp_path / "a.csv"
    csv.write_text(
        "source,source_record_id,subject_id,kind,occurred_on\n"
        "agency,A1,NID-1,major,2026-01-10\n"
        "agency,A2,NID-1,minor,2026-02-10\n"
    )
    ingested = run.invoke(
        app,
        [
            "ingest",
            str(csv),
            "--source",
            "agency",
            "--policy",
            pol,
            "--now",
            "2026-11-01T00:00:00Z",
        ],
        env=env,
    )
    assert ingested.exit_code == 0, ingested.output
    refused = run.invoke(
        app,
        ["process", "run", "--policy", pol, "--as-of", "2026-03-01", "--profile", "eu"],
        env=env,
    )
    assert refused.exit_code == 1
    assert "CR009" in refused.output
    done = run.invoke(app, ["process", "run", "--policy", pol, "--as-of", "2026-03-01"], env=env)
    assert done.exit_code == 0, done.output
    assert "advanced 1 subject(s) to 2026-03-01" in done.output
    listed = run.invoke(app, ["notices", "--status", "served"], env=env)
    assert "reminder@2026-02-10" in listed.output and "2026-02-12" in listed.output
    assert len(list((b.folder / "outbox").glob("*.json"))) == 1
    filed = run.invoke(
        app,
        [
            "objection",
            "file",
            "agency:A2",
            "--policy",
            pol,
            "--statement",
            "not me",
            "--now",
            "2026-03-02T10:00:00Z",
        ],
        env=env,
    )
    assert filed.exit_code == 0, filed.output
    assert "objection 1 filed against agency:A2; review due by 2026-04-01" in filed.output
    more = run.invoke(
        app,
        [
            "objection",
            "evidence",
            "1",
            "--policy",
            pol,
            "--evidence",
            "doc://alibi",
            "--now",
            "2026-03-03T10:00:00Z",
        ],
        env=env,
    )
    assert "review due by 2026-04-16" in more.output
    no_reason = run.invoke(
        app,
        ["objection", "decide", "1", "--outcome", "upheld", "--now", "2026-03-04T10:00:00Z"],
        env=env,
    )
    assert no_reason.exit_code == 2 and "needs a reason" in no_reason.output
    decided = run.invoke(
        app,
        [
            "objection",
            "decide",
            "1",
            "--outcome",
            "overturned",
            "--reason",
            "alibi checked",
            "--now",
            "2026-03-04T10:00:00Z",
        ],
        env=env,
    )
    assert decided.exit_code == 0 and "objection 1: overturned" in decided.output
    run.invoke(app, ["process", "run", "--policy", pol, "--as-of", "2026-03-05"], env=env)
    withdrawn = run.invoke(app, ["notices", "--status", "withdrawn"], env=env)
    assert "reminder@2026-02-10" in withdrawn.output
    queue = run.invoke(app, ["measures", "--status", "awaiting_review"], env=env)
    assert queue.exit_code == 0 and "0 measure(s)" in queue.output
    missing = run.invoke(app, ["measures", "review", "9", "--approve"], env=env)
    assert missing.exit_code == 2 and "no measure 9" in missing.output
    verify = run.invoke(app, ["audit", "verify"], env=env)
    assert verify.exit_code == 0, verify.output
