"""The middleware every route runs through, outermost first: ``Transit`` → ``RequestLog`` →
``Authenticate`` → ``Admit`` → ``InjectFaults`` → the route's ``Endpoint``. Each layer answers
(``respond``) or hands over to the next; they share the request's ``Call``, kept in the scope.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._asgi_server import abort_connection
from ._answers import Answer, Call, Family, rate_limited, server_error
from ._auth import authenticate
from ._faults import DropConnection, OtherTenant, ServerErrorFault
from ._state import RequestRecord, SandboxState

__all__ = [
    "Admit",
    "Authenticate",
    "Endpoint",
    "Handler",
    "InjectFaults",
    "RequestLog",
    "Transit",
]

Handler = Callable[[SandboxState, Call], Answer]

_CALL = "moeseg.sandbox.call"
_FILE_ROUTES = frozenset({"file_create", "file_add", "file_remove", "file_replace", "legacy_csv"})


async def respond(call: Call, answer: Answer, scope: Scope, receive: Receive, send: Send) -> None:
    """Send ``answer`` (the call's first answer, unless one was produced already)."""
    if call.answer is None:
        call.answer = answer
    call.delivered = answer
    await answer.response()(scope, receive, send)


class _Layer:
    def __init__(self, app: ASGIApp, sandbox: SandboxState, route: str, family: Family) -> None:
        self.app = app
        self.sb = sandbox
        self.route = route
        self.family = family


class Transit(_Layer):
    """Latency faults in the ``request`` phase: the request is still on its way."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        delay = self.sb.dice.sleep_for(self.route, "request")
        if delay:
            await anyio.sleep(delay)
        await self.app(scope, receive, send)


class RequestLog(_Layer):
    """Takes the arrival time, reads the request, and logs it from arrival on: a request whose
    client went away mid-way stays in the log as ``abandoned``. Drops the connection (after
    logging) when a fault said so."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sb = self.sb
        arrival = sb.now()
        call = scope[_CALL] = Call(
            method=scope["method"],
            path=scope["path"],
            route=self.route,
            family=self.family,
            params={k: str(v) for k, v in scope.get("path_params", {}).items()},
            query=parse_qs(scope.get("query_string", b"").decode("latin-1")),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=await _read_body(receive),
            arrival=arrival,
            response_id=sb.response_id(),
        )
        index = sb.record(self._record(call, 0, 0, "abandoned"))
        finished = False
        try:
            await self.app(scope, receive, send)
            finished = True
        finally:
            answer, delivered = call.answer, call.delivered
            if finished and answer and delivered and not call.dropped:
                detail = answer.cause if delivered is not answer else delivered.detail
                status, cause = delivered.status, delivered.cause
            else:
                status, cause = 0, "dropped" if finished and call.dropped else "abandoned"
                detail = answer.cause if answer else ""
            processed = answer.status if answer else 0
            sb.record(self._record(call, status, processed, cause, detail), index)
        if call.dropped:
            abort_connection(scope)

    def _record(
        self, call: Call, status: int, processed: int, cause: str, detail: str = ""
    ) -> RequestRecord:
        group = self.sb.config.operations.get(self.route)
        where = (call.arrival, call.method, call.path, self.route, group, call.workspace_id)
        return RequestRecord(*where, status, processed, cause, detail)


class Authenticate(_Layer):
    """The workspace and its credentials (400 unknown workspace, 401 bad credentials)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call: Call = scope[_CALL]
        denied = authenticate(self.sb, call)
        if denied is not None:
            await respond(call, denied, scope, receive, send)
            return
        await self.app(scope, receive, send)


class Admit(_Layer):
    """The quota, counted at arrival: another tenant may spend first (a fault), then the
    route's group must have room in every window, else 429."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sb, call = self.sb, scope[_CALL]
        if self.route in _FILE_ROUTES and sb.task_group is None:
            raise RuntimeError(
                "file segments are processed in the background: enter "
                "`async with sandbox.running():` (or serve the app with its lifespan) first"
            )
        group = sb.config.operations.get(self.route)
        if group is not None:
            ws = call.workspace_id
            for tenant in sb.dice.draw(OtherTenant, self.route):
                sb.quota.spend_free(ws, tenant.group, call.arrival, tenant.amount)
            breach = sb.quota.admit(ws, group, call.arrival)
            if breach is not None:
                await respond(call, rate_limited(call, breach), scope, receive, send)
                return
        await self.app(scope, receive, send)


class InjectFaults(_Layer):
    """Server errors before processing (nothing happens) or after it (the request took effect
    but the client gets a 5xx), latency before the answer, and dropped connections."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dice, call = self.sb.dice, scope[_CALL]
        for fault in dice.draw(ServerErrorFault, self.route, "before"):
            answer = server_error(call, fault.status, "before", fault.html)
            await respond(call, answer, scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        replaced: Answer | None = None
        for fault in dice.draw(ServerErrorFault, self.route, "after"):
            replaced = server_error(call, fault.status, "after", fault.html)
        delay = dice.sleep_for(self.route, "response")
        if delay:
            await anyio.sleep(delay)
        if dice.draw(DropConnection, self.route):
            call.dropped = True
        elif replaced is not None:
            await respond(call, replaced, scope, receive, send)
        else:
            for message in held:
                await send(message)


class Endpoint:
    """The ASGI endpoint of a route: run its handler on the call and answer. (A class, so
    Starlette hands it scope, receive and send as they are.)"""

    def __init__(self, sandbox: SandboxState, handler: Handler) -> None:
        self.sb = sandbox
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call: Call = scope[_CALL]
        await respond(call, self.handler(self.sb, call), scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
