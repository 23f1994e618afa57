"""The sandbox over real HTTP on loopback: uvicorn via serve(port=0), and the CLI."""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import time

import anyio
import httpx
import pytest

from moeseg._asgi_server import bind_socket, is_loopback
from moeseg.sandbox import (
    DropConnection,
    FaultConfig,
    Sandbox,
    SandboxConfig,
    ServerErrorFault,
    banner,
    serve_app,
)

from ._helpers import Loopback, basic, definition, v2_headers, v3_headers

# Every test here serves the sandbox over real HTTP on loopback (the full suite runs them).
pytestmark = pytest.mark.slow

PATH = "/v3/custom-segments"
TIME_SCALE_HEADER = "x-moeseg-sandbox-time-scale"


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


# ---------------------------------------------------------------- serving from a shell (issue 12)


def run_cli(*args: str) -> tuple[int, str, str]:
    """``moeseg sandbox serve ARGS`` in process (the console script's entry point)."""
    from moeseg.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = ["moeseg", "sandbox", "serve", *args]
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        mp.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exited:
            main()
    return int(exited.value.code or 0), out.getvalue(), err.getvalue()


def test_serve_on_a_port_in_use_is_one_line_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_cli("--port", str(port))
    assert code == 2
    assert out == ""
    assert err.startswith(f"moeseg sandbox: error: cannot listen on 127.0.0.1:{port}: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_serve_on_a_bad_port_is_one_line_exit_2(port: str) -> None:
    code, out, err = run_cli("--port", port)
    assert (code, out) == (2, "")
    assert err.startswith(f"moeseg sandbox: error: cannot listen on 127.0.0.1:{port}: ")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "example.com"])
def test_serve_refuses_a_host_that_is_not_loopback(host: str) -> None:
    code, out, err = run_cli("--host", host, "--port", "0")
    assert (code, out) == (2, "")
    assert "is not a loopback address" in err
    assert "--allow-remote" in err


def test_serve_without_uvicorn_says_which_extra_and_announces_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    code, out, err = run_cli("--port", "0")
    assert (code, out) == (2, "")
    assert "listening" not in out + err
    assert err.strip() == (
        "moeseg sandbox: error: serving over HTTP needs uvicorn: pip install 'moeseg[sandbox]'"
    )


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""))


def test_serve_command_takes_error_drop_rates_and_seed() -> None:
    """`moeseg sandbox serve --error-rate 1` answers 503; the rates are checked (exit 2)."""
    with subprocess.Popen(
        [sys.executable, "-m", "moeseg", "sandbox", "serve", "--port", "0", "--error-rate", "1",
         "--drop-rate", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().split()[-1]
            sb = Sandbox()
            r = wait_for(f"{base_url}{PATH}", v3_headers(sb))
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "Internal Server Error"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    code, _out, err = run_cli("--port", "0", "--drop-rate", "1.5")
    assert code == 2
    assert "--drop-rate" in err


def wait_for(url: str, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url, headers=headers)
        except httpx.ConnectError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_served_sockets_disable_nagle() -> None:
    """Small answers must not wait for Nagle's delay: TCP_NODELAY on the listening socket
    (accepted connections inherit it)."""
    listener = bind_socket("127.0.0.1", 0)
    try:
        listener.listen()
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with socket.create_connection(listener.getsockname()[:2]):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        listener.close()


@pytest.mark.anyio
async def test_a_slow_drip_request_is_cut_off_after_the_read_timeout() -> None:
    """A peer sending headers a byte at a time cannot hold a sandbox connection for ever."""
    sb = Sandbox()
    async with serve_app(sb.app, read_timeout=0.2) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"GET /v3/custom-segments HTTP/1.1\r\nHost: x\r\n")
            with anyio.fail_after(5):
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()


@pytest.mark.anyio
async def test_every_answer_names_the_sandbox_time_scale() -> None:
    sb = Sandbox(
        SandboxConfig(time_scale=0.05, faults=FaultConfig((ServerErrorFault(routes={"get"}),)))
    )
    async with sb.serve(port=0) as base_url, httpx.AsyncClient(base_url=base_url) as c:
        answers = [
            await c.get(PATH, headers=v3_headers(sb)),
            await c.get(PATH, headers={}),
            await c.get(f"{PATH}/{'0' * 24}", headers=v3_headers(sb)),
            await c.get("/nowhere"),
            await c.delete(PATH),
        ]
    assert [r.status_code for r in answers] == [200, 400, 500, 404, 405]
    assert {r.headers[TIME_SCALE_HEADER] for r in answers} == {"0.05"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=Sandbox().app)) as c:
        r = await c.get("http://sandbox.invalid/v3/custom-segments")
    assert r.headers[TIME_SCALE_HEADER] == "1.0"
