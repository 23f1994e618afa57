"""Serving the sandbox over real HTTP on loopback with uvicorn."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from .._asgi_server import base_url, bind_socket, serve_app, uvicorn_server
from ._config import SandboxConfig

if TYPE_CHECKING:
    from ._app import Sandbox

__all__ = ["banner", "serve", "serve_app", "serve_forever"]


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
    sock = bind_socket(host, port)
    say = announce or (lambda text: print(text, file=sys.stdout, flush=True))
    say(banner(sandbox, base_url(host, sock)))
    try:
        uvicorn_server(sandbox.app).run(sockets=[sock])
    finally:
        sock.close()
