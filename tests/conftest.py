"""Every async test runs on asyncio and on trio (anyio's pytest plugin).

Tests marked ``virtual_time`` run on virtual clocks instead: trio's MockClock with autojump and
an asyncio loop whose clock jumps to the next timer, so hours of quota pass in milliseconds.
Such tests must not do real I/O (the clock would jump while a socket is waiting).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from tests._virtual_loop import VirtualTimeLoop


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    virtual = request.node.get_closest_marker("virtual_time") is not None
    if request.param == "trio":
        if virtual:
            return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
        return "trio", {}
    if virtual:
        return "asyncio", {"loop_factory": VirtualTimeLoop}
    return "asyncio", {}
