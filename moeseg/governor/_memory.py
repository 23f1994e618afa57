"""The in-memory store: one process's admissions, kept incrementally (O(1) amortized admit)."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Hashable, Mapping, Sequence

from ._policy import QuotaGroup
from ._store import Admission, Denied, EntryState, GroupState

__all__ = ["MemoryStore"]

# An ended entry: (end, weight, lease_id, admitted_at). Deques are sorted by end.
_Ended = tuple[float, int, Hashable, float]
_Demand = tuple[tuple[QuotaGroup, int], ...]


class _Window:
    __slots__ = ("ended", "seconds", "total")

    def __init__(self, seconds: float, ended: deque[_Ended]) -> None:
        self.seconds = seconds
        self.ended = ended
        self.total = sum(e[1] for e in ended)

    def prune(self, now: float) -> None:
        ended, seconds = self.ended, self.seconds
        while ended and ended[0][0] + seconds <= now:
            self.total -= ended.popleft()[1]


class _Log:
    """One group: leases in flight, and ended entries per window length (sorted by end)."""

    __slots__ = (
        "checks",
        "expiry",
        "inflight",
        "inflight_total",
        "longest",
        "paused_until",
        "windows",
    )

    def __init__(self) -> None:
        # lease key -> (weight, admitted, expires)
        self.inflight: dict[Hashable, tuple[int, float, float]] = {}
        self.inflight_total = 0
        self.expiry: list[tuple[float, Hashable]] = []  # heap; stale items skipped lazily
        self.windows: dict[float, _Window] = {}
        self.longest: _Window | None = None
        self.paused_until = -math.inf
        self.checks: tuple[QuotaGroup, list[tuple[_Window, int]]] | None = None

    def limits(self, group: QuotaGroup) -> list[tuple[_Window, int]]:
        """(window state, limit) for each window of ``group`` (cached for the same group)."""
        checks = self.checks
        if checks is None or checks[0] is not group:
            checks = self.checks = (
                group,
                [(self.window(w.seconds), w.limit) for w in group.windows],
            )
        return checks[1]

    def window(self, seconds: float) -> _Window:
        win = self.windows.get(seconds)
        if win is None:
            # A window length not seen before: start from the longest history kept so far.
            src = self.longest.ended if self.longest is not None else ()
            win = _Window(seconds, deque(src))
            self.windows[seconds] = win
            if self.longest is None or seconds > self.longest.seconds:
                self.longest = win
        return win

    def advance(self, now: float) -> None:
        expiry = self.expiry
        while expiry and expiry[0][0] <= now:
            expires, lease_id = heapq.heappop(expiry)
            item = self.inflight.get(lease_id)
            if item is not None and item[2] == expires:
                del self.inflight[lease_id]
                self.close(lease_id, expires, item)
        for win in self.windows.values():
            win.prune(now)

    def close(self, lease_id: Hashable, end: float, item: tuple[int, float, float]) -> None:
        """Record the end of ``lease_id`` (already removed from ``inflight``; ``item`` was its
        entry there) in every window, at ``end`` but never after its bound."""
        weight, admitted, expires = item
        self.inflight_total -= weight
        if end > expires:
            end = expires
        entry = (end, weight, lease_id, admitted)
        for win in self.windows.values():
            ended, seconds = win.ended, win.seconds
            ended.append(entry)
            total = win.total + weight
            while ended[0][0] + seconds <= end:  # (prune inline: it runs on most lease ends)
                total -= ended.popleft()[1]
            win.total = total

    def add(self, lease_id: Hashable, weight: int, now: float, expires: float) -> None:
        self.inflight[lease_id] = (weight, now, expires)
        self.inflight_total += weight
        heapq.heappush(self.expiry, (expires, lease_id))
        if len(self.expiry) > 2 * len(self.inflight) + 1024:
            self.compact()

    def compact(self) -> None:
        """Rebuild the expiry heap without the leases that have ended since."""
        self.expiry = [(e, i) for i, (_, _, e) in self.inflight.items()]
        heapq.heapify(self.expiry)

    def _expiring(self, excess: int) -> float:
        """When leases in flight of total weight >= ``excess`` have all reached their bound."""
        expiry, inflight = self.expiry, self.inflight
        while expiry:  # drop stale heap roots (leases ended or refunded)
            expires, lease_id = expiry[0]
            item = inflight.get(lease_id)
            if item is not None and item[2] == expires:
                if item[0] >= excess:  # the usual case: the first to expire is enough
                    return expires
                break
            heapq.heappop(expiry)
        for expires, weight in sorted((e, wt) for wt, _, e in inflight.values()):
            excess -= weight
            if excess <= 0:
                return expires
        return math.inf

    def fit(self, group: QuotaGroup, need: int, now: float) -> tuple[float, float]:
        """(pessimistic, optimistic) earliest time ``need`` more fits every window."""
        fit = best = self.paused_until if self.paused_until > now else now
        for w in group.windows:
            win = self.window(w.seconds)
            excess = self.inflight_total + win.total + need - w.limit
            if excess <= 0:
                continue
            if need > w.limit:
                return math.inf, math.inf
            at = math.inf
            for end, weight, _, _ in win.ended:
                excess -= weight
                if excess <= 0:
                    at = end + w.seconds
                    break
            if excess > 0:
                best = max(best, now + w.seconds)
                at = self._expiring(excess) + w.seconds
            else:
                best = max(best, at)
            fit = max(fit, at)
        return fit, best


class MemoryStore:
    """Admissions of one process, in memory: the default store of a :class:`Governor`.

    Besides the async :class:`Store` methods it offers synchronous twins (``admit_now``...)
    that the governor calls directly, so an uncontended admission never yields to the loop.
    Entries are kept for the longest window the store has been asked about.
    """

    __slots__ = ("_logs", "_now")

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._now = -math.inf

    def _log(self, name: str) -> _Log:
        log = self._logs.get(name)
        if log is None:
            log = self._logs[name] = _Log()
        return log

    def _tick(self, now: float) -> float:
        if now > self._now:
            self._now = now
        return self._now

    # -- synchronous twins (never yield) ------------------------------------------------------

    def take(self, lease_id: Hashable, demand: _Demand, now: float, expires: float) -> bool:
        """``admit_now`` without reserve or explanation, on the hot path: True if admitted."""
        if now > self._now:
            self._now = now
        else:
            now = self._now
        logs = self._logs
        for group, weight in demand:
            log = logs.get(group.name)
            if log is None:
                log = self._log(group.name)
            if log.paused_until > now:
                return False
            expiry = log.expiry
            if expiry and expiry[0][0] <= now:
                log.advance(now)
            base = log.inflight_total + weight
            checks = log.checks
            for win, limit in checks[1] if checks and checks[0] is group else log.limits(group):
                if base + win.total > limit:
                    win.prune(now)
                    if base + win.total > limit:
                        return False
        item = (expires, lease_id)
        for group, weight in demand:
            log = logs[group.name]
            inflight = log.inflight
            inflight[lease_id] = (weight, now, expires)
            log.inflight_total += weight
            expiry = log.expiry
            heapq.heappush(expiry, item)
            if len(expiry) > 2 * len(inflight) + 1024:
                log.compact()
        return True

    def admit_now(self, request: Admission) -> Denied | None:
        return self.admit_key(
            request.lease_id, request.demand, request.now, request.expires_at, request.reserve
        )

    def admit_key(
        self,
        key: Hashable,
        demand: _Demand,
        now: float,
        expires: float,
        reserve: Mapping[str, int],
    ) -> Denied | None:
        """``admit_now`` with the lease known by any hashable ``key`` (the governor's number)."""
        now = self._tick(now)
        blocked = False
        for group, weight in demand:
            log = self._log(group.name)
            log.advance(now)
            if log.paused_until > now:
                blocked = True
                continue
            base = log.inflight_total + weight + (reserve.get(group.name, 0) if reserve else 0)
            for win, limit in log.limits(group):
                if base + win.total > limit:
                    blocked = True
                    break
        if not blocked:
            for group, weight in demand:
                self._logs[group.name].add(key, weight, now, expires)
            return None
        return self.deny(demand, now, reserve)

    def deny(self, demand: _Demand, now: float, reserve: Mapping[str, int]) -> Denied:
        """Why ``demand`` (plus ``reserve``) cannot be admitted at ``now``, and until when:
        the explanation of a failed :meth:`take` or :meth:`admit_key` check."""
        now = self._tick(now)
        for group, _ in demand:
            self._log(group.name).advance(now)  # fit() reads pruned windows
        fits: dict[str, float] = {}
        earliest = now
        for group, weight in demand:
            need = weight + reserve.get(group.name, 0)
            fit, best = self._logs[group.name].fit(group, need, now)
            fits[group.name] = fit
            earliest = max(earliest, best)
        name = max(fits, key=fits.__getitem__)
        return Denied(frees_at=fits[name], earliest=earliest, group=name, fits=fits)

    def end_now(self, lease_id: Hashable, groups: Sequence[str], at: float) -> None:
        if at > self._now:
            self._now = now = at
        else:
            now = self._now
        for name in groups:
            log = self._logs.get(name)
            if log is None:
                continue
            expiry = log.expiry
            if expiry and expiry[0][0] <= now:
                log.advance(now)
            item = log.inflight.pop(lease_id, None)
            if item is not None:
                log.close(lease_id, now, item)

    def refund_now(self, lease_id: Hashable, groups: Sequence[str]) -> None:
        for name in groups:
            log = self._logs.get(name)
            if log is None:
                continue
            log.advance(self._now)  # a lease past its bound has ended: no refund
            if lease_id in log.inflight:
                weight, _, _ = log.inflight.pop(lease_id)
                log.inflight_total -= weight

    def pause_now(self, group: str, until: float) -> None:
        log = self._log(group)
        log.paused_until = max(log.paused_until, until)

    def snapshot_now(self, groups: Sequence[QuotaGroup], now: float) -> dict[str, GroupState]:
        out: dict[str, GroupState] = {}
        for group in groups:
            log = self._logs.get(group.name)
            if log is None:
                out[group.name] = GroupState(group.name)
                continue
            ended = log.longest.ended if log.longest is not None else ()
            entries = [
                EntryState(str(lease_id), weight, admitted, expires_at=end, ended_at=end)
                for end, weight, lease_id, admitted in ended
                if end + group.longest > now
            ]
            entries += [
                EntryState(str(lease_id), weight, admitted, expires_at=expires)
                for lease_id, (weight, admitted, expires) in log.inflight.items()
            ]
            entries.sort(key=lambda e: e.admitted_at)
            out[group.name] = GroupState(group.name, tuple(entries), log.paused_until)
        return out

    # -- the Store protocol ---------------------------------------------------------------------

    async def admit(self, request: Admission) -> Denied | None:
        return self.admit_now(request)

    async def end(self, lease_id: str, groups: Sequence[str], at: float) -> None:
        self.end_now(lease_id, groups, at)

    async def refund(self, lease_id: str, groups: Sequence[str]) -> None:
        self.refund_now(lease_id, groups)

    async def pause(self, group: str, until: float) -> None:
        self.pause_now(group, until)

    async def snapshot(self, groups: Sequence[QuotaGroup], now: float) -> dict[str, GroupState]:
        return self.snapshot_now(groups, now)

    def __repr__(self) -> str:
        parts = [
            f"{name}: {log.inflight_total} in flight, "
            f"{len(log.longest.ended) if log.longest else 0} ended"
            for name, log in self._logs.items()
        ]
        return f"<MemoryStore {'; '.join(parts) or 'empty'}>"
