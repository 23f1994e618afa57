"""The governor: admission with leases, first-come first-served waiting, server feedback.

How waiting works. Each quota group has a queue of waiters in arrival order. A waiter asks the
store only when it heads the queue of every group it needs; so requests are served first come,
first served per group, and the oldest waiter always may ask. A denied head sleeps for the
store's certain wait, or until something in this process may let it in sooner: a lease of one of
its groups ending or refunded, or the waiter ahead of it leaving. A store other processes change
may free a slot without telling anyone: there a head re-asks every ``store.recheck`` seconds.
Nothing ever polls faster, and every sleep is an anyio sleep on an anyio event.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel

from .._exceptions import ConfigurationError, MoesegError, QuotaWaitTooLong
from .._telemetry import Observer, resolve
from ._clock import Clock
from ._hooks import Hooks
from ._memory import MemoryStore
from ._plan import Eta, Plan
from ._policy import QuotaGroup, QuotaPolicy
from ._store import Demand, Denied, Store, StoreUnavailable

__all__ = ["Governor", "Lease"]

logger = logging.getLogger("moeseg.governor")

DemandLike = Mapping[str, int] | str

_SETTLE_TIMEOUT = 10.0
"""Longest an end, refund or pause waits for the store (it is shielded from cancellation)."""
_MIN_SLEEP = 0.001
"""A denied waiter sleeps at least this long (float rounding can never make it spin)."""
_LAST_ASK = 0.5
"""A store call started at a waiter's deadline may take this long (then it is abandoned)."""
_HINT_FRESH = 1.0
"""A 429 reported this soon after headers that named the reset keeps the headers' pause."""


class Lease:
    """An admitted request, held while it is in flight.

    ``complete()`` once the response has arrived: the slot stays occupied until each window's
    length after that moment. ``refund()`` only if the request was provably never sent: the slot
    is returned. ``abandon()`` when the outcome is unknown (a timeout, a lost connection): the
    request may still reach the server, so the slot stays occupied until a window's length after
    the lease's bound (``expires_at``). All three are idempotent, never raise (failures are
    logged) and finish even inside a cancelled scope. A lease never ended counts as abandoned.
    """

    __slots__ = (
        "_governor", "_order", "_since", "admitted_at", "demand", "expires_at", "lease_id", "names",
        "state",
    )  # fmt: skip

    def __init__(
        self, governor: Governor, lease_id: str, demand: Demand, at: float, bound: float, order: int
    ) -> None:
        self._governor = governor
        self._order = order
        self._since = anyio.current_time()
        self.lease_id = lease_id
        self.demand = demand
        self.admitted_at = at
        self.expires_at = bound
        self.names = tuple(g.name for g, _ in demand)
        self.state = "active" if demand else "completed"
        """``"active"``, ``"completed"``, ``"refunded"`` or ``"abandoned"``."""

    @property
    def groups(self) -> dict[str, int]:
        """``{group: units}`` this lease holds."""
        return {g.name: w for g, w in self.demand}

    async def complete(self) -> None:
        """The request is finished: its slots free one window-length from now."""
        await self._settle("completed")

    async def refund(self) -> None:
        """The request was never sent: give its slots back now."""
        await self._settle("refunded")

    async def abandon(self) -> None:
        """The request's outcome is unknown: it occupies its slots until its bound."""
        await self._settle("abandoned")

    async def _settle(self, state: str) -> None:
        if self.state != "active":
            return
        self.state = state
        gov = self._governor
        gov._active -= 1
        gov._hooks.each("lease_ended", self.names, state, anyio.current_time() - self._since)
        if state == "abandoned":
            return  # nothing frees sooner: the store counts it until its bound
        call = gov.store.end if state == "completed" else gov.store.refund
        await gov._settle(call, self.lease_id, self.names)
        gov._poke(self.names)

    def __repr__(self) -> str:
        return f"<Lease {self.lease_id} {self.groups} {self.state}>"


class _Waiter:
    __slots__ = ("best_at", "blocked", "demand", "gone", "names", "seq", "wake")

    def __init__(self, seq: int, demand: Demand) -> None:
        self.seq = seq
        self.demand = demand
        self.names = tuple(g.name for g, _ in demand)
        self.wake = anyio.Event()
        self.gone = False
        self.best_at = -math.inf  # (loop time) earliest it could be admitted, as last asked
        self.blocked = self.names[0]  # the group that denied it last


class Governor:
    """Admits requests so that no sliding window of any quota group is ever exceeded.

    >>> gov = Governor(QuotaPolicy.moengage())
    >>> async with gov.lease(gov.policy.demand("create")) as lease:  # doctest: +SKIP
    ...     response = await http.post(...)

    Guarantee: for every window ``(limit, W)`` of every group, the weight of requests that can
    reach the server within any interval of length ``W`` is at most ``limit`` minus the policy's
    headroom, wherever each request arrives between its admission and the end of its lease.

    ``store`` defaults to a :class:`MemoryStore` on ``clock`` (default: the event loop's clock,
    so a bare ``Governor()`` belongs to one event loop run; :func:`get_governor`'s run on a
    monotonic clock). With a ``store``, ``clock`` may only repeat the store's own.
    ``observer`` receives its telemetry (:class:`moeseg.Observer`; default: OpenTelemetry when
    installed, else none).
    """

    __slots__ = (
        "_active", "_admitted", "_escalation", "_groups", "_hints", "_hooks", "_order",
        "_owner", "_owner_lock", "_prefix", "_queues", "_seq", "_waiters", "policy", "store",
    )  # fmt: skip

    def __init__(
        self,
        policy: QuotaPolicy | None = None,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.policy = policy if policy is not None else QuotaPolicy.moengage()
        if store is None:
            store = MemoryStore(clock=clock)
        elif clock is not None and clock != store.clock:
            raise ConfigurationError(f"clock {clock!r} differs from the store's {store.clock!r}")
        self.store: Store = store
        self._groups = {g.name: self.policy.usable_group(g) for g in self.policy.groups}
        self._queues: dict[str, deque[_Waiter]] = {}
        self._waiters: dict[int, _Waiter] = {}  # in arrival order
        self._seq = itertools.count(1)  # numbers waiters and lease ids
        self._prefix = uuid.uuid4().hex[:12] + "-"
        self._active = 0
        self._order = itertools.count(1)  # orders admissions and pauses (429 escalation)
        self._admitted: dict[str, int] = {}  # group -> order of its latest admission
        self._escalation: dict[str, tuple[int, float, int]] = {}  # index, until, order
        self._hints: dict[str, tuple[float, float]] = {}  # group -> (pause until, seen at)
        self._hooks = Hooks(resolve(observer))
        # The state above is not thread-safe: one thread's event loop uses it at a time.
        self._owner: int | None = None
        self._owner_lock = threading.Lock()

    # -- demands ---------------------------------------------------------------------------

    def _demand(self, demand: DemandLike) -> Demand:
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
        return tuple(out)

    def _group(self, name: str) -> QuotaGroup:
        group = self._groups.get(name)
        if group is None:
            raise ConfigurationError(f"no quota group named {name!r}")
        return group

    # -- admission -------------------------------------------------------------------------

    async def acquire(
        self, demand: DemandLike, *, max_wait: float | None = None, lease_timeout: float = 120.0
    ) -> Lease:
        """Wait for a slot in every group of ``demand``; return its lease.

        ``demand`` is ``{group: units}`` (see ``policy.demand``) or an operation name.
        ``lease_timeout`` bounds the request (its whole timeout plus a margin): a lease not
        ended by then counts as ended then. Raises :class:`moeseg.QuotaWaitTooLong` at once when
        the earliest possible admission lies beyond ``max_wait`` seconds, else when ``max_wait``
        passes while waiting; :class:`StoreUnavailable` when the store fails. Cancellation and
        ``max_wait`` take effect at once, even while the store is being asked: an admission
        recorded meanwhile is refunded.
        """
        need = self._demand(demand)
        if not 0 < lease_timeout < math.inf:
            raise ConfigurationError(f"lease_timeout must be > 0 and finite, got {lease_timeout!r}")
        if max_wait is not None and not max_wait >= 0:
            raise ConfigurationError(f"max_wait must be >= 0, got {max_wait!r}")
        # Not a checkpoint when the store admits at once without yielding (the in-memory
        # store): cancellation is still honoured here, and waiting is a checkpoint.
        await anyio.lowlevel.checkpoint_if_cancelled()
        if not need:
            return Lease(self, "", need, 0.0, 0.0, 0)
        w = _Waiter(next(self._seq), need)
        self._enqueue(w)
        asked, result = anyio.current_time(), "cancelled"
        deadline = math.inf if max_wait is None else asked + max_wait
        try:
            while True:
                w.wake = anyio.Event()  # before asking: a poke meanwhile is not lost
                delay = math.inf
                if self._is_head(w):
                    out: Lease | Denied | None = None
                    # At the deadline itself it may still ask, within a bounded grace.
                    with anyio.move_on_at(max(deadline, anyio.current_time() + _LAST_ASK)):
                        await self._hooks.refresh(self.store, self._groups.values())
                        out = await self._admit(w, lease_timeout)
                    if isinstance(out, Lease):
                        result = "admitted"
                        return out
                    if out is not None:
                        w.best_at = anyio.current_time() + out.best
                        w.blocked = out.group
                        delay = max(_MIN_SLEEP, min(out.wait, self.store.recheck))
                best = max(w.best_at, *(self._head(n).best_at for n in w.names))
                now = anyio.current_time()
                if best > deadline or now >= deadline:
                    wait = max(0.0, best - now)
                    at = self.store.clock.now() + wait
                    raise QuotaWaitTooLong(w.blocked, at, wait, max_wait or 0.0)
                wake_at = min(now + delay, deadline)
                if wake_at == math.inf:  # only an event wakes it (no cancel scope: it is cheaper)
                    await w.wake.wait()
                else:
                    with anyio.move_on_at(wake_at):
                        await w.wake.wait()
                await anyio.lowlevel.checkpoint_if_cancelled()
        except Exception as exc:
            result = "max_wait" if isinstance(exc, QuotaWaitTooLong) else "error"
            raise
        finally:
            self._leave(w)
            self._hooks.each("quota_queued", w.names, -1)
            self._hooks.each("quota_requested", w.names, result, anyio.current_time() - asked)

    def _enqueue(self, w: _Waiter) -> None:
        # The queues and counters are not thread-safe (a race could over-admit): another thread
        # may take the governor over only when nothing waits and nothing is in flight.
        with self._owner_lock:
            me = threading.get_ident()
            if self._owner != me and (self._waiters or self._active):
                raise ConfigurationError(
                    "this quota governor is in use by an event loop in another thread; use one "
                    "thread per workspace at a time (moeseg.Client from one event loop, or "
                    "moeseg.SyncClient)"
                )
            self._owner = me
            self._waiters[w.seq] = w
            for name in w.names:
                self._queues.setdefault(name, deque()).append(w)
        self._hooks.each("quota_queued", w.names, 1)

    async def _admit(self, w: _Waiter, lease_timeout: float) -> Lease | Denied:
        lease_id = self._prefix + str(next(self._seq))
        try:
            out = await self.store.admit(lease_id, w.demand, lease_timeout)
        except BaseException as exc:
            # Cancelled, timed out or failed while the store may have recorded it: give it back.
            # Waited for briefly only: the store's worker thread carries on without us.
            await self._settle(self.store.refund, lease_id, w.names, bound=_LAST_ASK)
            if isinstance(exc, Exception) and not isinstance(exc, MoesegError):
                raise StoreUnavailable(f"the quota store failed: {type(exc).__name__}") from exc
            raise
        if isinstance(out, Denied):
            return out
        order = next(self._order)
        self._admitted.update(dict.fromkeys(w.names, order))
        self._active += 1
        self._hooks.each("lease_started", w.names)
        return Lease(self, lease_id, w.demand, out.admitted_at, out.expires_at, order)

    def _head(self, name: str) -> _Waiter:
        q = self._queues[name]
        while q[0].gone:
            q.popleft()
        return q[0]

    def _is_head(self, w: _Waiter) -> bool:
        return all(self._head(n) is w for n in w.names)

    def _leave(self, w: _Waiter) -> None:
        if w.gone:
            return
        w.gone = True
        del self._waiters[w.seq]
        for name in w.names:
            q = self._queues[name]
            while q and q[0].gone:
                q.popleft()
            if not q:
                del self._queues[name]
        self._poke(w.names)

    def _poke(self, names: tuple[str, ...]) -> None:
        """Something changed for these groups: their heads ask the store again."""
        for name in names:
            if name in self._queues:
                head = self._head(name)
                if self._is_head(head):
                    head.wake.set()

    async def _settle(
        self, call: Callable[..., Awaitable[object]], *args: Any, bound: float = _SETTLE_TIMEOUT
    ) -> None:
        """Run a store call that must happen even when the caller is cancelled; bounded; a
        failure is logged (the entry then counts until its bound: conservative)."""
        with anyio.move_on_after(bound, shield=True) as scope:
            try:
                await call(*args)
            except Exception:
                logger.exception("quota store: %s%r failed", call.__name__, args[:1])
        if scope.cancelled_caught:
            logger.warning(
                "quota store: %s%r still running after %gs", call.__name__, args[:1], bound
            )

    @asynccontextmanager
    async def lease(
        self, demand: DemandLike, *, max_wait: float | None = None, lease_timeout: float = 120.0
    ) -> AsyncIterator[Lease]:
        """``async with gov.lease(demand) as lease:`` completes the lease on exit (any exit)
        unless it was refunded or abandoned inside."""
        lease = await self.acquire(demand, max_wait=max_wait, lease_timeout=lease_timeout)
        try:
            yield lease
        finally:
            await lease.complete()

    # -- server feedback -------------------------------------------------------------------

    async def report_rate_limited(
        self, group: str, window_seconds: float | None = None, *, lease: Lease | None = None
    ) -> float:
        """The server answered 429 "rate limit breached" for ``group``: someone else spent
        quota. Pause the group until a slot is certainly free again; return the pause, in
        seconds from now.

        A named window (``"Current limit: n/m mins"``) pauses that long. Unnamed, the pause is
        the group's shortest window, and moves one window longer only for a 429 on a request
        sent after the previous pause began (``lease``, else: this process admitted into the
        group since), within a window's length of it: a burst of 429s is one event. Headers
        seen just before (``x-ratelimit-reset`` on the 429) keep their shorter pause.
        """
        g = self._group(group)
        now = self.store.clock.now()
        hint = self._hints.pop(group, None)
        if hint is not None and now - hint[1] <= _HINT_FRESH and hint[0] > now:
            return hint[0] - now
        index, until, began = self._escalation.get(group, (-1, -math.inf, 0))
        if window_seconds is not None:
            if not 0 < window_seconds < math.inf:
                raise ConfigurationError(f"window_seconds must be > 0, got {window_seconds!r}")
            seconds = min(float(window_seconds), g.longest)
            index = max(i for i, w in enumerate(g.windows) if w.seconds <= seconds or i == 0)
        else:
            sent = lease._order if lease is not None else self._admitted.get(group, 0)
            if index >= 0 and sent < began:  # part of the burst already answered
                return max(0.0, until - now)
            recent = index >= 0 and now <= until + g.windows[index].seconds
            index = min(index + 1, len(g.windows) - 1) if recent else 0
            seconds = g.windows[index].seconds
        until = max(until, now + seconds)
        self._escalation[group] = (index, until, next(self._order))
        await self._settle(self.store.pause, group, seconds)
        self._hooks.paused(group, "own_429", now, until)
        return until - now

    async def observe_headers(self, group: str, headers: Mapping[str, str]) -> None:
        """Take ``x-ratelimit-limit / -remaining / -reset`` into account, if present; never
        raises. Whatever the server counts and we do not is recorded as spent now (in every
        window of the group); with nothing left the group pauses until the reset
        (``x-ratelimit-reset``, else ``retry-after``; at most the window's length), and a 429
        reported right after keeps that pause. Values that are not finite numbers in range are
        ignored."""
        g = self._group(group)
        raw = self.policy.group(group)
        lower = {k.lower(): v for k, v in headers.items()}
        left = _count(lower.get("x-ratelimit-remaining"))
        if left is None:
            return
        limit = _count(lower.get("x-ratelimit-limit"))
        index = next((i for i, w in enumerate(raw.windows) if w.limit == limit), 0)
        window = raw.windows[index]
        try:
            if left == 0:
                reset = _reset_seconds(lower.get("x-ratelimit-reset") or lower.get("retry-after"))
                span = window.seconds if reset is None else min(reset, window.seconds)
                now = self.store.clock.now()
                self._hints[group] = (now + span, now)
                await self._settle(self.store.pause, group, span)
                self._hooks.paused(group, "headers", now, now + span)
                return
            view = (await self.store.view([g]))[group]
            spent = window.limit - view.windows[index].used - left
            if spent > 0:
                await self.store.spend(g, spent)
        except Exception:
            logger.exception("quota store: recording rate-limit headers of %s failed", group)

    # -- introspection (no side effects) ----------------------------------------------------

    async def remaining(self) -> dict[str, dict[float, int]]:
        """Units left right now: ``{group: {window seconds: units}}`` (0 while paused), after
        the policy's headroom."""
        views = await self.store.view(list(self._groups.values()))
        self._hooks.publish(views)
        return {name: view.left() for name, view in views.items()}

    async def next_free(self, demand: DemandLike) -> Eta:
        """When ``demand`` could be admitted if asked for now (after the current waiters)."""
        return await self.eta(demand, 1)

    async def eta(self, demand: DemandLike, n: int) -> Eta:
        """When the ``n``-th of ``n`` more ``demand`` requests could be admitted, at best:
        the greedy optimum after the current waiters, leases in flight ending now and
        responses taking no time (add your latency). ``seconds`` from now, and ``at``."""
        need = self._demand(demand)
        plan = Plan(await self.store.view(list(self._groups.values())))
        for w in list(self._waiters.values()):
            plan.admit(w.demand)
        t = plan.start
        for _ in range(n if need else 0):
            t = plan.admit(need)
        return Eta.after(t - plan.start)

    @property
    def clock(self) -> Clock:
        """The store's clock (``Lease.admitted_at`` and ``expires_at`` are in its time)."""
        return self.store.clock

    @property
    def waiting(self) -> int:
        """Number of callers waiting in :meth:`acquire`."""
        return len(self._waiters)

    @property
    def in_flight(self) -> int:
        """Leases of this governor not yet completed, refunded or abandoned."""
        return self._active

    def __repr__(self) -> str:
        return f"<Governor on {self.store!r}: {self.waiting} waiting, {self._active} in flight>"


def _number(value: str | None, top: float) -> float | None:
    try:
        x = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return x if 0 <= x <= top else None  # nan, inf, negative and absurd values: ignored


def _count(value: str | None) -> int | None:
    x = _number(value, 1e12)
    return None if x is None else int(x)


def _reset_seconds(value: str | None) -> float | None:
    """``x-ratelimit-reset`` as seconds from now: a delay, or a Unix time when it is one."""
    reset = _number(value, 1e11)
    if reset is not None and reset > 1e9:  # an epoch timestamp
        return max(0.0, reset - time.time())
    return reset
