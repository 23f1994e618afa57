"""Fault injection: 5xx before/after processing, dropped connections, latency, seeding."""

from __future__ import annotations

import random

import anyio
import httpx
import pytest

from moeseg.sandbox import (
    DropConnection,
    FaultConfig,
    Latency,
    LatencyFault,
    OtherTenant,
    Sandbox,
    SandboxConfig,
    ServerErrorFault,
)

from ._helpers import asgi_client, definition, signature, v2_headers, v3_headers

pytestmark = pytest.mark.anyio

PATH = "/v3/custom-segments"


def faulty(*rules: object, seed: int = 0) -> Sandbox:
    return Sandbox(SandboxConfig(faults=FaultConfig(tuple(rules), seed=seed)))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_error_before_processing_creates_nothing(status: int) -> None:
    sb = faulty(ServerErrorFault(status=status, routes={"create"}))
    async with asgi_client(sb) as c:
        r = await c.post(PATH, json=definition("s"), headers=v3_headers(sb))
        listed = await c.get(PATH, headers=v3_headers(sb))
    assert r.status_code == status
    assert r.json()["error"] == {
        "code": "Internal Server Error",
        "message": "An unexpected error was encountered while processing this request. "
        "Please contact MoEngage Team",
    }
    assert listed.status_code == 200  # other routes unaffected
    assert sb.segments() == []
    assert sb.log[0].cause == f"fault_{status}_before"


async def test_server_error_after_processing_creates_the_segment() -> None:
    sb = faulty(ServerErrorFault(status=503, when="after"))
    async with asgi_client(sb) as c:
        r = await c.post(PATH, json=definition("s"), headers=v3_headers(sb))
    assert r.status_code == 503
    assert sb.find("s") is not None
    (rec,) = sb.log
    assert (rec.status, rec.processed_status, rec.cause, rec.detail) == (
        503,
        201,
        "fault_503_after",
        "created",
    )


async def test_gateway_html_and_v2_legacy_shapes() -> None:
    sb = faulty(
        ServerErrorFault(status=502, html=True, routes={"list"}),
        ServerErrorFault(status=500, routes={"archive", "legacy_csv"}),
    )
    legacy = {
        "appId": sb.workspace_id,
        "attribute": "email",
        "attributeType": "string",
        "segName": "L",
        "csvUrl": "http://127.0.0.1:9/x.csv",
        "callback": "http://127.0.0.1:9/cb",
        "signature": signature(sb.workspace_id, "L", sb.legacy_api_secret),
    }
    async with sb.running(), asgi_client(sb) as c:
        html = await c.get(PATH, headers=v3_headers(sb))
        v2 = await c.patch(
            "/v2/custom-segments/archive", json={"name": "x"}, headers=v2_headers(sb)
        )
        old = await c.post("/csv_segment", json=legacy)
    assert html.status_code == 502
    assert html.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in html.text
    assert v2.status_code == 500
    assert v2.json() == {"title": "Internal Server Error"}
    assert old.status_code == 500
    assert old.json() == {
        "status": 500,
        "error_message": "Internal Server Error. Contact MoEngage Team",
    }


async def test_dropped_connection_after_processing_in_process() -> None:
    sb = faulty(DropConnection(routes={"create"}))
    async with asgi_client(sb) as c:
        with pytest.raises(httpx.TransportError):
            await c.post(PATH, json=definition("s"), headers=v3_headers(sb))
        listed = await c.get(PATH, params={"name": "s"}, headers=v3_headers(sb))
    assert [s["name"] for s in listed.json()["data"]] == ["s"]  # created, though unseen
    assert (sb.log[0].status, sb.log[0].processed_status, sb.log[0].cause) == (0, 201, "dropped")


async def test_drop_does_not_apply_to_requests_that_were_not_processed() -> None:
    sb = faulty(DropConnection())
    async with asgi_client(sb) as c:
        r = await c.get(PATH, headers={"MOE-APPKEY": "unknown"})
    assert r.status_code == 400


@pytest.mark.virtual_time
async def test_latency_in_transit_delays_arrival_and_response_latency_delays_answer() -> None:
    sb = faulty(
        LatencyFault(latency=Latency.fixed(2.0), phase="request"),
        LatencyFault(latency=Latency.fixed(3.0), phase="response", routes={"list"}),
    )
    async with asgi_client(sb) as c:
        start = anyio.current_time()
        await c.get(PATH, headers=v3_headers(sb))
        done = anyio.current_time()
    assert sb.log[0].arrival == pytest.approx(start + 2.0)
    assert done - start == pytest.approx(5.0)


def test_latency_distributions() -> None:
    rng = random.Random(1)
    assert Latency.fixed(0.5).sample(rng) == 0.5
    assert all(0.1 <= Latency.uniform(0.1, 0.2).sample(rng) <= 0.2 for _ in range(100))
    samples = [Latency.exponential(1.0, cap=2.0).sample(rng) for _ in range(2000)]
    assert max(samples) == 2.0
    assert 0.7 < sum(samples) / len(samples) < 1.0  # mean 1 - e^-2 ≈ 0.86 once capped


async def test_faults_are_seeded_and_follow_their_probability() -> None:
    async def statuses(seed: int) -> list[int]:
        sb = faulty(ServerErrorFault(status=500, probability=0.3, routes={"list"}), seed=seed)
        async with asgi_client(sb) as c:
            return [(await c.get(PATH, headers=v3_headers(sb))).status_code for _ in range(40)]

    first, again, other = await statuses(7), await statuses(7), await statuses(8)
    assert first == again
    assert first != other
    assert 4 <= first.count(500) <= 20


async def test_set_faults_at_runtime() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        assert (await c.get(PATH, headers=v3_headers(sb))).status_code == 200
        sb.set_faults(FaultConfig((ServerErrorFault(status=504),)))
        assert (await c.get(PATH, headers=v3_headers(sb))).status_code == 504
        sb.set_faults(FaultConfig())
        assert (await c.get(PATH, headers=v3_headers(sb))).status_code == 200
    assert sb.faults == FaultConfig()


def test_fault_rules_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="500/502/503/504"):
        ServerErrorFault(status=418)
    with pytest.raises(ValueError, match="probability"):
        DropConnection(probability=1.5)
    with pytest.raises(ValueError, match="time_scale"):
        SandboxConfig(time_scale=0)
    assert OtherTenant(routes=["create"]).routes == frozenset({"create"})


async def test_a_rule_fires_at_most_times_times() -> None:
    sb = faulty(ServerErrorFault(status=502, routes={"list"}, times=2))
    async with asgi_client(sb) as c:
        codes = [(await c.get(PATH, headers=v3_headers(sb))).status_code for _ in range(4)]
    assert codes == [502, 502, 200, 200]


@pytest.mark.virtual_time
async def test_a_request_abandoned_by_its_client_stays_in_the_log() -> None:
    sb = faulty(LatencyFault(latency=Latency.fixed(10.0), phase="response", routes={"create"}))
    async with asgi_client(sb) as c:
        with anyio.move_on_after(5.0):
            await c.post(PATH, json=definition("s"), headers=v3_headers(sb))
    (rec,) = sb.log
    assert (rec.route, rec.workspace, rec.status, rec.processed_status) == (
        "create",
        sb.workspace_id,
        0,
        201,
    )
    assert sb.find("s") is not None
    assert sb.max_in_window("segments", 60.0) == 1
