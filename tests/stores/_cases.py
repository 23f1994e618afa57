"""One harness over the three stores, so that one suite checks them all.

Memory and SQLite stores take the caller's times as they are: their cases run on a fake clock
that tests advance by hand (instantly). Redis reads the server's clock: its case runs in real
time (``time.time()`` as the caller's clock), with windows of a fraction of a second.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import anyio

from moeseg.governor import Clock, MemoryStore, RedisStore, SQLiteStore, Store


class ManualClock:
    """A clock that moves only when told (``t``); the time base of fake-time SQLite stores."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    async def sleep_until(self, deadline: float) -> None:
        self.t = max(self.t, deadline)


class StoreCase:
    """A store with the clock its callers use: ``now()``, ``sleep(dt)``, a time ``unit``."""

    def __init__(
        self, kind: str, store: Store, clock: ManualClock, *, real: bool, unit: float
    ) -> None:
        self.kind = kind
        self.store = store
        self.clock = clock  # the fake clock (unused in real time)
        self.real = real
        self.unit = unit  # seconds in one window-length unit of the tests
        self.tol = 0.08 if real else 0.0  # tolerance on times compared with expectations

    def now(self) -> float:
        return time.time() if self.real else self.clock.t

    async def sleep(self, dt: float) -> None:
        if not self.real:
            self.clock.t += dt
            return
        deadline = time.time() + dt
        while (left := deadline - time.time()) > 0:
            await anyio.sleep(left)

    def close_to(self, actual: float, expected: float) -> bool:
        return abs(actual - expected) <= self.tol

    async def aclose(self) -> None:
        store = self.store
        if isinstance(store, (RedisStore, SQLiteStore)):
            await store.aclose()


def make_store(
    kind: str,
    tmp_path: Path,
    redis_url: str | None,
    workspace: str = "",
    clock: Clock | None = None,
) -> Store:
    """A fresh store of ``kind`` (unique workspace unless one is given; SQLite on ``clock``)."""
    ws = workspace or f"ws-{uuid.uuid4().hex[:8]}"
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "quota.sqlite3", workspace=ws, clock=clock)
    assert redis_url is not None
    return RedisStore(redis_url, workspace=ws)


def sliding_max(times: list[float], seconds: float) -> int:
    """The most of ``times`` inside any half-open interval ``[t, t + seconds)``."""
    ts = sorted(times)
    best = j = 0
    for i, t in enumerate(ts):
        while j < len(ts) and ts[j] < t + seconds:
            j += 1
        best = max(best, j - i)
    return best
