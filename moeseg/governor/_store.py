"""The Store protocol: where admissions are recorded, possibly shared between processes.

A store keeps, per quota group, one entry per admitted request (never one per unit of weight):
its weight, when it was admitted, when its lease ended (or that it is still in flight) and the
bound after which an unended lease counts as ended. From those entries it decides admissions
atomically. The governor (queueing, FIFO, waking, leases) lives above it, in one process.

``decide`` below is the reference semantics in plain Python over a snapshot; any store may use it
inside its own transaction (SQLite), re-implement it server-side (Redis/Lua), or keep faster
incremental structures (the in-memory store) -- the results must be the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import attrs

from ._policy import QuotaGroup

__all__ = [
    "Admission",
    "Denied",
    "EntryState",
    "GroupState",
    "Store",
    "decide",
    "fit_time",
]

_NO_RESERVE: Mapping[str, int] = MappingProxyType({})


@attrs.frozen(slots=True)
class Admission:
    """One request asking to be admitted into every group of ``demand`` at once.

    ``demand`` pairs each group (with its windows: the store needs no policy of its own) with the
    weight taken from it (1 for a plain request, the number of users for a weighted group).
    ``expires_at`` is the bound after which the lease counts as ended if nobody ends it.
    ``reserve`` is weight per group that must *remain* free after this admission: the governor
    holds it back for earlier waiters (FIFO) blocked by another group.
    """

    lease_id: str
    demand: tuple[tuple[QuotaGroup, int], ...]
    now: float
    expires_at: float
    reserve: Mapping[str, int] = _NO_RESERVE


@attrs.frozen(slots=True)
class Denied:
    """Why and until when an admission cannot succeed; nothing was recorded.

    - ``frees_at``: the time at which it will succeed if nothing else is admitted and every lease
      in flight runs to its bound (``expires_at``): certain, pessimistic.
    - ``earliest``: the time at which it could succeed at best, if every lease in flight ended
      right now (optimistic; this is what a caller's maximum wait is compared with).
    - ``group``: the group whose windows (or pause) set ``frees_at``.
    - ``fits``: per group of the demand, the pessimistic time that group alone would admit it
      (``<= now`` for groups that already have room). The governor wakes at the earliest of the
      future ones: the next moment anything can change for this request.
    """

    frees_at: float
    earliest: float
    group: str
    fits: Mapping[str, float]


@attrs.frozen(slots=True)
class EntryState:
    """One admitted request as a store remembers it (per group)."""

    lease_id: str
    weight: int
    admitted_at: float
    expires_at: float
    ended_at: float | None = None

    def end(self, now: float) -> float | None:
        """When the lease ended as of ``now``: its end, its bound if that has passed, or None."""
        if self.ended_at is not None:
            return self.ended_at
        return self.expires_at if self.expires_at <= now else None


@attrs.frozen(slots=True)
class GroupState:
    """What a store knows about one group: live entries (oldest first) and any pause."""

    name: str
    entries: tuple[EntryState, ...] = ()
    paused_until: float = -math.inf


@runtime_checkable
class Store(Protocol):
    """Shared admission state of one workspace: in memory, SQLite, Redis...

    A store MUST guarantee:

    1. ``admit`` is atomic and linearizable across every process sharing the store: it checks
       every window of every group in the demand and either records one entry per group (the
       request's weight, ``now`` as admission time, ``expires_at``) and returns ``None``, or
       records nothing and returns a :class:`Denied`. Never half an admission.
    2. Admission rule, for each group ``g`` of weight ``w`` and each window ``(limit, W)`` of
       ``g``: *occupancy + w + reserve[g] <= limit*, where occupancy sums the weights of the
       group's entries still occupying at ``now``. An entry occupies from its admission until
       ``W`` after its lease ended (``end + W > now``); an entry whose lease has not ended
       occupies (it is in flight), unless ``expires_at <= now``, in which case it counts as
       ended at ``expires_at``. A group paused until ``p > now`` admits nothing. This rule bounds
       to ``limit`` the weight that can reach the server in any interval of length ``W``,
       wherever in [admission, end] each request arrives.
    3. ``end(lease_id, at)`` records the lease's end at ``min(at, expires_at)``; entries of a
       lease already ended or unknown are left alone (idempotent). Release times only ever move
       earlier; only admissions and pauses delay anyone. A store may record an end later than
       it is reported (e.g. batched into its next call, as ``RedisStore`` does): until then the
       lease counts as in flight, which is conservative, and once recorded it counts from ``at``.
    4. ``refund(lease_id)`` deletes the entries of a lease still in flight (the request was
       provably never sent); a lease already ended, past its bound (at the latest time the
       store has seen), or unknown is left alone; idempotent.
    5. ``pause(group, until)`` makes the group admit nothing before ``until``; a later call never
       shortens an existing pause (max).
    6. ``snapshot`` has no side effect on admissions (it may drop entries that occupy no window).
    7. Times are in one time base shared by every user of the store (the loop clock for a
       per-process store; wall-clock time for a shared one), and ``now`` given by callers may be
       treated as ``max(now, latest now seen)``.
    8. Entries are dropped only once they occupy no window of their group (``end + longest <=
       now``): a restarted process must still see this morning's requests.

    A store shared between processes sets the class attribute ``shared = True``: a governor
    built on it then reads :class:`WallClock` time unless given another clock.
    """

    async def admit(self, request: Admission) -> Denied | None:
        """Record the admission in every group of the demand, or say when it could succeed."""
        ...

    async def end(self, lease_id: str, groups: Sequence[str], at: float) -> None:
        """The lease's request is finished (response received or abandoned) at ``at``."""
        ...

    async def refund(self, lease_id: str, groups: Sequence[str]) -> None:
        """The lease's request was never sent: forget it."""
        ...

    async def pause(self, group: str, until: float) -> None:
        """Admit nothing in ``group`` before ``until`` (server said 429)."""
        ...

    async def snapshot(self, groups: Sequence[QuotaGroup], now: float) -> dict[str, GroupState]:
        """The live entries and pause of each group, without side effects on admission."""
        ...


def releases(
    state: GroupState, seconds: float, now: float, *, optimistic: bool
) -> list[tuple[float, int]]:
    """``(release, weight)`` of the entries occupying a window of ``seconds`` at ``now``, unsorted.

    An ended entry releases ``seconds`` after its end; a lease in flight after ``now``
    (optimistic: it ends now) or after its bound (pessimistic).
    """
    out = []
    for e in state.entries:
        end = e.end(now)
        if end is None:
            end = now if optimistic else e.expires_at
        elif end + seconds <= now:
            continue
        out.append((end + seconds, e.weight))
    return out


def fit_time(
    state: GroupState, limit: int, seconds: float, weight: int, now: float, *, optimistic: bool
) -> float:
    """Earliest time >= now at which ``weight`` more fits one window, nothing else admitted.

    Pessimistic: leases in flight run to their bound. Optimistic: they all end at ``now``.
    ``math.inf`` if ``weight > limit``.
    """
    if weight > limit:
        return math.inf
    live = releases(state, seconds, now, optimistic=optimistic)
    excess = sum(w for _, w in live) + weight - limit
    if excess <= 0:
        return now
    for at, w in sorted(live):
        excess -= w
        if excess <= 0:
            return at
    raise AssertionError("unreachable: weight <= limit")


def decide(states: Mapping[str, GroupState], request: Admission) -> Denied | None:
    """The reference admission decision over ``states`` (one per group of the demand).

    Returns None when the request fits every window of every group right now; the caller then
    records one :class:`EntryState` per group. Otherwise a :class:`Denied`.
    """
    now = request.now
    fits: dict[str, float] = {}
    earliest = -math.inf
    for group, weight in request.demand:
        state = states.get(group.name, GroupState(group.name))
        need = weight + request.reserve.get(group.name, 0)
        windows = group.windows
        pause = state.paused_until if state.paused_until > now else now
        fit = max(fit_time(state, w.limit, w.seconds, need, now, optimistic=False) for w in windows)
        best = max(fit_time(state, w.limit, w.seconds, need, now, optimistic=True) for w in windows)
        fits[group.name] = max(fit, pause)
        earliest = max(earliest, best, pause)
    if all(t <= now for t in fits.values()):
        return None
    worst = max(fits, key=fits.__getitem__)
    return Denied(frees_at=fits[worst], earliest=earliest, group=worst, fits=fits)
