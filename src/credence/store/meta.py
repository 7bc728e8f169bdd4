"""Facts about the store as a whole: the day its data runs to ("data as of").

A simulated store (``credence demo``) holds records up to a day of its own, often years from
today. Recorded here, that day is the clock of the servers on the store, so that a citizen
browsing it sees their record as of that day and is never shown a future date as past.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from time import monotonic

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from credence.store.schema import StoreMeta

DATA_AS_OF = "data_as_of"


def record_data_as_of(target: Session | Engine, day: date) -> None:
    """Record ``day`` as the day the store's data runs to (a Session's caller commits)."""
    if isinstance(target, Engine):
        with Session(target) as session:
            record_data_as_of(session, day)
            session.commit()
        return
    now = datetime.now(UTC)
    row = target.get(StoreMeta, DATA_AS_OF)
    if row is None:
        target.add(StoreMeta(key=DATA_AS_OF, value=day.isoformat(), updated_at=now))
    else:
        row.value = day.isoformat()
        row.updated_at = now


def data_as_of(target: Session | Engine) -> date | None:
    """The day recorded by :func:`record_data_as_of`, or None for a store that lives today."""
    if isinstance(target, Engine):
        with Session(target) as session:
            return data_as_of(session)
    value = target.scalar(select(StoreMeta.value).where(StoreMeta.key == DATA_AS_OF))
    return None if value is None else date.fromisoformat(value)


class StoreClock:
    """The clock of a store's servers: now, moved to the day the data runs to if one is recorded.

    The offset (that day minus the day it was first read) stays fixed while the recorded day
    does, so time moves on monotonically (sessions expire, reads are logged in order); the
    recorded day is re-read every ``refresh`` seconds, so a demo run again is seen without a
    restart.
    """

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh: float = 10.0,
    ) -> None:
        self.engine = engine
        self._now = now
        self.refresh = refresh
        self._read_at = -float("inf")
        self._day: date | None = None
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def data_as_of(self) -> date | None:
        """The recorded day, or None when the store lives today."""
        self._fresh()
        return self._day

    def __call__(self) -> datetime:
        """The current instant (UTC) on the store's calendar."""
        self._fresh()
        return self._now() + self._offset

    def _fresh(self) -> None:
        if monotonic() - self._read_at < self.refresh:
            return
        with self._lock:
            if monotonic() - self._read_at < self.refresh:
                return
            try:
                day = data_as_of(self.engine)
            except SQLAlchemyError:
                # A store not yet migrated to 0008 has no such fact: it lives today.
                day = None
            if day != self._day:
                self._day = day
                self._offset = timedelta(0) if day is None else day - self._now().date()
            self._read_at = monotonic()
