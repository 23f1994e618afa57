"""The sandbox over real HTTP on loopback: uvicorn via serve(port=0), and the CLI."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from moeseg.sandbox import (
    DropConnection,
    FaultConfig,
    Sandbox,
    SandboxConfig,
    ServerErrorFault,
    banner,
)

from ._helpers import Loopback, basic, definition, v2_headers, v3_headers

PATH = "/v3/custom-segments"


@pytest.mark.anyio
async def test_real_http_create_list_get() -> None:
    sb = Sandbox()
    async with sb.serve(port=0) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        assert base_url.startswith("http://127.0.0.1:")
        created = await c.post(PATH, json=definition("s"), headers=v3_headers(sb))
        listed = await c.get(PATH, params={"name": "s"}, headers=v3_headers(sb))
        got = await c.get(f"{PATH}/{created.json()['data']['id']}", headers=v3_headers(sb))
        bad = await c.get(PATH, headers=v3_headers(sb, Authorization=basic("x", "y")))
    assert created.status_code == 201
    assert [s["name"] for s in listed.json()["data"]] == ["s"]
    assert got.json()["data"]["name"] == "s"
    assert bad.status_code == 401


@pytest.mark.anyio
async def test_real_http_drop_closes_the_connection_after_processing() -> None:
    sb = Sandbox(
        SandboxConfig(
            faults=FaultConfig(
                (
                    DropConnection(routes={"create"}),
                    ServerErrorFault(status=502, when="after", routes={"update"}),
                )
            )
        )
    )
    async with sb.serve(port=0) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        with pytest.raises(httpx.TransportError):
            await c.post(PATH, json=definition("s"), headers=v3_headers(sb))
        # The server keeps serving, and the segment exists.
        listed = await c.get(PATH, params={"name": "s"}, headers=v3_headers(sb))
        sid = listed.json()["data"][0]["id"]
        updated = await c.patch(f"{PATH}/{sid}", json=definition("t"), headers=v3_headers(sb))
    assert updated.status_code == 502
    assert sb.find("t") is not None
    assert [r.status for r in sb.log] == [0, 200, 502]


@pytest.mark.anyio
async def test_real_http_file_segment_runs_in_the_server_lifespan(
    loopback: tuple[Loopback, str],
) -> None:
    server, files = loopback
    server.files["/u.csv"] = b"id\n1\n2\n3\n"
    sb = Sandbox()
    body = {
        "name": "fs",
        "attribute_name": "id",
        "attribute_type": "double",
        "file_url": f"{files}/u.csv",
        "callback_url": f"{files}/cb",
        "expiry_time": 7,
    }
    async with sb.serve(port=0) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        r = await c.post("/v2/custom-segments/file-segment", json=body, headers=v2_headers(sb))
        await sb.wait_idle()
    assert r.status_code == 202
    ((_path, callback),) = server.received
    assert (callback["status"], callback["user_count"], callback["values_found"]) == (201, 3, 3)


def test_cli_prints_the_base_url_and_credentials() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "moeseg.sandbox", "--port", "0", "--time-scale", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(6)]
            text = "".join(lines)
            sb = Sandbox()
            assert sb.workspace_id in text
            assert sb.api_key in text
            assert sb.db_name in text
            base_url = lines[0].split()[-1]
            assert base_url.startswith("http://127.0.0.1:")
            deadline = time.monotonic() + 10
            while True:
                try:
                    r = httpx.get(f"{base_url}{PATH}", headers=v3_headers(sb))
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            assert r.status_code == 200
            assert r.json()["data"] == []
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert banner(sb, "http://x").splitlines()[0] == "moeseg sandbox listening on http://x"


@pytest.mark.anyio
async def test_spending_from_the_test_loop_agrees_with_the_server_clock() -> None:
    sb = Sandbox()
    async with sb.serve(port=0) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        assert sb.spend("segments", 49) == 49  # read on this loop, trio or asyncio
        codes = [(await c.get(PATH, headers=v3_headers(sb))).status_code for _ in range(2)]
        with pytest.raises(RuntimeError, match="already being served"):
            async with sb.serve(port=0):
                pass
    assert codes == [200, 429]
    assert sb.too_many_requests == {"rate_limit_other_tenant": 1}
    assert not sb.served
