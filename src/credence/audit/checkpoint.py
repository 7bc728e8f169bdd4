"""Signed checkpoints of the audit chain's head, kept outside the database.

The head row's MAC covers only its own (seq, hash): someone who can write the database can
delete the chain's tail and put back a head row saved earlier, and the chain verifies. What
catches that is a witness that remembers a later head: a checkpoint (seq, hash, time), signed
with an HMAC under the store's audit key and appended to a file outside the database (and, if
asked, to a table in a second database). Verifying against checkpoints refuses a chain shorter
than any of them or whose entry at a checkpoint's seq has another hash.

A checkpoint file is a JSON line per checkpoint; a line cannot be forged without the key, but a
file can be cut short, so keep it where the database's writers cannot write (another machine,
append-only storage), or give a second store.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.orm import Session

from credence.audit.chain import GENESIS, head_mac
from credence.audit.keys import AuditKeys
from credence.audit.tables import AuditEntry, AuditHead
from credence.errors import CredenceError
from credence.sql.columns import instant_text

log = logging.getLogger(__name__)

FIELDS = ("seq", "hash", "at", "key_id", "mac")

# The table of a second store that keeps checkpoints (its own metadata: not the store's schema).
_witness = MetaData()
WITNESS = Table(
    "audit_checkpoints",
    _witness,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", String(12), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", String(27), nullable=False),
    Column("mac", String(64), nullable=False),
)


class CheckpointError(CredenceError):
    """A checkpoint cannot be taken, or a checkpoint file or store cannot be read."""


class ForgedCheckpoint(CheckpointError):
    """A checkpoint whose signature does not match: the file or store was altered."""


@dataclass(frozen=True)
class Checkpoint:
    """The chain's length and last hash at an instant, signed with the store's audit key."""

    seq: int
    hash: str
    at: str
    key_id: str
    mac: str

    def line(self) -> str:
        """The checkpoint as one JSON line of a checkpoint file."""
        return json.dumps({f: getattr(self, f) for f in FIELDS}, separators=(",", ":"))


def checkpoint_mac(key: bytes, seq: int, last_hash: str, at: str) -> str:
    """The HMAC-SHA256 that signs a checkpoint."""
    message = f"checkpoint|{seq}|{last_hash}|{at}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def take(session: Session, keys: AuditKeys, at: datetime | None = None) -> Checkpoint:
    """A signed checkpoint of the chain's head as the database holds it now.

    The head must be authentic and name the last entry: a checkpoint anchors what it is given,
    so one taken of a tampered head would vouch for the tampering.
    """
    head = session.get(AuditHead, 1)
    if head is None:
        raise CheckpointError("the audit chain has no head (run `credence init`)")
    if not hmac.compare_digest(head.mac, head_mac(keys.audit, head.seq, head.hash)):
        raise CheckpointError("the chain's head row was altered; run `credence audit verify`")
    last = (
        GENESIS
        if head.seq == 0
        else session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == head.seq))
    )
    if last != head.hash:
        raise CheckpointError(
            f"the chain's head names entry {head.seq}, which the log does not hold as such; "
            "run `credence audit verify`"
        )
    when = instant_text(at or datetime.now(UTC))
    mac = checkpoint_mac(keys.audit, head.seq, head.hash, when)
    return Checkpoint(head.seq, head.hash, when, keys.key_id, mac)


def append_to_file(path: Path, checkpoint: Checkpoint) -> None:
    """Append a checkpoint to a file (created if need be), whole and on disk when this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # Several server workers may write to one file: the lock keeps each line whole.
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (checkpoint.line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _checked(keys: AuditKeys, raw: dict[str, Any], where: str) -> Checkpoint:
    """A checkpoint from its fields, refused when malformed, another store's, or forged."""
    try:
        cp = Checkpoint(
            seq=int(raw["seq"]),
            hash=str(raw["hash"]),
            at=str(raw["at"]),
            key_id=str(raw["key_id"]),
            mac=str(raw["mac"]),
        )
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{where}: not a checkpoint (needs {', '.join(FIELDS)})") from None
    if cp.key_id != keys.key_id:
        raise CheckpointError(
            f"{where}: checkpoint {cp.seq} was signed with another store's key "
            f"(key id {cp.key_id}; this store's is {keys.key_id})"
        )
    if not hmac.compare_digest(cp.mac, checkpoint_mac(keys.audit, cp.seq, cp.hash, cp.at)):
        raise ForgedCheckpoint(
            f"{where}: checkpoint {cp.seq} (written {cp.at}) has a bad signature: "
            "the checkpoint was altered"
        )
    return cp


def read_file(path: Path, keys: AuditKeys) -> list[Checkpoint]:
    """Every checkpoint of a file, each one's signature checked; errors name the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot be read: {exc}") from None
    found = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        try:
            raw = json.loads(line)
        except ValueError:
            raise CheckpointError(f"{where}: not a checkpoint (not JSON)") from None
        if not isinstance(raw, dict):
            raise CheckpointError(f"{where}: not a checkpoint (not a JSON object)")
        found.append(_checked(keys, raw, where))
    return found


def _witness_engine(url: str) -> Any:
    try:
        return create_engine(url)
    except Exception as exc:  # SQLAlchemy raises several kinds for a bad URL
        raise CheckpointError(f"checkpoint store {url!r}: {exc}") from None


def append_to_store(url: str, checkpoint: Checkpoint) -> None:
    """Append a checkpoint to the ``audit_checkpoints`` table of a second database."""
    engine = _witness_engine(url)
    try:
        _witness.create_all(engine, checkfirst=True)
        with engine.begin() as connection:
            connection.execute(
                insert(WITNESS).values(**{f: getattr(checkpoint, f) for f in FIELDS})
            )
    finally:
        engine.dispose()


def read_store(url: str, keys: AuditKeys) -> list[Checkpoint]:
    """The checkpoints a second database keeps for this store, each one's signature checked."""
    engine = _witness_engine(url)
    try:
        with engine.connect() as connection:
            if not engine.dialect.has_table(connection, WITNESS.name):
                raise CheckpointError(f"checkpoint store {url!r}: it holds no checkpoints")
            rows = connection.execute(
                select(WITNESS).where(WITNESS.c.key_id == keys.key_id).order_by(WITNESS.c.id)
            ).mappings()
            return [_checked(keys, dict(r), f"checkpoint store, row {r['id']}") for r in rows.all()]
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Anchored:
    """The outcome of :func:`check`: ``problem`` is empty when the chain holds every checkpoint."""

    checked: int
    latest: Checkpoint | None
    problem: str = ""
    seq: int | None = None

    @property
    def ok(self) -> bool:
        """True when the chain agrees with every checkpoint."""
        return not self.problem


def check(session: Session, checkpoints: list[Checkpoint]) -> Anchored:
    """Whether the chain is as long as every checkpoint and has its hash at its seq.

    Run it on a chain that :func:`credence.audit.chain.verify` found intact: each entry's hash
    then vouches for every entry before it, so one comparison per checkpoint is enough.
    """
    ordered = sorted(checkpoints, key=lambda c: (c.seq, c.at))
    length = session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    wanted = sorted({c.seq for c in ordered if 0 < c.seq <= length})
    hashes: dict[int, str] = {0: GENESIS}
    # A server writes a checkpoint every few minutes for years: read their entries in chunks.
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        stmt = select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(chunk))
        hashes.update({seq: digest for seq, digest in session.execute(stmt)})
    for cp in ordered:
        held = hashes.get(cp.seq)
        if held is None or cp.seq > length:
            return Anchored(
                len(ordered),
                ordered[-1],
                f"the chain has {length} entries, fewer than checkpoint {cp.seq} "
                f"(written {cp.at}) recorded: entries after {length} were removed",
                cp.seq,
            )
        if held != cp.hash:
            return Anchored(
                len(ordered),
                ordered[-1],
                f"entry {cp.seq} has hash {held}, but checkpoint {cp.seq} (written {cp.at}) "
                f"recorded {cp.hash}: the chain was rewritten",
                cp.seq,
            )
    return Anchored(len(ordered), ordered[-1] if ordered else None)


class HeadCheckpointer:
    """A thread that writes a checkpoint every ``interval`` seconds when the head has moved."""

    def __init__(
        self,
        session: Callable[[], Session],
        keys: AuditKeys,
        *,
        path: Path | None = None,
        url: str | None = None,
        interval: float = 300.0,
    ) -> None:
        if path is None and url is None:
            raise ValueError("a checkpoint needs a file or a store to go to")
        self.session = session
        self.keys = keys
        self.path = path
        self.url = url
        self.interval = interval
        self.written = 0
        self.failures = 0
        self._last: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (a daemon; :meth:`stop` writes a last checkpoint)."""
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        self._guarded()
        while not self._stop.wait(self.interval):
            self._guarded()
        self._guarded()

    def _guarded(self) -> None:
        # A failed checkpoint (a full disk, an unreachable second store, a head that does not
        # verify) is logged and tried again next time: the server keeps serving.
        try:
            self.write()
        except Exception as exc:  # any failure must leave the thread running
            self.failures += 1
            log.warning("audit checkpoint failed: %s", exc)

    def write(self) -> Checkpoint | None:
        """Write a checkpoint now, unless the head has not moved since the last one."""
        with self.session() as session:
            cp = take(session, self.keys)
        if self._last == (cp.seq, cp.hash):
            return None
        if self.path is not None:
            append_to_file(self.path, cp)
        if self.url is not None:
            append_to_store(self.url, cp)
        self._last = (cp.seq, cp.hash)
        self.written += 1
        return cp
