"""Side-effect-free planning over a store's view: when N more requests could be admitted."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone

import attrs

from ._store import Demand, GroupView, WindowView

__all__ = ["Eta", "Plan"]


@attrs.frozen(slots=True)
class Eta:
    """When something could happen: ``seconds`` from now, and ``at`` on the wall clock (UTC)."""

    seconds: float
    at: datetime

    @classmethod
    def after(cls, seconds: float) -> Eta:
        """The moment ``seconds`` from now."""
        seconds = max(0.0, seconds)
        return cls(seconds, datetime.now(timezone.utc) + timedelta(seconds=seconds))

    @property
    def wait(self) -> timedelta:
        """``seconds`` as a timedelta."""
        return timedelta(seconds=self.seconds)


class _Releases:
    """Moments units free in one window, in time order: the store's (read lazily) then the
    plan's own admissions (each ``W`` after it, so always later). A jump past the store's
    last release drops them all at once, by their running total: no walk over the log."""

    __slots__ = ("_buf", "_last", "_left", "_mine", "_src", "seconds")

    def __init__(self, view: WindowView, now: float, inflight: int) -> None:
        s = self.seconds = view.window.seconds
        # Ended entries free a window after their end; leases in flight as if they ended now.
        tail = [(now + s, inflight)] if inflight else []
        self._src: Iterator[tuple[float, int]] = itertools.chain(
            ((end + s, units) for end, units in view.ended), tail
        )
        self._left = view.used  # units of the store's releases not yet dropped
        ended = view.ended
        self._last = now + s if inflight else ended[-1][0] + s if ended else -math.inf
        self._buf: deque[tuple[float, int]] = deque()
        self._mine: deque[tuple[float, int]] = deque()

    def _pull(self) -> bool:
        item = next(self._src, None)
        if item is not None:
            self._buf.append(item)
        return item is not None

    def free_until(self, t: float) -> int:
        """Drop the releases at or before ``t``; the units they free."""
        freed = 0
        if t >= self._last:
            freed, self._left, self._src = self._left, 0, iter(())
            self._buf.clear()
        while self._buf or self._pull():
            if self._buf[0][0] > t:
                return freed
            units = self._buf.popleft()[1]
            freed += units
            self._left -= units
        while self._mine and self._mine[0][0] <= t:
            freed += self._mine.popleft()[1]
        return freed

    def when(self, excess: int) -> float:
        """When ``excess`` units will have freed (nothing dropped)."""
        i = 0
        while True:
            if i == len(self._buf) and not self._pull():
                break
            excess -= self._buf[i][1]
            if excess <= 0:
                return self._buf[i][0]
            i += 1
        for at, units in self._mine:
            excess -= units
            if excess <= 0:
                return at
        return math.inf

    def add(self, at: float, units: int) -> None:
        self._mine.append((at, units))


class Plan:
    """A greedy simulation from a view: requests admitted one after another, each at the
    earliest moment it fits, leases in flight ending now and requests taking no time.

    Greedy is optimal here: admitting as early as possible never delays a later request.
    Cost grows with the admissions simulated, not with the entries the store holds.
    """

    __slots__ = ("_groups", "now", "start")

    def __init__(self, views: Mapping[str, GroupView]) -> None:
        self.start = self.now = max((v.now for v in views.values()), default=0.0)
        self._groups: dict[str, tuple[float, list[tuple[int, list[int], _Releases]]]] = {}
        for name, v in views.items():
            rows = [(w.window.limit, [w.used], _Releases(w, v.now, v.inflight)) for w in v.windows]
            self._groups[name] = (v.paused_until, rows)

    def admit(self, demand: Demand) -> float:
        """Simulate one admission of ``demand`` at its earliest time; return that time."""
        t = self.now
        while True:
            candidate = t
            for group, weight in demand:
                paused, rows = self._groups[group.name]
                candidate = max(candidate, paused)
                for limit, used, rel in rows:
                    if weight > limit:
                        return math.inf
                    used[0] -= rel.free_until(t)
                    excess = used[0] + weight - limit
                    if excess > 0:
                        candidate = max(candidate, rel.when(excess))
            if candidate <= t:
                break
            t = candidate
        self.now = t
        for group, weight in demand:
            for _, used, rel in self._groups[group.name][1]:
                used[0] += weight
                rel.add(t + rel.seconds, weight)
        return t
