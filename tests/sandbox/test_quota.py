"""Quotas: exact sliding windows counted at arrival, per workspace and group, in virtual time."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from moeseg.sandbox import (
    FaultConfig,
    OtherTenant,
    QuotaGroupSpec,
    QuotaWindow,
    Sandbox,
    SandboxConfig,
    WorkspaceCredentials,
    default_quota_groups,
)

from ._helpers import asgi_client, basic, definition, signature, v2_headers, v3_headers

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

PATH = "/v3/custom-segments"


async def lists(c: httpx.AsyncClient, sb: Sandbox, n: int) -> list[int]:
    return [(await c.get(PATH, headers=v3_headers(sb))).status_code for _ in range(n)]


def message(r: httpx.Response) -> str:
    return str(r.json()["error"]["message"])


async def test_minute_window_slides_and_rejections_do_not_count() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        start = anyio.current_time()
        assert await lists(c, sb, 50) == [200] * 50
        r = await c.get(PATH, headers=v3_headers(sb))
        assert r.status_code == 429
        assert r.json()["error"] == {
            "code": "Too Many Requests",
            "message": "API rate limit breached. Current limit: 50/1 mins",
        }
        await anyio.sleep(59.5)
        assert await lists(c, sb, 1) == [429]
        await anyio.sleep(start + 60.0 - anyio.current_time())
        assert await lists(c, sb, 50) == [200] * 50  # 429s spent nothing
        assert await lists(c, sb, 1) == [429]
    assert sb.too_many_requests == {"rate_limit": 3}
    assert sb.max_in_window("segments", 60.0) == 52  # arrivals, whatever their answer
    assert [r.cause for r in sb.log[-2:]] == ["listed", "rate_limit"]


async def test_create_list_and_update_share_the_hour_window() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        sid = (await c.post(PATH, json=definition("s"), headers=v3_headers(sb))).json()["data"]
        for minute in range(4):
            assert await lists(c, sb, 49 if minute == 0 else 50) == [200] * (
                49 if minute == 0 else 50
            )
            await anyio.sleep(60.0)
        r = await c.patch(f"{PATH}/{sid['id']}", json=definition("s2"), headers=v3_headers(sb))
        assert r.status_code == 429
        assert message(r) == "API rate limit breached. Current limit: 200/60 mins"
        # Get by id has its own group.
        assert (await c.get(f"{PATH}/{sid['id']}", headers=v3_headers(sb))).status_code == 200


async def test_day_window() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        start = anyio.current_time()
        for _hour in range(5):
            for _minute in range(4):
                assert await lists(c, sb, 50) == [200] * 50
                await anyio.sleep(60.0)
            await anyio.sleep(3600.0)
        r = await c.get(PATH, headers=v3_headers(sb))
        assert message(r) == "API rate limit breached. Current limit: 1000/1440 mins"
        await anyio.sleep(start + 86400.0 - anyio.current_time())
        assert await lists(c, sb, 50) == [200] * 50
    assert sb.max_in_window("segments", 86400.0) == 1001
    assert sb.max_in_window("segments", 3600.0) == 200


async def test_get_by_id_limits() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        sid = (await c.post(PATH, json=definition("s"), headers=v3_headers(sb))).json()["data"][
            "id"
        ]
        codes = [
            (await c.get(f"{PATH}/{sid}", headers=v3_headers(sb))).status_code for _ in range(101)
        ]
        last = await c.get(f"{PATH}/{sid}", headers=v3_headers(sb))
    assert codes == [200] * 100 + [429]
    assert message(last) == "API rate limit breached. Current limit: 100/1 mins"
    assert sb.max_in_window("segment_reads", 60.0) == 102


def _csv_transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, content=b"u1\nu2\n"))


async def test_file_ops_pool_is_shared_by_v2_and_legacy() -> None:
    sb = Sandbox(SandboxConfig(fetch_transport=_csv_transport()))
    base = "http://files.invalid"
    v2: dict[str, Any] = {
        "attribute_name": "id",
        "attribute_type": "string",
        "file_url": f"{base}/f.csv",
        "expiry_time": 1,
    }
    async with sb.running(), asgi_client(sb) as c:
        fs = "/v2/custom-segments/file-segment"
        codes = [(await c.post(fs, json=v2 | {"name": "f"}, headers=v2_headers(sb))).status_code]
        for op in ("add-users", "remove-users", "replace") * 2:
            r = await c.put(f"{fs}/{op}", json=v2 | {"name": "f"}, headers=v2_headers(sb))
            codes.append(r.status_code)
        for i in range(4):
            name = f"legacy{i}"
            r = await c.post(
                "/csv_segment",
                json={
                    "appId": sb.workspace_id,
                    "attribute": "id",
                    "attributeType": "string",
                    "segName": name,
                    "csvUrl": f"{base}/f.csv",
                    "callback": f"{base}/cb",
                    "signature": signature(sb.workspace_id, name, sb.legacy_api_secret),
                },
            )
            codes.append(r.status_code)
        over_v2 = await c.put(f"{fs}/add-users", json=v2 | {"name": "f"}, headers=v2_headers(sb))
    assert codes == [202] * 7 + [200] * 3 + [429]
    assert r.json() == {
        "status": 429,
        "error_message": "File segment operations limit breached. Please retry after some time.",
    }
    assert over_v2.status_code == 429
    assert over_v2.json() == {
        "title": "Too Many Requests",
        "description": "File segment operations limit breached. Please retry after some time.",
    }
    assert sb.max_in_window("file_ops", 3600.0) == 12
    # Archive / unarchive spend no quota.
    async with asgi_client(sb) as c:
        for _ in range(3):
            ok = await c.patch(
                "/v2/custom-segments/archive", json={"name": "f"}, headers=v2_headers(sb)
            )
            assert ok.status_code == 200


async def test_time_scale_shrinks_every_window() -> None:
    sb = Sandbox(SandboxConfig(time_scale=0.001))
    async with asgi_client(sb) as c:
        assert await lists(c, sb, 50) == [200] * 50
        r = await c.get(PATH, headers=v3_headers(sb))
        assert message(r) == "API rate limit breached. Current limit: 50/0.001 mins"
        await anyio.sleep(0.06)
        assert await lists(c, sb, 50) == [200] * 50
        await anyio.sleep(0.06)
        assert await lists(c, sb, 50) == [200] * 50
        await anyio.sleep(0.06)
        assert await lists(c, sb, 50) == [200] * 50
        await anyio.sleep(0.06)
        r = await c.get(PATH, headers=v3_headers(sb))
        assert message(r) == "API rate limit breached. Current limit: 200/0.06 mins"
        await anyio.sleep(3.6)
        assert await lists(c, sb, 1) == [200]


async def test_configured_limits_and_quota_is_per_workspace() -> None:
    groups = tuple(
        QuotaGroupSpec("segments", (QuotaWindow(3, 10.0),)) if g.name == "segments" else g
        for g in default_quota_groups()
    )
    other = WorkspaceCredentials("OTHER", "other-key", "other_db", "other-secret")
    sb = Sandbox(SandboxConfig(workspaces=(WorkspaceCredentials(), other), quota_groups=groups))
    async with asgi_client(sb) as c:
        assert await lists(c, sb, 4) == [200, 200, 200, 429]
        headers = {"MOE-APPKEY": "OTHER", "Authorization": basic("OTHER", "other-key")}
        assert (await c.get(PATH, headers=headers)).status_code == 200
        await anyio.sleep(10.0)
        assert await lists(c, sb, 3) == [200] * 3
    assert sb.max_in_window("segments", 10.0) == 4
    assert sb.max_in_window("segments", 10.0, workspace_id="OTHER") == 1


async def test_another_tenant_spends_quota() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        assert sb.spend("segments", 49) == 49
        assert await lists(c, sb, 2) == [200, 429]
        assert sb.spend("segments", 5) == 0  # nothing left to spend
    assert sb.too_many_requests == {"rate_limit_other_tenant": 1}
    assert sb.log[-1].detail == "segments 50/60s"


async def test_other_tenant_fault_causes_429s_the_client_did_not_cause() -> None:
    faults = FaultConfig((OtherTenant(group="segments", amount=10, probability=1.0),))
    sb = Sandbox(SandboxConfig(faults=faults))
    async with asgi_client(sb) as c:
        codes = await lists(c, sb, 6)
    # Each arrival: the tenant spends 10 first. 4 arrivals fit (44 used), the 5th finds 50 used.
    assert codes == [200, 200, 200, 200, 429, 429]
    assert sb.too_many_requests == {"rate_limit_other_tenant": 2}


async def test_injected_clock() -> None:
    now = [1000.0]
    sb = Sandbox(SandboxConfig(clock=lambda: now[0]))
    async with asgi_client(sb) as c:
        assert await lists(c, sb, 51) == [200] * 50 + [429]
        now[0] += 60.0
        assert await lists(c, sb, 1) == [200]
    assert sb.log[0].arrival == 1000.0
    assert sb.log[-1].arrival == 1060.0


async def test_a_slot_frees_exactly_at_arrival_plus_window() -> None:
    # 60.1 - 60 < 0.1 in floating point: the window must be read as "t + 60 > now", the way a
    # governor computes when a slot frees, or a request sent exactly on time would be refused.
    now = [0.1]
    groups = tuple(
        QuotaGroupSpec("segments", (QuotaWindow(1, 60.0),)) if g.name == "segments" else g
        for g in default_quota_groups()
    )
    sb = Sandbox(SandboxConfig(clock=lambda: now[0], quota_groups=groups))
    async with asgi_client(sb) as c:
        assert await lists(c, sb, 2) == [200, 429]
        now[0] = 0.1 + 60.0
        assert await lists(c, sb, 2) == [200, 429]
    assert sb.max_in_window("segments", 60.0) == 2


def test_users_charged_at_a_past_arrival_count_against_later_windows() -> None:
    from moeseg.sandbox._quota import QuotaBook

    book = QuotaBook((QuotaGroupSpec("users", (QuotaWindow(4, 1000.0),), weighted=True),), 1.0)
    book.record("ws", "users", 100.0, 3)
    # A request that arrived at t=50 is counted later: the window ending at 100 would hold 5.
    assert book.check("ws", "users", 50.0, 2) is not None
    assert book.check("ws", "users", 50.0, 1) is None
    assert book.used("ws", "users", 100.0) == {1000.0: 3}
