"""The governor: admission with leases, first-come first-served waiting, server feedback.

How waiting works (no polling). Waiters sit in one queue ordered by arrival. A *pump* walks the
queue from its head and asks the store to admit each waiter, reserving for every earlier waiter
still waiting its weight in the groups it shares with later ones (so a later, smaller request
passes an earlier one only if there is room for both: nobody is starved, and nobody waits on a
group it does not need). A group is *closed* for the rest of the walk once a waiter is denied by
it; the walk stops when every group with waiters is closed. Each waiter the store denied sleeps
until the earliest future moment one of its groups could admit it (a slot frees or a lease
bound passes); the others sleep until a pump wakes them. A pump runs when a waiter arrives,
leaves, or wakes up, when a lease ends or is refunded, and after a pause.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
import uuid
from asyncio import _get_running_loop
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Protocol

import anyio
import anyio.lowlevel

from .._exceptions import ConfigurationError, QuotaWaitTooLong
from ._clock import AnyioClock, Clock, WallClock
from ._memory import MemoryStore
from ._plan import Plan, remaining
from ._policy import QuotaGroup, QuotaPolicy
from ._store import Admission, GroupState, Store

__all__ = ["Governor", "Lease", "get_governor"]

Demand = tuple[tuple[QuotaGroup, int], ...]
DemandLike = Mapping[str, int] | str

_ACTIVE, _COMPLETED, _REFUNDED = 0, 1, 2


class _Signal(Protocol):
    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    def wait(self) -> Awaitable[None]: ...


class _FutureSignal(asyncio.Future[None]):
    """A one-shot wake-up on asyncio: the future itself (an anyio.Event costs three objects,
    and every object a waiter holds is work for the garbage collector)."""

    __slots__ = ()

    def set(self) -> None:
        if not self.done():
            self.set_result(None)

    def is_set(self) -> bool:
        return self.done()  # also once a timed-out wait cancelled it

    def wait(self) -> Awaitable[None]:
        return self  # awaited directly: one coroutine frame less per wake-up


def _signal() -> _Signal:
    loop = _get_running_loop()
    return anyio.Event() if loop is None else _FutureSignal(loop=loop)


_STATES = ("active", "completed", "refunded")
_NO_RESERVE: Mapping[str, int] = MappingProxyType({})


class Lease:
    """An admitted request, held while it is in flight.

    ``complete()`` once the response has arrived (or the request was abandoned): the slot stays
    occupied until each window's length after that moment. ``refund()`` only if the request was
    provably never sent: the slot is returned. Both are idempotent, never raise, and finish even
    inside a cancelled scope. A lease never ended counts as ended at ``expires_at``.
    """

    __slots__ = ("_governor", "_key", "_state", "admitted_at", "demand", "expires_at", "names")

    def __init__(
        self,
        governor: Governor,
        key: int | str,
        demand: Demand,
        names: tuple[str, ...],
        admitted_at: float,
        expires_at: float,
    ) -> None:
        self._governor = governor
        self._state = _ACTIVE
        self._key = key  # the store's key: the lease number in memory, else the lease id
        self.demand = demand
        self.names = names
        self.admitted_at = admitted_at
        self.expires_at = expires_at

    @property
    def lease_id(self) -> str:
        """This lease's id, unique across processes sharing a store."""
        key = self._key
        return key if isinstance(key, str) else self._governor._prefix + str(key)

    @property
    def state(self) -> str:
        """``"active"``, ``"completed"`` or ``"refunded"``."""
        return _STATES[self._state]

    @property
    def groups(self) -> dict[str, int]:
        """``{group: units}`` this lease holds."""
        return {g.name: w for g, w in self.demand}

    async def complete(self) -> None:
        """The request is finished: its slots free one window-length from now."""
        if self._state:  # not active
            return
        gov = self._governor
        local = gov._local
        if local is None:
            await gov._finish(self, refund=False)
            return
        # In memory: done synchronously (no yield), unless the end lets a waiter in earlier.
        now = gov._end_local(local, self, refund=False)
        if gov._queue and gov._end_matters(self.names, now):
            await gov._pump()

    async def refund(self) -> None:
        """The request was never sent: give its slots back now (ignored once completed)."""
        if self._state == _ACTIVE:
            await self._governor._finish(self, refund=True)

    def __repr__(self) -> str:
        return (
            f"<Lease {self.lease_id} {self.groups} {self.state} admitted_at="
            f"{self.admitted_at:.3f} expires_at={self.expires_at:.3f}>"
        )


class _Waiter:
    __slots__ = ("demand", "key", "lease", "lease_timeout", "names", "poke", "seq", "wake_at")

    def __init__(
        self, seq: int, demand: Demand, names: tuple[str, ...], key: int | str, lease_timeout: float
    ) -> None:
        self.seq = seq
        self.demand = demand
        self.names = names
        self.key = key
        self.lease_timeout = lease_timeout
        self.lease: Lease | None = None
        self.poke: _Signal = _signal()
        self.wake_at = math.inf


class Governor:
    """Admits requests so that no sliding window of any quota group is ever exceeded.

    >>> gov = Governor(QuotaPolicy.moengage())
    >>> async with gov.lease(gov.policy.demand("create")) as lease:  # doctest: +SKIP
    ...     response = await http.post(...)

    Guarantee: for every window ``(limit, W)`` of every group, the weight of requests that can
    reach the server within any interval of length ``W`` is at most ``limit``, wherever each
    request arrives between its admission and the end of its lease. Waiters are served first
    come, first served per group; a cancelled waiter takes nothing; ``max_wait`` fails at once
    when the quota frees too late. One governor per workspace and process: see
    :func:`get_governor`.
    """

    __slots__ = (
        "__weakref__",
        "_active",
        "_bound",
        "_clock",
        "_closed_until",
        "_demands",
        "_escalation",
        "_groups",
        "_ids",
        "_local",
        "_loop_clock",
        "_memo",
        "_prefix",
        "_pumping",
        "_queue",
        "_repump",
        "_seq",
        "_shortest",
        "_time",
        "_timer",
        "_timer_at",
        "_waiting",
        "policy",
        "store",
    )

    def __init__(
        self,
        policy: QuotaPolicy | None = None,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.policy = policy if policy is not None else QuotaPolicy.moengage()
        self.store: Store = store if store is not None else MemoryStore()
        self._local = self.store if isinstance(self.store, MemoryStore) else None
        if clock is None:
            # A store shared between processes needs one time base for all: wall-clock time.
            clock = WallClock() if getattr(self.store, "shared", False) else AnyioClock()
        self._clock: Clock = clock
        self._loop_clock = isinstance(self._clock, AnyioClock)
        self._bound: asyncio.AbstractEventLoop | None = None
        self._time: Callable[[], float] = self._clock.now
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._bind(None)
        self._memo: tuple[object, object, tuple[Demand, tuple[str, ...]]] = (None, None, ((), ()))
        self._groups = {g.name: g for g in self.policy.groups}
        self._demands: dict[object, tuple[Demand, tuple[str, ...]]] = {}
        self._queue: OrderedDict[int, _Waiter] = OrderedDict()
        self._waiting: dict[str, int] = {}  # group -> number of waiters needing it
        self._seq = itertools.count()
        self._prefix = uuid.uuid4().hex[:12] + "-"
        self._ids = itertools.count(1)
        self._pumping = False
        self._repump = False
        self._active = 0
        self._escalation: dict[str, tuple[int, float]] = {}
        # Per group closed by the last pump: when its first denied waiter could fit. Until then
        # a newcomer to the group cannot be admitted, and a lease end (which frees a slot one
        # window later) cannot change anyone's turn unless it frees before that moment.
        self._closed_until: dict[str, float] = {}
        self._shortest = {g.name: g.windows[0].seconds for g in self.policy.groups}

    # -- demands ---------------------------------------------------------------------------

    def _demand(self, demand: DemandLike) -> tuple[Demand, tuple[str, ...]]:
        """The demand as (group, units) pairs sorted by group name, and the names alone."""
        key: object = demand if isinstance(demand, str) else tuple(demand.items())
        cached = self._demands.get(key)
        if cached is not None:
            return cached
        units = self.policy.demand(demand) if isinstance(demand, str) else demand
        out = []
        for name, weight in sorted(units.items()):
            group = self._group(name)
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ConfigurationError(f"units for {name!r} must be an int >= 0, got {weight!r}")
            if weight > min(w.limit for w in group.windows):
                raise ConfigurationError(
                    f"{weight} units can never fit quota group {group} (split the request)"
                )
            if weight:
                out.append((group, weight))
        result = (tuple(out), tuple(g.name for g, _ in out))
        if len(self._demands) < 1024:
            self._demands[key] = result
        return result

    # -- admission -------------------------------------------------------------------------

    async def acquire(
        self,
        demand: DemandLike,
        *,
        max_wait: float | None = None,
        lease_timeout: float = 120.0,
    ) -> Lease:
        """Wait for (or take at once) a slot in every group of ``demand``; return its lease.

        ``demand`` is ``{group: units}`` (see ``policy.demand``) or an operation name.
        ``lease_timeout`` bounds the request: a lease not ended by then counts as ended then
        (use the request timeout). Raises :class:`moeseg.QuotaWaitTooLong` at once when the
        earliest possible admission lies beyond ``max_wait`` seconds, or when ``max_wait``
        passes while waiting.

        With the in-memory store, a slot free at once (nobody waiting for these groups) is
        taken without yielding to the event loop: that call is not a checkpoint (a cancelled
        scope is noticed at the caller's next await; end the lease as usual, refunding it if
        nothing was sent). Waiting is a checkpoint, and a lease granted while its waiter was
        being cancelled is refunded.
        """
        memo = self._memo  # the last demand seen, checked for equality (it may be mutated)
        if demand is memo[0] and demand == memo[1]:
            need, names = memo[2]
        else:
            need, names = self._demand(demand)
            copy = demand if isinstance(demand, str) else dict(demand)
            self._memo = (demand, copy, (need, names))
        if max_wait is not None and max_wait == math.inf:
            max_wait = None  # no bound
        if not lease_timeout > 0:
            raise ConfigurationError(f"lease_timeout must be > 0, got {lease_timeout!r}")
        loop = _get_running_loop()  # self._now(), inline
        if loop is not self._bound:
            self._bind(loop)
        now = self._time()
        local = self._local
        # In memory a lease is known by its number; a shared store needs a unique string.
        key: int | str = next(self._ids)
        if local is None:
            key = self._prefix + str(key)
        if not need:
            lease = Lease(self, key, need, names, now, now)
            lease._state = _COMPLETED
            return lease
        waiting = self._waiting
        # Nobody waits for these groups: try at once, without yielding when a slot is free.
        # (A remote store yields: callers go through the queue, so they keep their order.)
        expires = now + lease_timeout
        if waiting:
            for n in names:
                if n in waiting:
                    local = None  # others wait for this group: queue behind them
                    break
        if local is not None and local.take(key, need, now, expires):
            self._active += 1
            return Lease(self, key, need, names, now, expires)
        return await self._wait(need, names, key, now, max_wait, lease_timeout)

    def _now(self) -> float:
        """``clock.now()``, through the loop's own time function when the clock is the loop's."""
        loop = _get_running_loop()
        if loop is not self._bound:
            self._bind(loop)
        return self._time()

    def _bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._bound = loop
        self._timer = None  # a timer of another loop never fires here
        self._timer_at = math.inf
        if not self._loop_clock:
            self._time = self._clock.now
        elif loop is None:  # trio
            self._time = anyio.current_time
        elif type(loop).time is asyncio.BaseEventLoop.time:
            self._time = time.monotonic  # what loop.time() returns, without its frame
        else:
            self._time = loop.time

    @asynccontextmanager
    async def lease(
        self,
        demand: DemandLike,
        *,
        max_wait: float | None = None,
        lease_timeout: float = 120.0,
    ) -> AsyncIterator[Lease]:
        """``async with gov.lease(demand) as lease:`` completes the lease on exit (any exit)
        unless it was refunded inside."""
        lease = await self.acquire(demand, max_wait=max_wait, lease_timeout=lease_timeout)
        try:
            yield lease
        finally:
            await lease.complete()

    async def _wait(
        self,
        need: Demand,
        names: tuple[str, ...],
        key: int | str,
        now: float,
        max_wait: float | None,
        lease_timeout: float,
    ) -> Lease:
        w = _Waiter(next(self._seq), need, names, key, lease_timeout)
        self._queue[w.seq] = w
        waiting = self._waiting
        for name in w.names:
            waiting[name] = waiting.get(name, 0) + 1
        deadline = math.inf if max_wait is None else now + max_wait
        # On asyncio with the in-memory store one loop timer wakes the queue (see _arm); else
        # the waiter that must wake first sleeps until then and pumps.
        timed = self._local is not None and _get_running_loop() is not None
        returned = False
        try:
            # A newcomer to groups all closed by the last pump cannot be admitted before the
            # waiter that closed them (which holds the timer): no need to pump.
            closed = self._closed_until
            for name in w.names:
                if closed.get(name, -math.inf) <= now:
                    await self._pump()
                    break
            if w.lease is None and max_wait is not None:
                await self._check_deadline(w, now, max_wait)
            while (lease := w.lease) is None:
                if w.poke.is_set():
                    w.poke = _signal()
                wake = deadline if timed else min(w.wake_at, deadline)
                if wake == math.inf:
                    await w.poke.wait()
                else:
                    with anyio.move_on_at(self._loop_deadline(wake)):
                        await w.poke.wait()
                if w.lease is not None:
                    continue
                now = self._clock.now()
                if not timed and now >= w.wake_at:
                    await self._pump()
                if w.lease is None and now >= deadline and max_wait is not None:
                    await self._check_deadline(w, now, max_wait, force=True)
            # Granted. Cancelled meanwhile (even at this very instant)? Then give it back.
            await anyio.lowlevel.checkpoint_if_cancelled()
            returned = True
            return lease
        finally:
            if not returned:
                with anyio.CancelScope(shield=True):
                    await self._abandon(w)

    def _loop_deadline(self, t: float) -> float:
        if self._loop_clock:
            return t
        return anyio.current_time() + max(0.0, t - self._clock.now())

    async def _check_deadline(
        self, w: _Waiter, now: float, max_wait: float, *, force: bool = False
    ) -> None:
        frees_at, group = await self._frees_at(w)
        if force or frees_at > now + max_wait:
            wait = max(0.0, frees_at - now)
            raise QuotaWaitTooLong(group, frees_at, wait, max_wait)

    async def _frees_at(self, w: _Waiter) -> tuple[float, str]:
        """Earliest admission of ``w``: earlier waiters sharing a group first, leases in flight
        ending now, requests taking no time (see :class:`Plan`)."""
        ahead = [
            x.demand
            for x in self._queue.values()
            if x.seq < w.seq and not set(x.names).isdisjoint(w.names)
        ]
        now = self._clock.now()
        groups = self.policy.groups
        states = await self._snapshot(groups, now)

        def admitted_at(demand: Demand) -> float:
            plan = Plan(groups, states, now)
            plan.admit_all(ahead)
            return plan.admit(demand)

        # Name the group that, on its own, frees the latest.
        group = max(w.demand, key=lambda d: admitted_at((d,)))[0].name
        return admitted_at(w.demand), group

    async def _abandon(self, w: _Waiter) -> None:
        self._dequeue(w)
        if w.lease is not None:
            await self._finish(w.lease, refund=True)  # granted but never returned: give back
        elif self._queue:
            await self._pump()

    def _dequeue(self, w: _Waiter) -> None:
        if self._queue.pop(w.seq, None) is None:
            return
        waiting = self._waiting
        for name in w.names:
            left = waiting[name] - 1
            if left:
                waiting[name] = left
            else:
                del waiting[name]
        if not self._queue:
            self._closed_until = {}  # nobody left to keep a group closed
            if self._timer is not None:
                self._arm(math.inf)

    async def _pump(self) -> None:
        if self._pumping:
            self._repump = True
            return
        self._pumping = True
        try:
            while True:
                self._repump = False
                if self._local is not None:
                    await self._serve()  # never yields with the in-memory store
                else:
                    with anyio.CancelScope(shield=True):
                        await self._serve()
                if not self._repump:
                    break
        finally:
            self._pumping = False

    async def _serve(self) -> None:
        now = self._clock.now()
        local = self._local is not None
        timed = local and _get_running_loop() is not None
        soonest = math.inf  # (timed) the earliest moment a denied waiter could be admitted
        pending = dict(self._waiting)  # groups with waiters not yet granted in this walk
        closed: set[str] = set()
        reserve: dict[str, int] = {}
        granted: list[_Waiter] = []
        queue = self._queue
        closed_until: dict[str, float] = {}
        self._closed_until = closed_until
        for w in queue.values() if local else list(queue.values()):
            if closed.issuperset(pending):
                break
            if w.seq not in queue:
                continue  # left while the remote store answered
            if not closed.isdisjoint(w.names):
                w.wake_at = math.inf  # a pump will wake it when its turn comes
                for g, units in w.demand:
                    reserve[g.name] = reserve.get(g.name, 0) + units
                continue
            held = (
                {n: reserve[n] for n in w.names if n in reserve} or _NO_RESERVE
                if reserve
                else _NO_RESERVE
            )
            expires = now + w.lease_timeout
            if local and held is _NO_RESERVE:
                store = self._local
                assert store is not None
                # the hot path: the explanation is worked out only when the check fails
                denied = (
                    None
                    if store.take(w.key, w.demand, now, expires)
                    else store.deny(w.demand, now, held)
                )
            elif local:
                denied = self._local.admit_key(  # type: ignore[union-attr]
                    w.key, w.demand, now, expires, held
                )
            else:
                assert isinstance(w.key, str)
                denied = await self.store.admit(Admission(w.key, w.demand, now, expires, held))
            if denied is None:
                if w.seq not in queue:  # it left while the remote store answered
                    await self.store.refund(str(w.key), w.names)
                    continue
                w.lease = Lease(self, w.key, w.demand, w.names, now, expires)
                self._active += 1
                granted.append(w)
                for name in w.names:
                    if pending[name] == 1:
                        del pending[name]
                    else:
                        pending[name] -= 1
                w.poke.set()
                continue
            future = [t for t in denied.fits.values() if t > now]
            wake = min(future) if future else denied.frees_at
            if not local and now < denied.earliest < wake:
                wake = denied.earliest  # another process may end its leases early
            for name, t in denied.fits.items():
                if t > now:
                    closed.add(name)
                    closed_until.setdefault(name, t)
            for g, units in w.demand:
                reserve[g.name] = reserve.get(g.name, 0) + units
            if timed:
                soonest = min(soonest, wake)
            elif wake < w.wake_at:
                w.poke.set()  # it sleeps until a later moment: reschedule it
            w.wake_at = wake
        for w in granted:
            self._dequeue(w)
        if timed:
            self._arm(soonest)

    def _arm(self, at: float) -> None:
        """(asyncio, in-memory store) Pump at ``at`` from one loop timer: no waiter sleeps on
        its own timer, and a pump grants every waiter that fits by then in one go. A timer
        set earlier stays: it pumps (harmlessly) and sets the next."""
        if at >= self._timer_at and (at < math.inf or self._timer is None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at == math.inf:
            return
        loop = asyncio.get_running_loop()
        if self._loop_clock:
            self._timer = loop.call_at(at, self._on_timer)
        else:
            self._timer = loop.call_later(max(0.0, at - self._clock.now()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        if not self._queue:
            return
        pump = self._pump()  # never yields with the in-memory store: run it right here
        try:
            pump.send(None)
        except StopIteration:
            return
        pump.close()
        raise AssertionError("the in-memory pump yielded")

    # -- lease end -------------------------------------------------------------------------

    async def _finish(self, lease: Lease, *, refund: bool) -> None:
        if lease._state != _ACTIVE:
            return
        names = lease.names
        local = self._local
        if local is not None:
            now = self._end_local(local, lease, refund=refund)
        else:
            lease._state = _REFUNDED if refund else _COMPLETED
            self._active -= 1
            now = self._now()
            lease_id = lease.lease_id
            with anyio.CancelScope(shield=True):
                if refund:
                    await self.store.refund(lease_id, names)
                else:
                    await self.store.end(lease_id, names, now)
        if not self._queue:
            return
        if refund or self._end_matters(names, now):
            await self._pump()

    def _end_local(self, local: MemoryStore, lease: Lease, *, refund: bool) -> float:
        """End an active in-memory lease now, without yielding; return that moment."""
        lease._state = _REFUNDED if refund else _COMPLETED
        self._active -= 1
        loop = _get_running_loop()  # self._now(), inline: this is the hot path
        if loop is not self._bound:
            self._bind(loop)
        now = self._time()
        if refund:
            local.refund_now(lease._key, lease.names)
        else:
            local.end_now(lease._key, lease.names, now)
        return now

    def _end_matters(self, names: tuple[str, ...], now: float) -> bool:
        """Whether a lease of ``names`` ending at ``now`` can change anyone's turn: its slot
        frees a window later, which matters only to a group whose first waiter would otherwise
        wait longer than that."""
        closed, shortest = self._closed_until, self._shortest
        for n in names:  # noqa: SIM110 (a loop: no generator on the hot path)
            if closed.get(n, -math.inf) > now + shortest[n]:
                return True
        return False

    # -- server feedback -------------------------------------------------------------------

    async def report_rate_limited(self, group: str, window_seconds: float | None = None) -> float:
        """The server answered 429 "rate limit breached" for ``group``: someone else spent
        quota. Pause the group until a slot is certainly free again; return that moment.

        Every request the server counted in the breached window arrived within the last
        ``W`` seconds, so all of them have left it ``W`` seconds from now: the pause lasts the
        named window (``"Current limit: n/m mins"`` names it). Unnamed, it starts with the
        group's shortest window and moves to the next longer one when 429s keep coming within
        a window's length of the previous pause. Never longer than the group's longest window.
        """
        g = self._group(group)
        now = self._clock.now()
        if window_seconds is not None:
            if not window_seconds > 0:
                raise ConfigurationError(f"window_seconds must be > 0, got {window_seconds!r}")
            seconds = min(float(window_seconds), g.longest)
            index = max(i for i, w in enumerate(g.windows) if w.seconds <= seconds or i == 0)
        else:
            index, until = self._escalation.get(group, (-1, -math.inf))
            recent = index >= 0 and now <= until + g.windows[index].seconds
            index = min(index + 1, len(g.windows) - 1) if recent else 0
            seconds = g.windows[index].seconds
        until = now + seconds
        self._escalation[group] = (index, until)
        await self._pause(group, until)
        return until

    async def observe_headers(self, group: str, headers: Mapping[str, str]) -> None:
        """Take ``x-ratelimit-limit / -remaining / -reset`` into account, if present.

        Only ever makes the governor more conservative: when the server has fewer units left
        than we think, the difference is recorded as spent just now (occupying every window of
        the group for its length); when it has none left, the group pauses until the reset
        (at most the matching window's length).
        """
        g = self._group(group)
        lower = {k.lower(): v for k, v in headers.items()}
        limit = _int(lower.get("x-ratelimit-limit"))
        left = _int(lower.get("x-ratelimit-remaining"))
        if left is None:
            return
        window = next((w for w in g.windows if w.limit == limit), g.windows[0])
        now = self._clock.now()
        if left <= 0:
            reset = _reset_seconds(lower.get("x-ratelimit-reset"))
            span = window.seconds if reset is None else min(reset, window.seconds)
            await self._pause(group, now + span)
            return
        states = await self._snapshot([g], now)
        ours = remaining([g], states, now)[group]
        spent = ours[window.seconds] - left
        room = min(ours.values())
        units = min(spent, room)
        if units <= 0:  # we already count as much, or another window is already full
            return
        local = self._local
        if local is not None:  # keys of one kind in memory: they are compared in its heaps
            key = next(self._ids)
            if local.take(key, ((g, units),), now, now):
                local.end_now(key, [group], now)
            return
        lease_id = f"{self._prefix}seen-{next(self._ids)}"
        if await self.store.admit(Admission(lease_id, ((g, units),), now, now)) is None:
            await self.store.end(lease_id, [group], now)

    async def _pause(self, group: str, until: float) -> None:
        local = self._local
        if local is not None:
            local.pause_now(group, until)
        else:
            with anyio.CancelScope(shield=True):
                await self.store.pause(group, until)
        if self._queue:
            await self._pump()

    def _group(self, name: str) -> QuotaGroup:
        group = self._groups.get(name)
        if group is None:
            raise ConfigurationError(f"no quota group named {name!r}")
        return group

    # -- introspection (no side effects) ----------------------------------------------------

    async def _snapshot(self, groups: Sequence[QuotaGroup], now: float) -> dict[str, GroupState]:
        if self._local is not None:
            return self._local.snapshot_now(groups, now)
        return await self.store.snapshot(groups, now)

    async def _plan(self) -> Plan:
        now = self._clock.now()
        groups = self.policy.groups
        return Plan(groups, await self._snapshot(groups, now), now)

    async def remaining(self) -> dict[str, dict[float, int]]:
        """Units left right now: ``{group: {window seconds: units}}`` (0 while paused)."""
        now = self._clock.now()
        groups = self.policy.groups
        return remaining(groups, await self._snapshot(groups, now), now)

    async def next_free(self, demand: DemandLike) -> float:
        """When ``demand`` could be admitted if asked for now (after the current waiters)."""
        return await self.eta(demand, 1)

    async def eta(self, demand: DemandLike, n: int) -> float:
        """When the ``n``-th of ``n`` more ``demand`` requests could be admitted, at best.

        The greedy optimum after the current waiters, with leases in flight ending now and
        responses taking no time (add your latency). ``math.inf`` if it can never fit.
        """
        need, _ = self._demand(demand)
        plan = await self._plan()
        plan.admit_all([w.demand for w in self._queue.values()])
        t = self._clock.now()
        if not need:
            return t
        for _ in range(n):
            t = plan.admit(need)
        return t

    @property
    def clock(self) -> Clock:
        """The clock every time of this governor is read from."""
        return self._clock

    @property
    def waiting(self) -> int:
        """Number of callers waiting in :meth:`acquire`."""
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Leases of this governor neither completed nor refunded (expired ones included)."""
        return self._active

    def __repr__(self) -> str:
        parts = []
        if self._local is not None:
            now = self._clock_now_or_none()
            if now is not None:
                groups = self.policy.groups
                left = remaining(groups, self._local.snapshot_now(groups, now), now)
                for g in groups:
                    windows = ", ".join(f"{left[g.name][w.seconds]} of {w}" for w in g.windows)
                    parts.append(f"{g.name} [{windows} left]")
        state = "; ".join(parts) or type(self.store).__name__
        return f"<Governor {state}; {self.waiting} waiting, {self._active} in flight>"

    def _clock_now_or_none(self) -> float | None:
        try:
            return self._clock.now()
        except Exception:  # the loop clock outside a running loop
            return None


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _reset_seconds(value: str | None) -> float | None:
    """``x-ratelimit-reset`` as seconds from now: a delay, or a Unix time when it is one."""
    try:
        reset = float(value) if value is not None else None
    except ValueError:
        return None
    if reset is None or reset < 0:
        return None
    if reset > 1e9:  # an epoch timestamp
        return max(0.0, reset - time.time())
    return reset


_registry: dict[str, Governor] = {}
_registry_lock = threading.Lock()


def get_governor(
    workspace_id: str, policy: QuotaPolicy | None = None, store: Store | None = None
) -> Governor:
    """The one governor of ``workspace_id`` in this process (created on first use).

    Every client of a workspace must share it, so that their requests count together. Asking
    again with a different policy or store is a :class:`moeseg.ConfigurationError` (two states
    for one workspace would each admit the full quota).
    """
    with _registry_lock:
        gov = _registry.get(workspace_id)
        if gov is None:
            gov = _registry[workspace_id] = Governor(policy, store=store)
            return gov
    if policy is not None and policy != gov.policy:
        raise ConfigurationError(
            f"workspace {workspace_id!r} already has a governor with another policy"
        )
    if store is not None and store is not gov.store:
        raise ConfigurationError(
            f"workspace {workspace_id!r} already has a governor with another store"
        )
    return gov
