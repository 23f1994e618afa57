"""Serving the sandbox over real HTTP on loopback with uvicorn."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from ._config import SandboxConfig

if TYPE_CHECKING:
    from ._app import Sandbox

__all__ = ["banner", "serve", "serve_app", "serve_forever"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Any) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="on",
        log_level="warning",
        http="h11",
        loop="asyncio",
        access_log=False,
    )
    return uvicorn.Server(config)


@asynccontextmanager
async def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve any ASGI ``app`` with uvicorn (its own asyncio loop, in a thread) on
    ``host:port`` (0: any free port) and yield the base URL; stop it on exit. Works from
    asyncio and trio. Runs on real time: not for virtual-time tests."""
    sock = _bind(host, port)
    server = _server(app)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit on startup failure included
            errors.append(exc)

    thread = threading.Thread(target=run, name="moeseg-sandbox", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"sandbox server failed to start: {errors!r}")
            await anyio.sleep(0.005)
        yield _base_url(host, sock)
    finally:
        server.should_exit = True
        await anyio.to_thread.run_sync(thread.join)
        sock.close()


@asynccontextmanager
async def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """``async with serve(sandbox, port=0) as base_url``: the sandbox over real HTTP; its
    lifespan runs the background file jobs. The sandbox reads ``time.monotonic()`` meanwhile
    (uvicorn's asyncio clock, the same from every thread)."""
    if sandbox.served:
        raise RuntimeError("this Sandbox is already being served")
    sandbox.served = True
    try:
        async with serve_app(sandbox.app, host, port) as base_url:
            yield base_url
    finally:
        sandbox.served = False


def banner(sandbox: Sandbox, base_url: str) -> str:
    """What to tell a user: where the sandbox listens and the (sandbox-only) credentials."""
    return "\n".join(
        [
            f"moeseg sandbox listening on {base_url}",
            f"  workspace id (MOE-APPKEY, legacy appId): {sandbox.workspace_id}",
            f"  api key:            {sandbox.api_key}",
            f"  db name (MOE-DBNAME): {sandbox.db_name}",
            f"  legacy api secret:  {sandbox.legacy_api_secret}",
            "  (sandbox-only credentials; v3, v2 and POST /csv_segment on this one base URL)",
        ]
    )


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    config: SandboxConfig | None = None,
    *,
    announce: Callable[[str], object] | None = None,
) -> None:
    """Run a sandbox server until interrupted (Ctrl-C); blocking. ``announce`` receives the
    banner (base URL and credentials) once the port is bound; default: print to stdout."""
    from ._app import Sandbox

    sandbox = Sandbox(config)
    sandbox.served = True
    sock = _bind(host, port)
    say = announce or (lambda text: print(text, file=sys.stdout, flush=True))
    say(banner(sandbox, _base_url(host, sock)))
    try:
        _server(sandbox.app).run(sockets=[sock])
    finally:
        sock.close()
