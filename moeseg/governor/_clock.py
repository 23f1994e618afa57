"""Clocks a store reads its time from. The governor itself only ever sleeps for durations."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import anyio
import anyio.from_thread
import attrs

__all__ = ["AnyioClock", "Clock", "MonotonicClock", "WallClock"]


@runtime_checkable
class Clock(Protocol):
    """A store's time base.

    ``now()`` is the time entries are recorded in. ``monotonic()`` never steps and runs at the
    same rate: a change of ``now() - monotonic()`` is a step of ``now()`` (an NTP step, a VM
    resume), which a store shared between processes corrects for.
    """

    def now(self) -> float: ...

    def monotonic(self) -> float: ...


@attrs.frozen
class MonotonicClock:
    """``time.monotonic()``: one process's in-memory state, whatever event loop runs (the
    default of :func:`get_governor`)."""

    def now(self) -> float:
        return time.monotonic()

    def monotonic(self) -> float:
        return time.monotonic()


@attrs.frozen
class WallClock:
    """Unix time (``time.time()``): stores shared between processes and restarts."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@attrs.frozen
class AnyioClock:
    """The running event loop's clock (virtual under trio's MockClock): the default of a bare
    ``Governor()``, which must then stay within one event loop run. Readable from the event
    loop's worker threads too."""

    def now(self) -> float:
        try:
            return anyio.current_time()
        except RuntimeError:  # in a worker thread (sniffio finds no async library)
            return anyio.from_thread.run_sync(anyio.current_time)

    def monotonic(self) -> float:
        return self.now()
