"""Reading a record file into chunks: digest and prescan, Arrow or row by row, a thread ahead."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from credence.ingest.fast import Chunk, Item, Prescan, csv_chunks
from credence.ingest.formats import read_rows
from credence.ingest.validate import Candidate

T = TypeVar("T")


def file_digest(path: Path) -> tuple[str, Prescan]:
    """SHA-256 of a file and what its bytes say about the fast path."""
    digest = hashlib.sha256()
    scan = Prescan()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            scan.feed(chunk)
    scan.finish()
    return digest.hexdigest(), scan


def chunks(path: Path, fmt: str, scan: Prescan, batch: int, fast: bool) -> Iterator[Chunk]:
    """The rows in chunks of ``batch``: by Arrow where the prescan allows, else one by one."""
    rows = read_rows(path)
    if fmt == "csv" and fast and scan.fast:
        from pyarrow import ArrowInvalid

        # Reading the first row checks the header with the reader's own rules.
        next(rows, None)
        done = 0
        try:
            for chunk in csv_chunks(path, batch):
                yield chunk
                done = chunk.last
        except ArrowInvalid:
            # Arrow refused a row (say, a short one): the reader takes over where it stopped.
            yield from slow_chunks(read_rows(path), batch, after=done)
        return
    yield from slow_chunks(rows, batch)


def slow_chunks(rows: Iterator[Any], batch: int, after: int = 0) -> Iterator[Chunk]:
    """Chunks of rows read one by one (those after line ``after``)."""
    pending: list[Item] = []
    for row in rows:
        if row.line <= after:
            continue
        raw = dict(row.raw)
        if row.record is None:
            pending.append((row.line, None, [(e.field, e.reason) for e in row.errors], raw))
        else:
            pending.append((row.line, Candidate.of_record(row.line, row.record), (), raw))
        if len(pending) >= batch:
            yield Chunk(pending[0][0], pending[-1][0], None, pending)
            pending = []
    if pending:
        yield Chunk(pending[0][0], pending[-1][0], None, pending)


def ahead(source: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run an iterator in a thread, ``depth`` items ahead of the consumer (order kept).

    Parsing and checking the next batch overlaps with writing this one (Arrow and the database
    release the GIL). An exception in the thread is raised here, where its item would have been.
    """
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in source:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))

    thread = threading.Thread(target=work, name="credence-ingest-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join()
