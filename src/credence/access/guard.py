"""Limits on guessing API keys: back-off and temporary lockout per principal and address.

Every key check that is not a success (a wrong key, an unknown or disabled principal, a key not
of our form) is counted twice, before it is made: under the pair (principal named by the key,
client address) and under the client address alone. The first few failures of a pair are free;
after that each further failure blocks the pair for twice as long as the one before (1 s, 2 s, 4
s, ... up to ``max_block``); at ``lock_after`` failures the block has become a lockout, reported
once to ``on_lockout``. An address has a larger allowance across all principals, so that spraying
many principals from one address is throttled in the same way. While a pair or its address is
blocked, requests are refused with 429 and ``Retry-After`` before any key is checked: a blocked
guesser costs no Argon2, and a burst of concurrent guesses gets no more checks than the
allowance.

Why the pair rather than the principal alone: a lockout keyed by principal would let anybody,
anywhere, lock a user out by guessing their key. Keyed by (principal, address), a guesser locks
out only their own address; the legitimate user, from another address, keeps signing in. (A user
behind the same address as the guesser, e.g. one NAT, shares the address's block; a key already
verified lately is not checked again and is not refused.) A successful check clears its pair.
Counts are forgotten ``window`` seconds after the last failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

#: Who the address-wide count is kept under (no principal).
ANY: Final = -1


class Throttled(Exception):
    """Too many failed key checks: refused for ``retry_after`` seconds (answer 429)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed attempts: retry after {retry_after:.0f} s")
        self.retry_after = retry_after

    @property
    def seconds(self) -> int:
        """``Retry-After`` in whole seconds (at least 1)."""
        return max(1, int(self.retry_after + 0.999))


@dataclass
class _Count:
    failures: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


#: (principal id or None, address, failures, blocked for seconds)
Lockout = Callable[[int | None, str, int, float], None]


class Guard:
    """Counts failed key checks by (principal, address) and by address; blocks and locks out."""

    def __init__(
        self,
        *,
        free: int = 5,
        free_per_address: int = 20,
        lock_after: int = 10,
        base: float = 1.0,
        max_block: float = 900.0,
        window: float = 900.0,
        on_lockout: Lockout | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.free_per_address = free_per_address
        self.lock_after = lock_after
        self.base = base
        self.max_block = max_block
        self.window = window
        self.on_lockout = on_lockout
        self.clock = clock
        self._counts: dict[tuple[int | None, str], _Count] = {}
        self._lock = threading.Lock()

    def attempt(self, principal: int | None, address: str) -> None:
        """Count a key check about to be made; raise :class:`Throttled` while blocked.

        The check is counted as failed until :meth:`succeeded` says otherwise, so that
        concurrent guesses are counted before any of them is answered.
        """
        now = self.clock()
        locked: list[tuple[int | None, int, float]] = []
        with self._lock:
            until = max(
                self._blocked(principal, address, now),
                self._blocked(ANY, address, now),
            )
            if until > now:
                raise Throttled(until - now)
            if len(self._counts) > 100_000:
                self._prune(now)
            for who, free in ((principal, self.free), (ANY, self.free_per_address)):
                count = self._counts.setdefault((who, address), _Count())
                if now - count.last > self.window:
                    count.failures = 0
                count.failures += 1
                count.last = now
                over = count.failures - free
                if over > 0:
                    block = min(self.base * 2 ** (over - 1), self.max_block)
                    count.blocked_until = now + block
                    # The same number of blocked failures makes a lockout of a pair or address.
                    if over == self.lock_after - self.free:
                        locked.append((None if who == ANY else who, count.failures, block))
        if self.on_lockout is not None:
            for who, failures, block in locked:
                self.on_lockout(who, address, failures, block)

    def succeeded(self, principal: int, address: str) -> None:
        """The key of ``principal`` was good: forget the pair's failures, give back the count."""
        with self._lock:
            self._counts.pop((principal, address), None)
            count = self._counts.get((ANY, address))
            if count is not None and count.failures > 0:
                count.failures -= 1
                if count.failures <= self.free_per_address:
                    count.blocked_until = 0.0

    def _blocked(self, who: int | None, address: str, now: float) -> float:
        count = self._counts.get((who, address))
        if count is None or now - count.last > self.window:
            return 0.0
        return count.blocked_until

    def _prune(self, now: float) -> None:
        stale = [k for k, c in self._counts.items() if now - c.last > self.window]
        for k in stale:
            del self._counts[k]
        if len(self._counts) > 100_000:
            self._counts.clear()
