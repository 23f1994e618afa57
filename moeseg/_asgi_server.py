"""Run an ASGI app with uvicorn on loopback, in a thread, from asyncio or trio.

Used by the sandbox and by the file-segment callback receiver; neither depends on the other.
Needs uvicorn (the ``sandbox`` or ``cli`` extra).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

__all__: list[str] = []  # internal: used by moeseg.sandbox and moeseg.files


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_server(app: Any) -> Any:
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
    sock = bind_socket(host, port)
    server = uvicorn_server(app)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit on startup failure included
            errors.append(exc)

    thread = threading.Thread(target=run, name="moeseg-asgi-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"ASGI server failed to start: {errors!r}")
            await anyio.sleep(0.005)
        yield base_url(host, sock)
    finally:
        server.should_exit = True
        await anyio.to_thread.run_sync(thread.join)
        sock.close()
