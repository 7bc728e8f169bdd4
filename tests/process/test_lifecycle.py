"""Full due-process lifecycles with exact dates, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from credence.audit import chain
from credence.audit.access import Access, log_read
from credence.ingest.run import ingest_file
from credence.policy.load import PolicySet, load_policy
from credence.runs.objections import ObjectionError, add_evidence, decide, file_objection
from credence.runs.outbox import DeliveryError, FileSender
from credence.runs.reviews import ReviewError, review_measure
from credence.runs.run import run
from credence.store.schema import (
    ListEntry,
    MeasureRow,
    Notice,
    Objection,
    OutboxMessage,
    ProcessEvent,
)
from tests.store.backends import Backend

D = date
SCHEME = Path(__file__).parent / "data" / "scheme.yaml"
HEADER = "source,source_record_id,subject_id,kind,occurred_on\n"


def scheme(**changes: Any) -> PolicySet:
    """The test scheme, optionally with changed fields (written to a temporary copy)."""
    policy = load_policy(SCHEME)
    if not changes:
        return policy
    doc = policy.versions[0].model_dump(mode="json", exclude_none=True)
    for dotted, value in changes.items():
        target = doc
        *path, last = dotted.split(".")
        for part in path:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return PolicySet.of(type(policy.versions[0]).model_validate(doc))


def ingest(
    b: Backend, tmp: Path, policy: PolicySet, source: str, rows: list[tuple[str, ...]]
) -> None:
    """Ingest rows (id, national id, kind, occurred) reported by ``source``."""
    path = tmp / f"{source}-{len(list(tmp.glob('*.csv')))}.csv"
    path.write_text(HEADER + "".join(f"{source},{','.join(r)}\n" for r in rows))
    ingest_file(
        b.store,
        path,
        source=source,
        policy=policy,
        actor="agency",
        now=datetime(2026, 11, 1, tzinfo=UTC),
    )


def advance(b: Backend, policy: PolicySet, day: date, sender: Any = None) -> Any:
    return run(
        b.store, policy, day, actor="process", sender=sender or FileSender(b.folder / "outbox")
    )


def notices(b: Backend) -> list[tuple[Any, ...]]:
    with b.store.session() as s:
        return [
            (n.about, n.ref, n.status, n.issued_on, n.served_on, n.deadline)
            for n in s.scalars(select(Notice).order_by(Notice.id))
        ]


def measures(b: Backend) -> list[tuple[Any, ...]]:
    with b.store.session() as s:
        return [
            (m.measure_id, m.ref, m.status, m.in_force_from, m.until)
            for m in s.scalars(select(MeasureRow).order_by(MeasureRow.id))
        ]


def entries(b: Backend) -> list[tuple[Any, ...]]:
    with b.store.session() as s:
        return [
            (e.list_id, e.status, e.entered_on, e.exited_on, json.loads(e.body)["reason"])
            for e in s.scalars(select(ListEntry).order_by(ListEntry.id))
        ]


def history(b: Backend, object_type: str) -> list[tuple[str, str]]:
    with b.store.session() as s:
        return [
            (e.status, e.at.date().isoformat())
            for e in s.scalars(
                select(ProcessEvent)
                .where(ProcessEvent.object_type == object_type)
                .order_by(ProcessEvent.id)
            )
        ]


CLIMB = [
    ("A1", "NID-1", "major", "2026-01-10"),
    ("A2", "NID-1", "minor", "2026-02-10"),
    ("A3", "NID-1", "minor", "2026-03-10"),
    ("A4", "NID-1", "minor", "2026-04-10"),
    ("A5", "NID-1", "major", "2026-05-10"),
]


def test_not_rectified_the_measure_applies_on_the_day_the_notice_period_ends(
    backend: Backend, tmp_path: Path
) -> None:
    policy = scheme()
    ingest(backend, tmp_path, policy, "agency", CLIMB)
    summary = advance(backend, policy, D(2026, 6, 1))
    assert summary.subjects == 1
    assert notices(backend) == [
        ("stage", "reminder@2026-02-10", "served", D(2026, 2, 10), D(2026, 2, 12), None),
        ("stage", "warning@2026-04-10", "served", D(2026, 4, 10), D(2026, 4, 12), None),
        ("stage", "ban@2026-05-10", "expired", D(2026, 5, 10), D(2026, 5, 12), D(2026, 5, 26)),
    ]
    # served two days after issue (the ladder's service lag), in force 14 days after service
    assert measures(backend) == [
        ("ban", "ban@2026-05-10", "in_force", D(2026, 5, 26), D(2026, 6, 26)),
    ]
    assert history(backend, "measure") == [("proposed", "2026-05-26"), ("in_force", "2026-05-26")]
    with backend.store.session() as s:
        sent = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(m.kind, m.status, m.served_on) for m in sent] == [
            ("notice", "sent", D(2026, 2, 12)),
            ("notice", "sent", D(2026, 4, 12)),
            ("notice", "sent", D(2026, 5, 12)),
        ]
        body = json.loads(sent[2].body)
        assert body["measure"]["appeal_route"] == "Court within a month"
        assert [r["code"] for r in body["reasons"]] == ["major", "major", "minor", "minor"]
        assert chain.verify(s, backend.keys).ok
    assert len(list((backend.folder / "outbox").glob("*-notice.json"))) == 3
    later = advance(backend, policy, D(2026, 7, 1))
    assert measures(backend)[0][2:] == ("lifted", D(2026, 5, 26), D(2026, 6, 26))
    assert later.transitions == 1


def test_warned_and_rectified_in_time_nothing_is_applied(backend: Backend, tmp_path: Path) -> None:
    policy = scheme()
    ingest(backend, tmp_path, policy, "agency", CLIMB)
    ingest(backend, tmp_path, policy, "school", [("S1", "NID-1", "course", "2026-05-20")])
    advance(backend, policy, D(2026, 6, 1))
    assert notices(backend)[-1][1:] == (
        "ban@2026-05-10",
        "complied",
        D(2026, 5, 10),
        D(2026, 5, 12),
        D(2026, 5, 26),
    )
    assert measures(backend) == []


@pytest.mark.parametrize(("on_skip", "score_effect"), [("hold", None), ("clamp", -1)])
def test_a_stage_skipped_in_one_jump(
    backend: Backend, tmp_path: Path, on_skip: str, score_effect: int | None
) -> None:
    policy = scheme(**{"stages.on_skip": on_skip})
    ingest(
        backend,
        tmp_path,
        policy,
        "agency",
        [
            ("B1", "NID-2", "major", "2026-03-01"),
            ("B2", "NID-2", "major", "2026-03-05"),
        ],
    )
    advance(backend, policy, D(2026, 4, 1))
    if on_skip == "hold":
        # 6 points reach the warning, but the reminder must be served first (03-07): the
        # warning follows it, issued 03-07 and served 03-09
        assert [n[1:5] for n in notices(backend)] == [
            ("reminder@2026-03-05", "served", D(2026, 3, 5), D(2026, 3, 7)),
            ("warning@2026-03-07", "served", D(2026, 3, 7), D(2026, 3, 9)),
        ]
    else:
        # clamped to 5, one short of the warning: only the reminder is served
        assert [n[1:5] for n in notices(backend)] == [
            ("reminder@2026-03-05", "served", D(2026, 3, 5), D(2026, 3, 7)),
        ]


def test_objection_overturned_after_the_measure_undoes_everything(
    backend: Backend, tmp_path: Path
) -> None:
    policy = scheme(**{"contest.suspends": False})
    ingest(backend, tmp_path, policy, "agency", CLIMB)
    advance(backend, policy, D(2026, 6, 1))
    assert measures(backend)[0][2] == "in_force"
    sid = backend.keys.subject_id("NID-1")
    with backend.store.session() as s:
        # a bank checked the subject's status two weeks ago
        log_read(
            s,
            backend.keys,
            Access("bank-1", "relying_party", "loan application"),
            sid,
            "status",
            at=datetime(2026, 5, 28, tzinfo=UTC),
        )
        o = file_objection(
            s,
            backend.keys,
            policy,
            "agency:A5",
            statement="Not me: wrong plate",
            evidence=["doc://photo"],
            actor="subject",
            now=datetime(2026, 6, 2, 9, tzinfo=UTC),
        )
        assert o.review_deadline == D(2026, 7, 2)
        decide(
            s,
            backend.keys,
            o.id,
            "overturned",
            reason="plate misread",
            actor="reviewer-1",
            now=datetime(2026, 6, 10, 15, tzinfo=UTC),
        )
        s.commit()
    summary = advance(backend, policy, D(2026, 6, 11))
    assert measures(backend) == [
        ("ban", "ban@2026-05-10", "rescinded", D(2026, 5, 26), D(2026, 6, 10))
    ]
    assert notices(backend)[-1][2] == "withdrawn"
    assert summary.notified == 1
    with backend.store.session() as s:
        [note] = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notification")).all()
        assert (note.recipient, note.status, note.deliver_on) == (
            "relying_party:bank-1",
            "sent",
            D(2026, 6, 11),
        )


def test_a_missed_review_deadline_lapses_the_record(backend: Backend, tmp_path: Path) -> None:
    policy = scheme(**{"contest.suspends": False})
    ingest(backend, tmp_path, policy, "court", [("C1", "NID-3", "debt", "2026-03-01")])
    with backend.store.session() as s:
        o = file_objection(
            s,
            backend.keys,
            policy,
            "court:C1",
            statement="paid in 2025",
            actor="subject",
            now=datetime(2026, 3, 5, tzinfo=UTC),
        )
        add_evidence(
            s,
            backend.keys,
            policy,
            o.id,
            ["doc://receipt"],
            actor="subject",
            now=datetime(2026, 3, 20, tzinfo=UTC),
        )
        assert o.review_deadline == D(2026, 4, 4) + timedelta(days=15)
        s.commit()
    summary = advance(backend, policy, D(2026, 4, 20))
    assert summary.lapsed == 1
    with backend.store.session() as s:
        o = s.get(Objection, o.id)
        assert o is not None and (o.status, o.outcome) == ("lapsed", "lapsed")
        with pytest.raises(ObjectionError, match="no longer open"):
            decide(
                s,
                backend.keys,
                o.id,
                "upheld",
                reason="late",
                actor="r",
                now=datetime(2026, 4, 21, tzinfo=UTC),
            )
    # notice 03-01, served 03-03, listed 30 days later on 04-02; removed when the record lapsed
    assert entries(backend) == [
        (
            "debtors",
            "removed",
            D(2026, 4, 2),
            D(2026, 4, 20),
            "court:C1 (lapsed) no longer counted",
        )
    ]
    assert measures(backend)[0][2] == "rescinded"


def test_repair_ends_the_listing(backend: Backend, tmp_path: Path) -> None:
    policy = scheme()
    ingest(
        backend,
        tmp_path,
        policy,
        "court",
        [
            ("C1", "NID-4", "debt", "2026-03-01"),
            ("C2", "NID-4", "paid", "2026-05-15"),
        ],
    )
    advance(backend, policy, D(2026, 6, 1))
    assert entries(backend) == [
        ("debtors", "removed", D(2026, 4, 2), D(2026, 5, 15), "repaired by court:C2")
    ]
    assert history(backend, "list_entry") == [
        ("pending_notice", "2026-03-01"),
        ("listed", "2026-04-02"),
        ("removed", "2026-05-15"),
    ]
    assert measures(backend) == [
        ("restrict", "list:debtors@2026-03-01#restrict", "lifted", D(2026, 4, 2), D(2026, 5, 15))
    ]


def test_eu_profile_holds_the_measure_for_human_review(backend: Backend, tmp_path: Path) -> None:
    policy = scheme(**{"measures.0.human_review": True})
    ingest(backend, tmp_path, policy, "agency", CLIMB)
    advance(backend, policy, D(2026, 6, 1))
    assert measures(backend) == [("ban", "ban@2026-05-10", "awaiting_review", None, None)]
    with backend.store.session() as s:
        row = s.scalars(select(MeasureRow)).one()
        with pytest.raises(ReviewError, match="needs a reason"):
            review_measure(
                s, backend.keys, row.id, approve=False, reason=" ", actor="r", on=D(2026, 6, 2)
            )
        review_measure(
            s,
            backend.keys,
            row.id,
            approve=True,
            reason="facts verified",
            actor="reviewer-1",
            on=D(2026, 6, 3),
        )
        s.commit()
    advance(backend, policy, D(2026, 6, 5))
    assert measures(backend) == [
        ("ban", "ban@2026-05-10", "in_force", D(2026, 6, 3), D(2026, 7, 3))
    ]


def test_a_run_twice_changes_nothing_and_daily_runs_equal_one_run(tmp_path: Path) -> None:
    from tests.store.backends import SECRET, open_backend

    policy = scheme()
    rows = [*CLIMB, ("B1", "NID-2", "major", "2026-03-01"), ("B2", "NID-2", "major", "2026-03-05")]
    daily_gen = open_backend("sqlite", tmp_path / "daily", SECRET)
    once_gen = open_backend("sqlite", tmp_path / "once", SECRET)
    daily, once = next(daily_gen), next(once_gen)
    try:
        (tmp_path / "d").mkdir()
        (tmp_path / "o").mkdir()
        ingest(daily, tmp_path / "d", policy, "agency", rows)
        ingest(once, tmp_path / "o", policy, "agency", rows)
        ingest(daily, tmp_path / "d", policy, "court", [("C1", "NID-4", "debt", "2026-03-01")])
        ingest(once, tmp_path / "o", policy, "court", [("C1", "NID-4", "debt", "2026-03-01")])
        day = D(2026, 1, 1)
        while day <= D(2026, 7, 1):
            advance(daily, policy, day)
            day += timedelta(days=1)
        advance(once, policy, D(2026, 7, 1))
        again = advance(once, policy, D(2026, 7, 1))
        assert again.transitions == 0 and again.delivered == 0
        # the same rows and the same dated transitions (created in a different order)
        for view in (notices, measures, entries):
            assert sorted(view(daily), key=repr) == sorted(view(once), key=repr)
        for kind in ("notice", "measure", "list_entry"):
            assert sorted(history(daily, kind)) == sorted(history(once, kind))
        assert len(notices(once)) == 6
    finally:
        daily_gen.close()
        once_gen.close()


class Broken:
    """A sender whose delivery always fails."""

    def send(self, message: object) -> None:
        raise DeliveryError("mail server down")


def test_an_undelivered_notice_holds_everything_that_depends_on_it(
    backend: Backend, tmp_path: Path
) -> None:
    policy = scheme()
    ingest(backend, tmp_path, policy, "agency", CLIMB)
    advance(backend, policy, D(2026, 6, 1), sender=Broken())
    assert notices(backend) == [
        ("stage", "reminder@2026-02-10", "issued", D(2026, 2, 10), None, None)
    ]
    assert measures(backend) == []
    # delivered on the retry: served that day, and the ladder resumes from there
    advance(backend, policy, D(2026, 6, 2))
    assert notices(backend)[0][2:5] == ("served", D(2026, 2, 10), D(2026, 6, 2))
    assert notices(backend)[1][1:5] == ("warning@2026-06-02", "issued", D(2026, 6, 2), None)
