"""Side-effect-free planning over a snapshot: what is left, when N more could be admitted."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from ._policy import QuotaGroup, Window
from ._store import GroupState, releases

__all__ = ["Plan", "remaining"]

Demand = tuple[tuple[QuotaGroup, int], ...]


def _releases(state: GroupState, seconds: float, now: float) -> deque[tuple[float, int]]:
    """(release, weight) of entries still occupying at ``now``, leases in flight ending now."""
    return deque(sorted(releases(state, seconds, now, optimistic=True)))


def remaining(
    groups: Iterable[QuotaGroup], states: Mapping[str, GroupState], now: float
) -> dict[str, dict[float, int]]:
    """Units left right now in each window of each group (0 while a group is paused)."""
    out: dict[str, dict[float, int]] = {}
    for group in groups:
        state = states.get(group.name, GroupState(group.name))
        paused = state.paused_until > now
        per: dict[float, int] = {}
        for w in group.windows:
            used = sum(wt for _, wt in releases(state, w.seconds, now, optimistic=True))
            per[w.seconds] = 0 if paused else max(0, w.limit - used)
        out[group.name] = per
    return out


class Plan:
    """A greedy simulation from a snapshot: requests admitted one after another, each at the
    earliest moment it fits, leases in flight ending now and new requests taking no time.

    Greedy is optimal here: admitting a request as early as possible never delays a later one
    (slots free at admission time + window, so earlier admissions free earlier).
    """

    __slots__ = ("_paused", "_t", "_windows")

    def __init__(
        self, groups: Iterable[QuotaGroup], states: Mapping[str, GroupState], now: float
    ) -> None:
        self._t = now
        self._windows: dict[str, list[tuple[Window, deque[tuple[float, int]], list[int]]]] = {}
        self._paused: dict[str, float] = {}
        for group in groups:
            state = states.get(group.name, GroupState(group.name))
            self._paused[group.name] = state.paused_until
            rows = []
            for w in group.windows:
                dq = _releases(state, w.seconds, now)
                rows.append((w, dq, [sum(x[1] for x in dq)]))
            self._windows[group.name] = rows

    @property
    def now(self) -> float:
        """The simulated time of the latest admission (or the start)."""
        return self._t

    def _fit(self, demand: Demand) -> float:
        # Earliest time >= the latest simulated admission at which ``demand`` fits. Prunes for
        # good: only ever followed by an admission at the time it returns (or later).
        t = self._t
        while True:
            candidate = t
            for group, weight in demand:
                candidate = max(candidate, self._paused.get(group.name, -math.inf))
                for w, dq, total in self._windows[group.name]:
                    if weight > w.limit:
                        return math.inf
                    while dq and dq[0][0] <= t:
                        total[0] -= dq.popleft()[1]
                    excess = total[0] + weight - w.limit
                    for release, units in dq:
                        if excess <= 0:
                            break
                        excess -= units
                        candidate = max(candidate, release)
            if candidate == t:
                return t
            t = candidate

    def admit(self, demand: Demand) -> float:
        """Simulate one admission of ``demand`` at its earliest time; return that time."""
        t = self._fit(demand)
        if t == math.inf:
            return t
        self._t = t
        for group, weight in demand:
            for w, dq, total in self._windows[group.name]:
                dq.append((t + w.seconds, weight))
                total[0] += weight
        return t

    def admit_all(self, demands: Sequence[Demand]) -> list[float]:
        """Simulate ``demands`` in order; their admission times."""
        return [self.admit(d) for d in demands]
