"""The governor's side of telemetry: what it tells its observer (``moeseg._telemetry``).

Each hook is a no-op without an observer. ``refresh`` reads the store at most once a second
(only for an observer that wants it, before a waiter asks the store) to publish the units left
per window for a gauge whose callback must not touch the store, and to notice a pause another
process of a shared store recorded (cause ``other_429``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import anyio

from .._telemetry import Observer, call_hook
from ._policy import QuotaGroup
from ._store import GroupView, Store

__all__ = ["Hooks"]

logger = logging.getLogger("moeseg.governor")

_REFRESH_EVERY = 1.0
"""Seconds between two reads of the store for the remaining-units snapshot."""
_SAME_PAUSE = 1.0
"""A store pause ending within this of our own is ours (clocks of a shared store may differ)."""


class Hooks:
    """Tells the observer (if any) about queues, admissions, leases and pauses."""

    __slots__ = ("_next", "_own", "_seen", "observer")

    def __init__(self, observer: Observer | None) -> None:
        self.observer = observer
        self._next = -math.inf  # loop time of the next store read for the snapshot
        self._own: dict[str, float] = {}  # group -> end of our own latest pause (store time)
        self._seen: dict[str, float] = {}  # group -> end of the latest foreign pause counted

    def each(self, hook: str, names: Iterable[str], *args: object) -> None:
        """``observer.hook(name, *args)`` for each group name."""
        if self.observer is not None:
            for name in names:
                call_hook(self.observer, hook, name, *args)

    def paused(self, group: str, cause: str, now: float, until: float) -> None:
        """This process paused ``group`` from ``now`` until ``until`` (store time): a new pause
        unless one of ours still ran (a burst of 429s is one pause)."""
        before = self._own.get(group, -math.inf)
        self._own[group] = max(until, before)
        if self.observer is not None and before <= now:
            call_hook(self.observer, "quota_paused", group, cause)

    async def refresh(self, store: Store, groups: Iterable[QuotaGroup]) -> None:
        """Publish what the store says is left, at most once a second; never raises."""
        if self.observer is None or anyio.current_time() < self._next:
            return
        if not call_hook(self.observer, "wants_remaining"):
            return
        self._next = anyio.current_time() + _REFRESH_EVERY
        try:
            views = await store.view(list(groups))
        except Exception as exc:  # advisory: a waiter must not fail on it
            logger.debug("quota snapshot for telemetry failed: %s", type(exc).__name__)
            return
        self.publish(views)

    def publish(self, views: Mapping[str, GroupView]) -> None:
        """Hand a fresh view to the observer; count pauses other processes recorded."""
        if self.observer is None:
            return
        for name, view in views.items():
            until = view.paused_until
            if until <= view.now or until <= self._own.get(name, -math.inf) + _SAME_PAUSE:
                continue
            if abs(until - self._seen.get(name, -math.inf)) > _SAME_PAUSE:
                call_hook(self.observer, "quota_paused", name, "other_429")
            self._seen[name] = until
        call_hook(self.observer, "quota_remaining", {n: v.left() for n, v in views.items()})
