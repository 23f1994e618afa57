"""Exact sliding-window quota logs, counted at request arrival, per workspace and group."""

from __future__ import annotations

import bisect
from collections import defaultdict

import attrs

from ._config import QuotaGroupSpec, QuotaWindow

__all__ = ["Breach", "QuotaBook"]


@attrs.frozen(slots=True)
class Breach:
    """The window a request would overflow (``seconds`` already scaled) and who filled it."""

    group: str
    window: QuotaWindow
    seconds: float
    other_tenant: bool


class _Log:
    """Entries sorted by time: their weights, and whether another tenant spent each."""

    __slots__ = ("others", "times", "weights")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.weights: list[int] = []
        self.others: list[bool] = []

    def add(self, t: float, weight: int, other: bool) -> None:
        i = bisect.bisect_right(self.times, t)
        self.times.insert(i, t)
        self.weights.insert(i, weight)
        self.others.insert(i, other)

    def used(self, now: float, seconds: float) -> tuple[int, bool]:
        """Units of entries with ``t <= now < t + seconds``, and whether another tenant spent
        any of them. (``t + seconds``, the moment a slot frees, is compared as a client's
        governor computes it, so a request sent exactly then is never counted as too early.)"""
        lo = bisect.bisect_right(self.times, now, key=lambda t: t + seconds)
        hi = bisect.bisect_right(self.times, now)
        return sum(self.weights[lo:hi]), any(self.others[lo:hi])

    def prune(self, now: float, longest: float) -> None:
        """Forget entries that no window holds any more."""
        i = bisect.bisect_right(self.times, now, key=lambda t: t + longest)
        del self.times[:i], self.weights[:i], self.others[:i]


class QuotaBook:
    """All quota logs of a sandbox: ``(workspace, group) -> log``, windows scaled by a factor."""

    def __init__(self, groups: tuple[QuotaGroupSpec, ...], time_scale: float) -> None:
        self._groups = {g.name: g for g in groups}
        self._scale = time_scale
        self._logs: defaultdict[tuple[str, str], _Log] = defaultdict(_Log)

    def check(self, workspace: str, group: str, now: float, weight: int = 1) -> Breach | None:
        """The first window ``weight`` more units at ``now`` would overflow, or ``None``."""
        spec = self._groups.get(group)
        if spec is None:
            return None
        log = self._logs[workspace, group]
        longest = max((w.seconds for w in spec.windows), default=0.0) * self._scale
        log.prune(now, longest)
        for window in spec.windows:
            seconds = window.seconds * self._scale
            # Every window holding ``now``: those ending at ``now`` or at a later entry (users
            # are charged at a past arrival, after later requests may have been counted).
            later = log.times[
                bisect.bisect_right(log.times, now) : bisect.bisect_left(log.times, now + seconds)
            ]
            for end in (now, *later):
                used, other = log.used(end, seconds)
                if used + weight > window.limit:
                    return Breach(group, window, seconds, other)
        return None

    def admit(
        self, workspace: str, group: str, now: float, weight: int = 1, *, other: bool = False
    ) -> Breach | None:
        """Check and, when it fits, record in one step."""
        breach = self.check(workspace, group, now, weight)
        if breach is None:
            self.record(workspace, group, now, weight, other=other)
        return breach

    def record(
        self, workspace: str, group: str, t: float, weight: int = 1, *, other: bool = False
    ) -> None:
        """Count ``weight`` units at time ``t`` (may lie in the past: users are charged at the
        arrival of the request whose file was counted later)."""
        if group in self._groups and weight > 0:
            self._logs[workspace, group].add(t, weight, other)

    def spend_free(self, workspace: str, group: str, now: float, amount: int) -> int:
        """Another tenant spends up to ``amount`` units that fit now; returns how many."""
        spent = 0
        while spent < amount and self.admit(workspace, group, now, other=True) is None:
            spent += 1
        return spent

    def used(self, workspace: str, group: str, now: float) -> dict[float, int]:
        """Units used in each window of ``group`` at ``now``, keyed by scaled window length."""
        spec = self._groups.get(group)
        if spec is None:
            return {}
        log = self._logs[workspace, group]
        return {
            w.seconds * self._scale: log.used(now, w.seconds * self._scale)[0] for w in spec.windows
        }
