"""The in-memory store: one process's admissions, with running totals per window.

Per group: the leases in flight (with a heap of their bounds) and, per window length, the ended
entries in order of their end with the sum of their weights. Admitting, ending and viewing cost
O(1) amortized whatever the number of entries; only a denial's "when" walks entries, and only as
many as it needs.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

from ._clock import AnyioClock, Clock
from ._policy import QuotaGroup
from ._store import Demand, Denied, Granted, GroupView, WindowView, denied, fit_time

__all__ = ["MemoryStore"]


class _Window:
    __slots__ = ("ended", "seconds", "total")

    def __init__(self, seconds: float, ended: Iterable[tuple[float, int]]) -> None:
        self.seconds = seconds
        self.ended: deque[tuple[float, int]] = deque(ended)  # (end, weight), by end
        self.total = sum(w for _, w in self.ended)

    def prune(self, now: float) -> None:
        ended, seconds = self.ended, self.seconds
        while ended and ended[0][0] + seconds <= now:
            self.total -= ended.popleft()[1]


class _Log:
    """One group: leases in flight, and ended entries per window length."""

    __slots__ = ("expiry", "inflight", "inflight_total", "paused_until", "windows")

    def __init__(self) -> None:
        self.inflight: dict[str, tuple[int, float]] = {}  # lease id -> (weight, bound)
        self.inflight_total = 0
        self.expiry: list[tuple[float, str]] = []  # heap of bounds; stale items skipped
        self.windows: dict[float, _Window] = {}
        self.paused_until = -math.inf

    def window(self, seconds: float) -> _Window:
        win = self.windows.get(seconds)
        if win is None:  # a window length not seen before: start from the longest history
            longest = max(self.windows.values(), key=lambda w: w.seconds, default=None)
            win = self.windows[seconds] = _Window(seconds, longest.ended if longest else ())
        return win

    def advance(self, now: float) -> None:
        """Leases whose bound has passed end at their bound; windows drop what left them."""
        expiry = self.expiry
        while expiry and expiry[0][0] <= now:
            bound, lease_id = heapq.heappop(expiry)
            item = self.inflight.get(lease_id)
            if item is not None and item[1] == bound:
                self.close(lease_id, bound)
        for win in self.windows.values():
            win.prune(now)

    def close(self, lease_id: str, end: float | None) -> None:
        """The lease ends at ``end`` (its bound if earlier), or is forgotten (``None``)."""
        weight, bound = self.inflight.pop(lease_id)
        self.inflight_total -= weight
        if end is not None:
            self.record(min(end, bound), weight)

    def record(self, end: float, weight: int) -> None:
        for win in self.windows.values():
            win.ended.append((end, weight))
            win.total += weight

    def add(self, lease_id: str, weight: int, bound: float) -> None:
        self.inflight[lease_id] = (weight, bound)
        self.inflight_total += weight
        heapq.heappush(self.expiry, (bound, lease_id))
        if len(self.expiry) > 2 * len(self.inflight) + 1024:  # drop stale items
            self.expiry = [(b, i) for i, (_, b) in self.inflight.items()]
            heapq.heapify(self.expiry)

    def fit(self, group: QuotaGroup, weight: int, now: float, optimistic: bool) -> float:
        """Earliest time ``weight`` more fits every window (leases in flight ending now, or at
        their bound); as cheap as a count when it fits now."""
        at = max(now, self.paused_until)
        for w in group.windows:
            win = self.window(w.seconds)
            used = self.inflight_total + win.total
            at = max(at, fit_time(self._releases(win, now, optimistic), used, w.limit, weight, now))
        return at

    def _releases(self, win: _Window, now: float, optimistic: bool) -> Iterator[tuple[float, int]]:
        """When the units of a window free, in order (lazily: a denial rarely reads far)."""
        s = win.seconds
        for end, w in win.ended:
            yield end + s, w
        if optimistic:
            yield now + s, self.inflight_total
        else:  # leases in flight, by bound (sorted only when reached)
            for w, b in sorted(self.inflight.values(), key=lambda x: x[1]):
                yield b + s, w


class MemoryStore:
    """Admissions of one process, in memory: the default store of a :class:`Governor`.

    ``clock`` defaults to the event loop's (:class:`AnyioClock`); :func:`get_governor` uses
    :class:`MonotonicClock`, which no event loop owns.
    """

    recheck = math.inf  # only this process changes it: its own events wake its waiters

    __slots__ = ("_logs", "_now", "clock")

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else AnyioClock()
        self._logs: dict[str, _Log] = {}
        self._now = -math.inf

    def _tick(self) -> float:
        now = self.clock.now()
        if now > self._now:
            self._now = now
        return self._now

    def _log(self, name: str, now: float) -> _Log:
        log = self._logs.get(name)
        if log is None:
            log = self._logs[name] = _Log()
        log.advance(now)
        return log

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        """Record the admission now, or say how long it must wait."""
        now = self._tick()
        logs = [(self._log(g.name, now), g, w) for g, w in demand]
        worst = {g.name: log.fit(g, w, now, False) for log, g, w in logs}
        if any(at > now for at in worst.values()):  # only then the best case (it costs more)
            fits = {g.name: (worst[g.name], log.fit(g, w, now, True)) for log, g, w in logs}
            return denied(now, fits)
        bound = now + lease_seconds
        for log, _, w in logs:
            log.add(lease_id, w, bound)
        return Granted(now, bound)

    async def end(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request finished now."""
        return self._close(lease_id, groups, ended=True)

    async def refund(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request was never sent: forget it (if still in flight)."""
        return self._close(lease_id, groups, ended=False)

    def _close(self, lease_id: str, groups: Sequence[str], ended: bool) -> float:
        now = self._tick()
        for name in groups:
            log = self._log(name, now)
            if lease_id in log.inflight:
                log.close(lease_id, now if ended else None)
        return now

    async def pause(self, group: str, seconds: float) -> float:
        """Admit nothing in ``group`` for ``seconds``."""
        now = self._tick()
        log = self._log(group, now)
        log.paused_until = max(log.paused_until, now + seconds)
        return now

    async def spend(self, group: QuotaGroup, units: int) -> float:
        """Record ``units`` spent elsewhere just now."""
        now = self._tick()
        log = self._log(group.name, now)
        for w in group.windows:
            log.window(w.seconds)
        log.record(now, units)
        return now

    async def view(self, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        """Occupancy now, per group and window (the ended entries are not copied)."""
        now = self._tick()
        out = {}
        for g in groups:
            log = self._log(g.name, now)
            wins = []
            for w in g.windows:
                win = log.window(w.seconds)
                wins.append(WindowView(w, log.inflight_total + win.total, win.ended))
            out[g.name] = GroupView(g.name, now, log.inflight_total, log.paused_until, tuple(wins))
        return out

    def __repr__(self) -> str:
        parts = [f"{n}: {log.inflight_total} in flight" for n, log in self._logs.items()]
        return f"<MemoryStore {'; '.join(parts) or 'empty'}>"
