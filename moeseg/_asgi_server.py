"""Serve an ASGI app with uvicorn on loopback: in a thread (from asyncio or trio), or blocking.

Shared by the sandbox and the file-segment callback receiver. Everything uvicorn-specific lives
here: its configuration, a read timeout for requests that trickle in, and aborting a connection
without an answer. Needs uvicorn (the ``sandbox`` or ``cli`` extra).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from ._exceptions import ConfigurationError

__all__: list[str] = []  # internal: used by moeseg.sandbox and moeseg.files

_ABORT = "moeseg.abort"  # the scope extension through which an app aborts its connection
#: Seconds a client may take to deliver a whole request (headers and body) before the server
#: closes the connection: a peer dripping bytes cannot hold a connection for ever.
READ_TIMEOUT = 30.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_uvicorn() -> None:
    """Raise ``ConfigurationError`` naming the extra to install when uvicorn is missing."""
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "serving over HTTP needs uvicorn: pip install 'moeseg[sandbox]'"
        ) from None


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` with TCP_NODELAY (small answers leave at once,
    without Nagle's delay); ``ConfigurationError`` in one line when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accept()
        sock.bind((host.strip("[]"), port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigurationError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def base_url(host: str, sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def abort_connection(scope: Scope) -> None:
    """Close the client's connection at once, without an answer. Served by :func:`serve_app`
    the socket is closed; elsewhere (in process, ``httpx.ASGITransport``) this raises the
    transport error a client gets from a server that hung up."""
    cycle = scope.get("extensions", {}).get(_ABORT)
    if cycle is None:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    cycle.transport.abort()
    cycle.disconnected = True  # so uvicorn sends no "500" once the app returns


def _with_abort(app: ASGIApp) -> ASGIApp:
    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # uvicorn's receive is a method of the request cycle
            cycle = receive.__self__  # type: ignore[attr-defined]
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), _ABORT: cycle}}
        await app(scope, receive, send)

    return served


def _protocol(read_timeout: float) -> type[Any]:
    """uvicorn's h11 protocol with a read timeout: a connection must deliver a whole request
    within ``read_timeout`` seconds of opening (or of the previous answer), else it is closed.
    uvicorn has no such setting; its keep-alive timer only covers idle connections."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class ReadTimeoutProtocol(H11Protocol):
        _read_timer: Any = None

        def _arm(self) -> None:
            self._read_timer = self.loop.call_later(read_timeout, self._read_timed_out)

        def _read_timed_out(self) -> None:
            if (
                self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
                and not self.transport.is_closing()
            ):
                self.transport.close()
                if self.cycle is not None:
                    self.cycle.disconnected = True
                    self.cycle.message_event.set()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            self._read_timer.cancel()
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._read_timer.cancel()
            super().connection_lost(exc)

    return ReadTimeoutProtocol


def uvicorn_server(app: ASGIApp, read_timeout: float = READ_TIMEOUT) -> Any:
    """A configured ``uvicorn.Server`` for ``app`` (its lifespan on, no access log)."""
    import uvicorn

    config = uvicorn.Config(
        _with_abort(app),
        interface="asgi3",
        lifespan="on",
        log_level="warning",
        http=_protocol(read_timeout),
        loop="asyncio",
        access_log=False,
    )
    return uvicorn.Server(config)


def run_forever(app: ASGIApp, sock: socket.socket) -> None:
    """Serve ``app`` on a bound socket until interrupted (blocking; Ctrl-C stops it)."""
    try:
        uvicorn_server(app).run(sockets=[sock])
    finally:
        sock.close()


@asynccontextmanager
async def serve_app(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, read_timeout: float = READ_TIMEOUT
) -> AsyncIterator[str]:
    """Serve any ASGI ``app`` with uvicorn (its own asyncio loop, in a thread) on
    ``host:port`` (0: any free port) and yield the base URL; stop it on exit. Works from
    asyncio and trio. Runs on real time: not for virtual-time tests."""
    require_uvicorn()
    sock = bind_socket(host, port)
    server = uvicorn_server(app, read_timeout)
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
