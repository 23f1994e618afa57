"""The virtual-time backends really skip time, and the real-time ones do not."""

from __future__ import annotations

import time

import anyio
import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.virtual_time
async def test_a_day_passes_in_virtual_time() -> None:
    wall = time.monotonic()
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for delay in (3600.0, 86400.0, 60.0):
            tg.start_soon(anyio.sleep, delay)
    assert anyio.current_time() - start == pytest.approx(86400.0, abs=1e-6)
    assert time.monotonic() - wall < 5.0


async def test_real_time_backend_is_real() -> None:
    wall = time.monotonic()
    await anyio.sleep(0.01)
    assert time.monotonic() - wall >= 0.009
