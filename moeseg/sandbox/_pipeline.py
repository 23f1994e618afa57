"""The steps every request takes, in order, whatever its route (the route only brings a handler).

Latency in transit; arrival (the request is logged from then on: a client that goes away leaves
it ``abandoned``); authentication (400 / 401); another tenant's spending, then the quota counted
at arrival (429); server errors before processing (nothing happens); the route's handler; server
errors after processing (the request took effect, the client gets a 5xx), latency before the
answer, a dropped connection; the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import anyio
from starlette.types import Receive, Scope, Send

from .._asgi_server import abort_connection
from ._answers import Answer, Call, Family, rate_limited, server_error
from ._auth import authenticate
from ._faults import DropConnection, OtherTenant, ServerErrorFault
from ._state import RequestRecord, SandboxState

__all__ = ["Endpoint", "Handler"]

Handler = Callable[[SandboxState, Call], Answer]

_FILE_ROUTES = frozenset({"file_create", "file_add", "file_remove", "file_replace", "legacy_csv"})


class Endpoint:
    """The ASGI endpoint of one route: the steps above around its handler. (A class, so
    Starlette hands it scope, receive and send as they are.)"""

    def __init__(self, sandbox: SandboxState, route: str, family: Family, handler: Handler) -> None:
        self.sb, self.route, self.family, self.handler = sandbox, route, family, handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sb, dice, route = self.sb, self.sb.dice, self.route
        if delay := dice.sleep_for(route, "request"):  # in transit: not arrived yet
            await anyio.sleep(delay)
        arrival = sb.now()
        call = Call(
            method=scope["method"],
            path=scope["path"],
            route=route,
            family=self.family,
            params={k: str(v) for k, v in scope.get("path_params", {}).items()},
            query=parse_qs(scope.get("query_string", b"").decode("latin-1")),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=await _read_body(receive),
            arrival=arrival,
            response_id=sb.response_id(),
        )
        index = sb.record(self._record(call, 0, 0, "abandoned"))
        answer: Answer | None = None  # what processing produced
        delivered: Answer | None = None  # what the client is sent
        dropped = finished = False
        try:
            refused = authenticate(sb, call) or self._admit(call) or self._before(call)
            answer = delivered = refused or self.handler(sb, call)
            if refused is None:
                for fault in dice.draw(ServerErrorFault, route, "after"):
                    delivered = server_error(call, fault.status, "after", fault.html)
                if delay := dice.sleep_for(route, "response"):
                    await anyio.sleep(delay)
                dropped = bool(dice.draw(DropConnection, route))
            if not dropped:
                await delivered.response()(scope, receive, send)
            finished = True
        finally:
            if finished and not dropped and answer and delivered:
                detail = answer.cause if delivered is not answer else delivered.detail
                status, cause = delivered.status, delivered.cause
            else:
                status, cause = 0, "dropped" if finished else "abandoned"
                detail = answer.cause if answer else ""
            processed = answer.status if answer else 0
            sb.record(self._record(call, status, processed, cause, detail), index)
        if dropped:
            abort_connection(scope)

    def _admit(self, call: Call) -> Answer | None:
        sb, ws = self.sb, call.workspace_id or ""
        if self.route in _FILE_ROUTES and sb.task_group is None:
            raise RuntimeError(
                "file segments are processed in the background: enter "
                "`async with sandbox.running():` (or serve the app with its lifespan) first"
            )
        group = sb.config.operations.get(self.route)
        if group is None:
            return None
        for tenant in sb.dice.draw(OtherTenant, self.route):
            sb.quota.spend_free(ws, tenant.group, call.arrival, tenant.amount)
        breach = sb.quota.admit(ws, group, call.arrival)
        return None if breach is None else rate_limited(call, breach)

    def _before(self, call: Call) -> Answer | None:
        fired = self.sb.dice.draw(ServerErrorFault, self.route, "before")
        return server_error(call, fired[0].status, "before", fired[0].html) if fired else None

    def _record(
        self, call: Call, status: int, processed: int, cause: str, detail: str = ""
    ) -> RequestRecord:
        group = self.sb.config.operations.get(self.route)
        where = (call.arrival, call.method, call.path, self.route, group, call.workspace_id)
        return RequestRecord(*where, status, processed, cause, detail)


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
