"""An asyncio event loop whose clock jumps ahead whenever every task is waiting on a timer.

The asyncio counterpart of trio's ``MockClock(autojump_threshold=0)``: an hour of quota passes
in milliseconds. Only for tests without real I/O (ASGI transport, in-process stores).
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> Any:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            return super().select(None)
        self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """Selector loop on virtual time; ``time()`` starts at 0."""

    def __init__(self) -> None:
        self._jumper = _JumpingSelector()
        super().__init__(self._jumper)

    def time(self) -> float:
        return self._jumper.now
