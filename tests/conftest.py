"""Every async test runs on asyncio and on trio (anyio's pytest plugin).

Tests marked ``virtual_time`` run on virtual clocks instead: trio's MockClock with autojump and
an asyncio loop whose clock jumps to the next timer, so hours of quota pass in milliseconds.
Such tests must not wait on sockets (the clock would jump while one is waiting). Work that
moeseg hands to a worker thread (SQLite, files) runs inline in them instead: in virtual time it
takes no time, as a virtual clock would otherwise jump ahead while the thread runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.lowlevel
import anyio.to_thread
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


async def _inline(fn: Callable[..., Any], *args: Any, **_: Any) -> Any:
    await anyio.lowlevel.checkpoint()
    return fn(*args)


@pytest.fixture(autouse=True)
def _threads_take_no_virtual_time(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("virtual_time") is not None:
        monkeypatch.setattr(anyio.to_thread, "run_sync", _inline)
