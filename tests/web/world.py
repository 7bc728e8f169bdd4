"""A small populated store for the web tests: subjects in three regions, principals, a run.

Alice (grade D, 560 points, served a blacklist notice ten days ago) has a judgment that is wrong: overturning it lifts her to C and
withdraws the blacklist notice at the next process run. Bob has an objection that a reviewer
upheld. Carol is blacklisted and her measure awaits a reviewer's sign-off; a few dozen other subjects give the analytics something to count.
"""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import update

from credence.access.auth import add_principal
from credence.audit import chain
from credence.ingest.run import ingest_file
from credence.policy import library
from credence.policy.load import PolicySet
from credence.runs.objections import decide, file_objection
from credence.runs.outbox import FileSender
from credence.runs.run import run
from credence.store.db import Store, make_engine, migrate
from credence.store.keys import KEY_FILE, load_keys
from credence.store.schema import Subject

SECRET = "7a" * 32
HEADER = "source,source_record_id,subject_id,kind,occurred_on,effective_on,amount\n"
REGIONS = ("North", "Riverside", "Old Town")
# Cheap Argon2 parameters: the tests sign in many times; the hash format is the same.
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

ROLES = {
    "alice": "subject",
    "bob": "subject",
    "rita": "reviewer",
    "audrey": "auditor",
    "party": "relying_party",
}
# The wrong judgment Alice objects to.
WRONG = "court:J-ALICE-2"


@dataclass
class World:
    """The store, the policy, and who is who."""

    store: Store
    policy: PolicySet
    ids: dict[str, str]  # principal name → subject id (subjects only)
    keys: dict[str, str]  # principal name → API key
    today: date

    def close(self) -> None:
        """Release the store."""
        self.store.close()


def _rows(today: date) -> list[tuple[str, str, str, str, str, str, str]]:
    """(source, id, national id, kind, occurred, effective, amount) for every subject."""
    d = today - timedelta(days=240)
    rows = [
        ("court", "J-ALICE-1", "NID-ALICE", "legal.judgment_unfulfilled", d, d + timedelta(10), ""),
        (
            "court",
            "J-ALICE-2",
            "NID-ALICE",
            "legal.judgment_unfulfilled",
            today - timedelta(70),
            today - timedelta(60),
            "",
        ),
        (
            "court",
            "J-ALICE-3",
            "NID-ALICE",
            "legal.judgment_unfulfilled",
            today - timedelta(12),
            today - timedelta(10),
            "",
        ),
        (
            "tax_office",
            "T-ALICE-1",
            "NID-ALICE",
            "financial.tax_arrears",
            d + timedelta(20),
            d + timedelta(20),
            "25000",
        ),
        (
            "bank",
            "L-ALICE-1",
            "NID-ALICE",
            "financial.loan_default",
            d + timedelta(90),
            d + timedelta(90),
            "",
        ),
        (
            "city_hall",
            "V-ALICE-1",
            "NID-ALICE",
            "legal.admin_penalty",
            today - timedelta(300),
            today - timedelta(300),
            "",
        ),
        ("court", "J-CAROL-1", "NID-CAROL", "legal.judgment_unfulfilled", d, d, ""),
        (
            "court",
            "J-CAROL-2",
            "NID-CAROL",
            "legal.judgment_unfulfilled",
            d + timedelta(5),
            d + timedelta(5),
            "",
        ),
        (
            "court",
            "J-CAROL-3",
            "NID-CAROL",
            "legal.judgment_unfulfilled",
            d + timedelta(9),
            d + timedelta(9),
            "",
        ),
        (
            "court",
            "J-CAROL-4",
            "NID-CAROL",
            "legal.judgment_unfulfilled",
            d + timedelta(11),
            d + timedelta(11),
            "",
        ),
        ("bank", "L-CAROL-1", "NID-CAROL", "financial.loan_default", d, d, ""),
        (
            "traffic_police",
            "TR-BOB-1",
            "NID-BOB",
            "civic.traffic_violation",
            today - timedelta(100),
            today - timedelta(100),
            "",
        ),
        (
            "city_hall",
            "AW-BOB-1",
            "NID-BOB",
            "civic.award",
            today - timedelta(200),
            today - timedelta(200),
            "",
        ),
    ]
    rng = random.Random(7)
    kinds = [
        ("traffic_police", "civic.traffic_violation", ""),
        ("utility", "financial.utility_arrears", ""),
        ("bank", "financial.loan_default", ""),
        ("tax_office", "financial.tax_arrears", "1500"),
        ("court", "legal.judgment_unfulfilled", ""),
        ("city_hall", "civic.award", ""),
        ("ngo_registry", "civic.volunteering", ""),
    ]
    for i in range(30):
        for j in range(rng.randint(0, 5)):
            source, kind, amount = kinds[rng.randrange(len(kinds))]
            on = today - timedelta(days=rng.randint(5, 320))
            rows.append((source, f"X-{i}-{j}", f"NID-{i:03d}", kind, on, on, amount))
    return [(s, i, n, k, o.isoformat(), e.isoformat(), a) for s, i, n, k, o, e, a in rows]


def build(folder: Path, *, now: datetime | None = None) -> World:
    """Create, fill and process a store in ``folder``."""
    moment = now or datetime.now(UTC)
    today = moment.date()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KEY_FILE).write_text(SECRET)
    engine = make_engine(f"sqlite:///{folder / 'credence.db'}")
    migrate(engine)
    store = Store(engine=engine, keys=load_keys(folder), folder=folder)
    with store.session() as session:
        chain.initialise(session, store.keys)
        session.commit()
    policy = library.resolve("city-merit")
    by_source: dict[str, list[str]] = defaultdict(list)
    for s, i, n, k, o, e, a in _rows(today):
        by_source[s].append(f"{s},{i},{n},{k},{o},{e},{a}\n")
    ingest_at = moment - timedelta(days=2)
    for source, lines in sorted(by_source.items()):
        path = folder / f"in-{source}.csv"
        path.write_text(HEADER + "".join(lines))
        ingest_file(
            store, path, source=source, policy=policy, actor=f"agency:{source}", now=ingest_at
        )
    keys = store.keys
    ids = {"alice": keys.subject_id("NID-ALICE"), "bob": keys.subject_id("NID-BOB")}
    with store.session() as session:
        for i in range(30):
            session.execute(
                update(Subject)
                .where(Subject.subject_id == keys.subject_id(f"NID-{i:03d}"))
                .values(region=REGIONS[i % 3])
            )
        session.execute(
            update(Subject).where(Subject.subject_id == ids["alice"]).values(region="North")
        )
        session.execute(
            update(Subject).where(Subject.subject_id == ids["bob"]).values(region="Riverside")
        )
        carol = keys.subject_id("NID-CAROL")
        session.execute(
            update(Subject).where(Subject.subject_id == carol).values(region="Old Town")
        )
        api_keys = {
            name: add_principal(
                session, keys, name, role, ids.get(name), actor="operator", hasher=HASHER
            )[1]
            for name, role in ROLES.items()
        }
        # Bob contested his traffic violation; the reviewer upheld it after five days.
        o = file_objection(
            session,
            keys,
            policy,
            "traffic_police:TR-BOB-1",
            statement="I was not driving that day.",
            evidence=["doc://bob/alibi"],
            actor="bob",
            now=moment - timedelta(days=7),
        )
        decide(
            session,
            keys,
            o.id,
            "upheld",
            reason="The camera photo shows the subject driving.",
            actor="rita",
            now=moment - timedelta(days=2),
        )
        session.commit()
    run(store, policy, today, actor="process", sender=FileSender(folder / "outbox"))
    return World(store, policy, ids, api_keys, today)


def reopen(template: World, folder: Path) -> World:
    """A copy of a built world in ``folder`` (copying is much faster than building)."""
    shutil.copytree(template.store.folder, folder)
    engine = make_engine(f"sqlite:///{folder / 'credence.db'}")
    store = Store(engine=engine, keys=load_keys(folder), folder=folder)
    return World(store, template.policy, dict(template.ids), dict(template.keys), template.today)


def process(world: World) -> None:
    """Run due process for today (as the operator's daily job would)."""
    run(
        world.store,
        world.policy,
        world.today,
        actor="process",
        sender=FileSender(world.store.folder / "outbox"),
    )
