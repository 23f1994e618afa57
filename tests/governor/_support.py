"""Helpers shared by the governor tests: a hand-driven clock, stores of each kind, a checker."""

from __future__ import annotations

import uuid
from pathlib import Path

from moeseg.governor import Clock, MemoryStore, RedisStore, SQLiteStore, Store


class ManualClock:
    """A clock that moves only when told. ``advance`` moves both readings (time passes);
    ``step`` moves only the wall reading (an NTP step), as a real wall clock would."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t
        self.mono = 0.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, dt: float) -> None:
        self.t += dt
        self.mono += dt

    def step(self, dt: float) -> None:
        self.t += dt


def make_store(
    kind: str, tmp_path: Path, redis_url: str | None, *, clock: Clock | None = None
) -> Store:
    """A fresh store of ``kind`` on its own workspace (memory and SQLite on ``clock``)."""
    ws = f"ws-{uuid.uuid4().hex[:8]}"
    if kind == "memory":
        return MemoryStore(clock=clock)
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "quota.sqlite3", workspace=ws, clock=clock)
    assert redis_url is not None
    return RedisStore(redis_url, workspace=ws)


async def close(store: Store) -> None:
    if isinstance(store, SQLiteStore | RedisStore):
        await store.aclose()


def sliding_max(times: list[float], seconds: float) -> int:
    """The most of ``times`` inside any half-open interval ``[t, t + seconds)``."""
    ts = sorted(times)
    best = j = 0
    for i, t in enumerate(ts):
        while j < len(ts) and ts[j] < t + seconds:
            j += 1
        best = max(best, j - i)
    return best


def max_in_window(spans: list[tuple[float, float, int]], seconds: float) -> int:
    """The most weight of requests that could all reach a server within ``seconds``, each
    arriving anywhere in its span ``(start, end, weight)``: the worst arrangement."""
    best = 0
    for s0, _, _ in spans:
        # some interval [t, t + seconds) starting at a span start maximises the overlap
        best = max(best, sum(w for s, e, w in spans if s < s0 + seconds and e >= s0))
    return best
