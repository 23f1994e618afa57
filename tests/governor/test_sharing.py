"""Sharing a workspace with another service: headroom, and 429s someone else caused."""

from __future__ import annotations

import anyio
import httpx
import pytest

from moeseg import Client
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import FaultConfig, OtherTenant, Sandbox, SandboxConfig

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


async def lists_with_another_tenant(headroom: float) -> Sandbox:
    """100 ``list`` calls at full speed while another tenant spends one unit of the same
    group on one request in ten (4 a minute at our 40: well within a 20 % headroom)."""
    tenant = OtherTenant(group="segments", amount=1, probability=0.1, routes=frozenset({"list"}))
    box = Sandbox(SandboxConfig(faults=FaultConfig(rules=(tenant,), seed=7)))
    gov = Governor(QuotaPolicy.moengage().with_headroom(headroom))
    async with (
        box.running(),
        Client(
            box.workspace_id,
            box.api_key,
            base_url="http://sandbox.invalid",
            governor=gov,
            transport=httpx.ASGITransport(app=box.app),
            max_retries=5,
        ) as client,
        anyio.create_task_group() as tg,
    ):
        for _ in range(100):
            tg.start_soon(client.list_segments)
    return box


async def test_headroom_leaves_room_for_another_tenant() -> None:
    greedy = await lists_with_another_tenant(0)
    polite = await lists_with_another_tenant(0.2)
    assert greedy.too_many_requests["rate_limit_other_tenant"] > 0
    assert sum(polite.too_many_requests.values()) == 0
    for window in QuotaPolicy.moengage().group("segments").windows:
        assert polite.max_in_window("segments", window.seconds) <= window.limit


async def test_a_429_with_a_reset_pauses_no_longer_than_the_reset() -> None:
    gov = Governor()
    headers = {
        "x-envoy-ratelimited": "true",
        "x-ratelimit-limit": "50",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "7",
    }
    await gov.observe_headers("segments", headers)  # the client sees the 429's headers first
    assert await gov.report_rate_limited("segments", 60) == 7  # then reports the 429
    assert (await gov.next_free("create")).seconds == 7
    await anyio.sleep(2)  # a later 429 without fresh headers pauses as usual
    assert await gov.report_rate_limited("segments", 60) == 60


async def test_retry_after_counts_as_a_reset() -> None:
    gov = Governor()
    await gov.observe_headers("segments", {"x-ratelimit-remaining": "0", "retry-after": "3"})
    assert (await gov.next_free("create")).seconds == 3
