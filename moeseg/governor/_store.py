"""The Store protocol: where admissions are recorded, possibly shared between processes.

A store keeps, per quota group, one entry per admitted request: its weight, when it was admitted,
the bound after which it counts as ended if nobody ends it, and its end once ended. Every time is
the store's own (its clock, read inside its lock or script), so a caller's stall can never make
an entry end before its request was sent; callers only ever see durations.

Admission rule, for each group of the demand and each window ``(limit, W)``: the weights of the
entries still occupying at ``now`` plus the new weight stay within ``limit``. An entry occupies
from its admission until ``W`` after its end; an entry not ended occupies until ``W`` after its
bound. A paused group admits nothing. This bounds to ``limit`` the weight that can reach the
server in any interval of ``W``, wherever in [admission, end] each request arrives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from .._exceptions import MoesegError
from ._clock import Clock
from ._policy import QuotaGroup, Window

__all__ = [
    "Demand",
    "Denied",
    "Granted",
    "GroupView",
    "Store",
    "StoreUnavailable",
    "WindowView",
    "fit_time",
]

Row = tuple[float, int, bool]
"""An entry as a shared store reads it: its pessimistic end (its bound while in flight), its
weight, and whether it is in flight."""

Demand = tuple[tuple[QuotaGroup, int], ...]
"""Each group of a request (with its windows: a store needs no policy) and the weight taken."""


class StoreUnavailable(MoesegError):
    """The quota store did not answer in time (Redis down, SQLite locked): nothing admitted."""


@attrs.frozen(slots=True)
class Granted:
    """The admission was recorded; its times are the store's."""

    admitted_at: float
    expires_at: float


@attrs.frozen(slots=True)
class Denied:
    """Nothing was recorded. ``wait``: seconds until the request fits if nothing else is
    admitted and every lease in flight runs to its bound (certain); ``best``: seconds until it
    could fit at best, every lease in flight ending now; ``group``: the group setting ``wait``;
    ``now``: the store's time of the decision."""

    wait: float
    best: float
    group: str
    now: float


@attrs.frozen(slots=True)
class WindowView:
    """One window as a store sees it now: ``used`` units occupy it (in flight included) and
    ``ended`` lists ``(end, weight)`` of the ended entries still in it, oldest end first."""

    window: Window
    used: int
    ended: Sequence[tuple[float, int]]


@attrs.frozen(slots=True)
class GroupView:
    """One group at the store's ``now``: its windows, units in flight, and any pause."""

    name: str
    now: float
    inflight: int
    paused_until: float
    windows: tuple[WindowView, ...]

    def left(self) -> dict[float, int]:
        """Units left now per window length (0 while paused)."""
        paused = self.paused_until > self.now
        return {
            v.window.seconds: 0 if paused else max(0, v.window.limit - v.used) for v in self.windows
        }


@runtime_checkable
class Store(Protocol):
    """Shared admission state of one workspace. A store MUST guarantee:

    1. ``admit`` is atomic and linearizable across every user of the store: it records one entry
       per group (admitted now, bound ``now + lease_seconds``, by its own clock read inside its
       lock) or nothing. A lease id refunded before its admission arrives is never admitted.
    2. ``end`` records the end at the store's now (never after the bound); ``refund`` deletes
       the entries of a lease still in flight; both ignore unknown or ended leases.
    3. ``pause`` never shortens a pause; ``spend`` records ``units`` as spent and ended now,
       whether or not they fit (the server said so).
    4. ``end``, ``refund``, ``pause`` and ``spend`` return the store's time they acted at.
       ``view`` has no effect on admissions and costs no more with more entries than it must.
    5. Entries are dropped only once they occupy no window of their group.

    ``recheck`` is how often (seconds) a waiter re-asks a store that other processes may change
    (``math.inf`` for one process's store: this process's events wake its waiters).
    """

    clock: Clock
    recheck: float

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        """Record the admission in every group of ``demand``, or say how long it must wait."""
        ...

    async def end(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request is finished now."""
        ...

    async def refund(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request was never sent: forget it (even if its admission is late)."""
        ...

    async def pause(self, group: str, seconds: float) -> float:
        """Admit nothing in ``group`` for ``seconds`` from now."""
        ...

    async def spend(self, group: QuotaGroup, units: int) -> float:
        """Record ``units`` spent by someone else just now."""
        ...

    async def view(self, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        """Each group's occupancy now, without side effects on admissions."""
        ...


def fit_time(
    releases: Iterable[tuple[float, int]], used: int, limit: int, weight: int, now: float
) -> float:
    """Earliest time >= ``now`` at which ``weight`` more fits a window of ``limit`` where ``used``
    units occupy now and free at ``releases`` (``(time, weight)``, in time order)."""
    if weight > limit:
        return math.inf
    excess = used + weight - limit
    if excess <= 0:
        return now
    for at, w in releases:
        excess -= w
        if excess <= 0:
            return max(at, now)
    return math.inf


def fits_from_rows(
    group: QuotaGroup, weight: int, now: float, paused_until: float, rows: Sequence[Row]
) -> tuple[float, float]:
    """When ``weight`` more fits every window of ``group``, whose entries are ``rows`` (by
    end): at worst (leases in flight run to their bound) and at best (they end now)."""
    at = best = max(now, paused_until)
    for w in group.windows:
        s = w.seconds
        live = [(e + s, wt, f) for e, wt, f in rows if e + s > now]
        used = sum(wt for _, wt, _ in live)
        at = max(at, fit_time([(r, wt) for r, wt, _ in live], used, w.limit, weight, now))
        ended = [(r, wt) for r, wt, f in live if not f]
        flying = sum(wt for _, wt, f in live if f)
        best = max(best, fit_time([*ended, (now + s, flying)], used, w.limit, weight, now))
    return at, best


def view_from_rows(
    group: QuotaGroup, now: float, paused_until: float, rows: Sequence[Row]
) -> GroupView:
    """The view of ``group``, whose entries are ``rows`` (by end)."""
    windows = tuple(
        WindowView(
            w,
            sum(wt for e, wt, _ in rows if e + w.seconds > now),
            [(e, wt) for e, wt, f in rows if not f and e + w.seconds > now],
        )
        for w in group.windows
    )
    return GroupView(group.name, now, sum(w for _, w, f in rows if f), paused_until, windows)


def denied(now: float, fits: Mapping[str, tuple[float, float]]) -> Denied:
    """The denial of a demand that fits each group at ``fits[group]`` (at worst, at best)."""
    group = max(fits, key=lambda g: fits[g][0])
    return Denied(fits[group][0] - now, max(b for _, b in fits.values()) - now, group, now)
