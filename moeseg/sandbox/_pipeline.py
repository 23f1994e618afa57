"""The steps every request takes, in order, whatever its route (the route only brings a handler).

Latency in transit; arrival (the request is logged from then on: a client that goes away leaves
it ``abandoned``); authentication (400 / 401 / 403, see ``authenticate``); another tenant's
spending, then the quota counted at arrival (429); server errors before processing (nothing
happens); the route's handler; server errors after processing (the request took effect, the
client gets a 5xx), latency before the answer, a dropped connection; the answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from hashlib import sha256
from urllib.parse import parse_qs

import anyio
from starlette.types import Receive, Scope, Send

from .._asgi_server import abort_connection
from ._answers import Answer, Call, Family, error, json_object, rate_limited, server_error
from ._bodies import COHORT, V2, V3
from ._faults import DropConnection, OtherTenant, ServerErrorFault
from ._state import RequestRecord, SandboxState

__all__ = ["Endpoint", "Handler", "authenticate"]

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


# Who is calling. v3: ``MOE-APPKEY`` (or ``MOE-DBNAME``) names the workspace, Basic auth carries
# the workspace id and the API key. v2: ``MOE-DBNAME`` and the same Basic auth. Cohort Sync:
# ``MOE-APPKEY`` and the same Basic auth, its user equal to the app key; then a suspended account
# is refused. Legacy CSV: ``appId`` in the body and a SHA-256 ``signature`` of
# ``appId|segName|secret``.
_LEGACY_FIELDS = (
    "appId",
    "attribute",
    "attributeType",
    "segName",
    "csvUrl",
    "callback",
    "signature",
)


def authenticate(sb: SandboxState, call: Call) -> Answer | None:
    """Set ``call.workspace`` (and ``call.data`` for the legacy API), or the refusal."""
    if call.family == "legacy":
        return _legacy(sb, call)
    if call.family == "cohort":
        return _cohort(sb, call)
    h, v3 = call.headers, call.family == "v3"
    appkey = h.get("moe-appkey") if v3 else None
    ws = sb.by_id.get(appkey) if appkey else sb.by_db.get(h.get("moe-dbname", ""))
    if ws is None:
        return error(call, 400, (V3 if v3 else V2).CLIENT_NOT_FOUND, "client_not_found")
    call.workspace = ws
    user, password = _basic(h.get("authorization", ""))
    if not v3:
        good = _same(user, ws.workspace_id) and _same(password, ws.api_key)
        return None if good else error(call, 401, V2.AUTH, "auth")
    if user is not None and not _same(user, ws.workspace_id):
        return error(call, 401, V3.APP_KEY_MISMATCH, "auth", "user is not the app key")
    if not _same(password, ws.api_key):
        return error(call, 401, V3.SECRET_MISMATCH, "auth", "bad or missing api key")
    return None


def _legacy(sb: SandboxState, call: Call) -> Answer | None:
    data = json_object(call.body)
    if data is None:
        return error(call, 400, ("", "Bad Value for request body"), "invalid_format")
    for field in _LEGACY_FIELDS:
        if not isinstance(data.get(field), str) or not data[field]:
            return error(call, 400, ("", f"Bad Value for {field}"), "invalid_format")
    ws = sb.by_id.get(data["appId"])
    if ws is None:
        return error(call, 400, ("", "Bad Value for appId"), "client_not_found")
    expected = sha256(f"{ws.workspace_id}|{data['segName']}|{ws.legacy_api_secret}".encode())
    if not _same(data["signature"].lower(), expected.hexdigest()):
        return error(call, 401, ("", "Unauthorized"), "auth", "bad signature")
    call.workspace = ws
    call.data = data
    return None


def _cohort(sb: SandboxState, call: Call) -> Answer | None:
    h = call.headers
    user, password = _basic(h.get("authorization", ""))
    if user is None:
        return error(call, 401, COHORT.NO_AUTH_HEADER, "auth", "no basic auth")
    appkey = h.get("moe-appkey")
    if not appkey:
        what = COHORT.missing("MOE-APPKEY")
        return error(call, 400, what, "invalid_format", "MOE-APPKEY", attribute="MOE-APPKEY")
    if not _same(user, appkey):
        return error(call, 401, COHORT.APP_KEY_MISMATCH, "auth", "user is not the app key")
    ws = sb.by_id.get(appkey)
    if ws is None or not _same(password, ws.api_key):
        return error(call, 401, COHORT.SECRET_MISMATCH, "auth", "bad app key or api key")
    call.workspace = ws
    kind = sb.config.suspended.get(ws.workspace_id)
    if kind is not None:
        message = COHORT.SUSPENDED.get(kind, COHORT.SUSPENDED["Account Suspended"])
        return error(call, 403, (kind, message), "suspended")
    return None


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)


def _same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a credential."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
