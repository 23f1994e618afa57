"""The one clock the governor reads time from."""

from __future__ import annotations

import time
from asyncio import _get_running_loop
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["AnyioClock", "Clock", "WallClock"]


@runtime_checkable
class Clock(Protocol):
    """Where the governor reads the time and how it sleeps until a moment of that time base.

    ``now()`` must never go backwards. ``sleep_until(t)`` returns once ``now() >= t`` (at once if
    ``t`` is past) and is a cancellation point.
    """

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class AnyioClock:
    """The event loop's clock (``anyio.current_time()``): the default for in-process state.

    Virtual-time test backends (trio's MockClock, a jumping asyncio loop) make it skip ahead.
    """

    __slots__ = ()

    def now(self) -> float:
        loop = _get_running_loop()  # the hot path: asyncio's loop.time(), as anyio would
        return loop.time() if loop is not None else anyio.current_time()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep_until(deadline)

    def __repr__(self) -> str:
        return "AnyioClock()"


class WallClock:
    """Unix time (``time.time()``): for stores shared between processes or machines."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        # anyio.sleep may wake a hair early against another clock: sleep again for the rest.
        await anyio.sleep(max(0.0, deadline - time.time()))
        while (delay := deadline - time.time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(delay)

    def __repr__(self) -> str:
        return "WallClock()"
