"""The client with the real governor, in virtual time: full speed, waits, pauses, refunds."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import anyio
import httpx
import pytest
import respx

import moeseg
from moeseg import Client
from moeseg.governor import Governor, QuotaGroup, QuotaPolicy, Window, get_governor

from .conftest import API_KEY, BASE, list_body, sample_definition, segment_body, v3_error

pytestmark = pytest.mark.anyio


def timed_router(times: list[float], response: Any) -> respx.MockRouter:
    """A router that records when each request arrives and answers ``response``."""
    router = respx.MockRouter(assert_all_called=False)

    def answer(request: httpx.Request) -> httpx.Response:
        times.append(anyio.current_time())
        return response() if callable(response) else response

    router.route().mock(side_effect=answer)
    return router


def governed(router: respx.MockRouter, governor: Governor, **kw: Any) -> Client:
    return Client(
        "WS-governed",
        API_KEY,
        dc="01",
        db_name="db1",
        governor=governor,
        transport=httpx.MockTransport(router.async_handler),
        **kw,
    )


@pytest.mark.virtual_time
async def test_a_burst_runs_at_full_speed_then_waits_for_the_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="moeseg")
    times: list[float] = []
    router = timed_router(times, lambda: httpx.Response(201, json=segment_body()))
    start = anyio.current_time()
    async with (
        governed(router, Governor(QuotaPolicy.moengage())) as client,
        anyio.create_task_group() as tg,
    ):
        for i in range(60):
            tg.start_soon(client.create_segment, sample_definition(f"seg_{i}", f"v{i}"))
    offsets = sorted(t - start for t in times)
    assert len(offsets) == 60
    assert offsets[:50] == [0.0] * 50  # exactly 50 creates in the first minute, at once
    assert all(t >= 60.0 for t in offsets[50:])
    assert max(offsets) < 60.5
    waits = [r for r in caplog.records if "for quota" in r.getMessage()]
    assert len(waits) == 10
    assert all(r.levelno == logging.INFO for r in waits)


@pytest.mark.virtual_time
async def test_rate_limit_pauses_the_group_for_the_named_window() -> None:
    times: list[float] = []
    answers = iter(
        [
            httpx.Response(
                429,
                json=v3_error(
                    "Too Many Requests", "API rate limit breached. Current limit: 50/1 mins"
                ),
            ),
            httpx.Response(200, json=list_body()),
        ]
    )
    router = timed_router(times, lambda: next(answers))
    governor = Governor(QuotaPolicy.moengage())
    async with governed(router, governor) as client:
        assert await client.list_segments() == []
    assert len(times) == 2
    assert times[1] - times[0] >= 60.0  # retried only once the pause was over
    assert governor.in_flight == 0


@pytest.mark.virtual_time
async def test_max_wait_fails_at_once_without_sending() -> None:
    tiny = QuotaPolicy.moengage().with_group(QuotaGroup("segments", (Window(2, 60.0),)))
    times: list[float] = []
    router = timed_router(times, lambda: httpx.Response(200, json=list_body()))
    async with governed(router, Governor(tiny)) as client:
        await client.list_segments()
        await client.list_segments()
        before = anyio.current_time()
        with pytest.raises(moeseg.QuotaWaitTooLong) as info:
            await client.with_options(max_wait=5.0).list_segments()
        assert anyio.current_time() == before
        assert info.value.group == "segments"
        assert info.value.wait > 5.0
        # Without a bound the call waits for the window, then goes.
        await client.list_segments()
    assert len(times) == 3
    assert times[2] - times[0] >= 60.0


@pytest.mark.virtual_time
async def test_connect_error_gives_the_slot_back() -> None:
    tiny = QuotaPolicy.moengage().with_group(QuotaGroup("segment_reads", (Window(1, 3600.0),)))
    router = respx.MockRouter(assert_all_called=False)
    router.route().mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=segment_body())]
    )
    governor = Governor(tiny)
    async with governed(router, governor) as client:
        start = anyio.current_time()
        await client.get_segment("seg-1")
        # The retry only waited for its backoff: the refunded slot was free again.
        assert anyio.current_time() - start < 1.0
    left = await governor.remaining()
    assert left["segment_reads"] == {3600.0: 0}
    assert governor.in_flight == 0


@pytest.mark.virtual_time
async def test_a_timeout_keeps_the_slot() -> None:
    tiny = QuotaPolicy.moengage().with_group(QuotaGroup("segment_reads", (Window(1, 3600.0),)))
    router = respx.MockRouter(assert_all_called=False)
    router.route().mock(side_effect=httpx.ReadTimeout("slow"))
    governor = Governor(tiny)
    async with governed(router, governor) as client:
        with pytest.raises(moeseg.QuotaWaitTooLong):
            await client.with_options(max_wait=60.0).get_segment("seg-1")
    assert governor.in_flight == 0


async def test_default_governor_is_shared_per_workspace() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.get(f"{BASE}/v3/custom-segments").respond(200, json=list_body())
    transport = httpx.MockTransport(router.async_handler)
    shared, other = f"ws-{uuid.uuid4().hex}", f"ws-{uuid.uuid4().hex}"
    async with (
        Client(shared, API_KEY, dc="01", transport=transport) as a,
        Client(shared, API_KEY, dc="01", transport=transport) as b,
        Client(other, API_KEY, dc="01", transport=transport) as c,
    ):
        assert a.governor is b.governor
        assert a.governor is not c.governor
        assert a.governor is get_governor(shared)
        await a.list_segments()
        await b.list_segments()
        left = await a.governor.remaining()  # type: ignore[attr-defined]
        assert left["segments"][60.0] == 48


async def test_a_policy_prices_operations() -> None:
    raised = QuotaPolicy.moengage().with_group(
        QuotaGroup("segments", (Window(500, 60.0), Window(2000, 3600.0)))
    )
    router = respx.MockRouter(assert_all_called=False)
    router.get(f"{BASE}/v3/custom-segments").respond(200, json=list_body())
    async with Client(
        f"ws-{uuid.uuid4().hex}",
        API_KEY,
        dc="01",
        policy=raised,
        transport=httpx.MockTransport(router.async_handler),
    ) as client:
        await client.list_segments()
        left = await client.governor.remaining()  # type: ignore[attr-defined]
    assert left["segments"] == {60.0: 499, 3600.0: 1999}
