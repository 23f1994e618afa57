"""The sandbox: an ASGI app that answers like MoEngage's custom-segment APIs.

Request pipeline (every route): in-transit latency fault → arrival time taken → workspace and
credentials → another tenant's spending (fault) → quota check at arrival (429) → server-error
fault "before" → the route's handler → server-error fault "after" / response latency /
dropped connection → record. File jobs run in the background in a task group opened by
``Sandbox.running()`` or by the ASGI lifespan (uvicorn runs the lifespan).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from hashlib import sha256
from typing import Any, Literal
from urllib.parse import parse_qs

import anyio
import anyio.abc
import attrs
import httpx

from .._exceptions import SegmentValidationError
from ._bodies import V2, V3, legacy_error, v2_error, v3_error
from ._config import SandboxConfig, WorkspaceCredentials
from ._definitions import check_definition
from ._faults import DropConnection, FaultConfig, LatencyFault, OtherTenant, ServerErrorFault
from ._files import FileRejected, count_csv, fetch_file, post_json
from ._filters import CyclicQuery, UnknownSegment, echo_group, invalid_name, measure
from ._log import FileJobRecord, RequestRecord, max_in_window
from ._quota import Breach, QuotaBook
from ._store import StoredSegment, WorkspaceStore

__all__ = ["Sandbox"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Family = Literal["v3", "v2", "legacy"]

_ROUTE_TABLE: tuple[tuple[str, str, str, Family], ...] = (
    ("POST", r"/v3/custom-segments/?", "create", "v3"),
    ("GET", r"/v3/custom-segments/?", "list", "v3"),
    ("GET", r"/v3/custom-segments/(?P<id>[^/]+)/?", "get", "v3"),
    ("PATCH", r"/v3/custom-segments/(?P<id>[^/]+)/?", "update", "v3"),
    ("POST", r"/v2/custom-segments/file-segment/?", "file_create", "v2"),
    ("PUT", r"/v2/custom-segments/file-segment/add-users/?", "file_add", "v2"),
    ("PUT", r"/v2/custom-segments/file-segment/remove-users/?", "file_remove", "v2"),
    ("PUT", r"/v2/custom-segments/file-segment/replace/?", "file_replace", "v2"),
    ("PATCH", r"/v2/custom-segments/archive/?", "archive", "v2"),
    ("PATCH", r"/v2/custom-segments/unarchive/?", "unarchive", "v2"),
    ("POST", r"/csv_segment/?", "legacy_csv", "legacy"),
)
_ROUTES: tuple[tuple[str, re.Pattern[str], str, Family], ...] = tuple(
    (method, re.compile(pattern), route, family) for method, pattern, route, family in _ROUTE_TABLE
)
_FILE_ROUTES = frozenset({"file_create", "file_add", "file_remove", "file_replace", "legacy_csv"})
_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
_LEGACY_TYPES = frozenset({"string", "numeric", "geo_point", "date"})
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@attrs.frozen(slots=True)
class _Answer:
    status: int
    body: Any
    cause: str
    detail: str = ""
    processed: bool = False


@attrs.define(slots=True)
class _Call:
    route: str
    family: Family
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    arrival: float
    response_id: str
    workspace: WorkspaceCredentials | None = None
    data: dict[str, Any] | None = None


@attrs.frozen(slots=True)
class _Job:
    route: str
    workspace: WorkspaceCredentials
    segment_id: str
    file_url: str
    callback_url: str | None
    attribute_name: str
    request_id: str
    arrival: float


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


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


async def _respond(send: Send, status: int, body: Any) -> None:
    if isinstance(body, bytes):
        data, ctype = body, b"text/html; charset=utf-8"
    else:
        data, ctype = json.dumps(body).encode(), b"application/json"
    headers = [(b"content-type", ctype), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _drop_connection(receive: Receive) -> None:
    """Close the connection without a response: uvicorn's transport when there is one (real
    HTTP), else raise the transport error httpx gives for a peer that hung up."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        cycle.disconnected = True  # type: ignore[union-attr]
        return
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


class Sandbox:
    """A strict local stand-in for MoEngage's custom-segment APIs.

    ``sandbox.app`` is the ASGI app (v3, v2 and the legacy ``POST /csv_segment``). Use it in
    process with ``httpx.ASGITransport(app=sandbox.app)``, or serve it over loopback with
    ``async with sandbox.serve(port=0) as base_url``. File jobs need a running task group:
    ``async with sandbox.running():`` in process (the ASGI lifespan does it under uvicorn).
    Observability: ``log`` (every request), ``jobs`` (every file job), ``too_many_requests``
    (429s by cause), ``max_in_window(group, seconds)``.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.log: list[RequestRecord] = []
        self.jobs: list[FileJobRecord] = []
        self.too_many_requests: Counter[str] = Counter()
        self._faults = self.config.faults
        self._rng = random.Random(self._faults.seed)
        self._fired: Counter[int] = Counter()
        self._ids = random.Random(f"ids-{self._faults.seed}")
        self._quota = QuotaBook(self.config.quota_groups, self.config.time_scale)
        self._stores: dict[str, WorkspaceStore] = {
            w.workspace_id: WorkspaceStore() for w in self.config.workspaces
        }
        self._by_id = {w.workspace_id: w for w in self.config.workspaces}
        self._by_db = {w.db_name: w for w in self.config.workspaces}
        self._tg: anyio.abc.TaskGroup | None = None
        self._pending = 0
        self._epoch0 = time.time()
        #: True while ``serve()`` runs this sandbox on uvicorn (see ``now``).
        self.served = False
        self._t0: float | None = None

    def __repr__(self) -> str:
        return (
            f"<Sandbox workspace={self.workspace_id!r} segments={len(self.segments())} "
            f"requests={len(self.log)} running={self._tg is not None}>"
        )

    # ----------------------------------------------------------------- public surface
    @property
    def workspace_id(self) -> str:
        """The default workspace's id (Basic-auth user, ``MOE-APPKEY``, legacy ``appId``)."""
        return self.config.workspaces[0].workspace_id

    @property
    def api_key(self) -> str:
        """The default workspace's sandbox-only data API key."""
        return self.config.workspaces[0].api_key

    @property
    def db_name(self) -> str:
        """The default workspace's ``MOE-DBNAME``."""
        return self.config.workspaces[0].db_name

    @property
    def legacy_api_secret(self) -> str:
        """The default workspace's sandbox-only legacy API secret."""
        return self.config.workspaces[0].legacy_api_secret

    @property
    def faults(self) -> FaultConfig:
        """The fault rules in force."""
        return self._faults

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault rules and reseed the fault RNG with ``faults.seed``."""
        self._faults = faults
        self._rng = random.Random(faults.seed)
        self._fired = Counter()

    def now(self) -> float:
        """The sandbox clock: ``config.clock``, else the event loop's clock in process, or
        ``time.monotonic()`` while served by uvicorn (its asyncio loop's clock, readable from
        any thread, so ``spend()`` from a test's trio loop agrees with the server)."""
        clock = self.config.clock
        if clock is not None:
            return clock()
        return time.monotonic() if self.served else anyio.current_time()

    def segments(self, workspace_id: str | None = None) -> list[StoredSegment]:
        """The segments a workspace holds (live records: read, do not modify)."""
        return list(self._stores[workspace_id or self.workspace_id])

    def find(self, name: str, workspace_id: str | None = None) -> StoredSegment | None:
        """The segment called ``name``."""
        return self._stores[workspace_id or self.workspace_id].by_name(name)

    def spend(self, group: str, amount: int = 1, workspace_id: str | None = None) -> int:
        """Another tenant spends up to ``amount`` free units of ``group`` now; how many."""
        ws = workspace_id or self.workspace_id
        return self._quota.spend_free(ws, group, self.now(), amount)

    def max_in_window(self, group: str, seconds: float, workspace_id: str | None = None) -> int:
        """The most requests of ``group`` that arrived inside any window of ``seconds``
        (every arrival of the workspace, whatever its answer)."""
        ws = workspace_id or self.workspace_id
        return max_in_window(
            (r.arrival for r in self.log if r.group == group and r.workspace == ws), seconds
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Sandbox]:
        """Run background file jobs in a task group; on exit, wait for the pending ones."""
        if self._tg is not None:
            raise RuntimeError("this Sandbox is already running")
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield self
            finally:
                self._tg = None

    async def wait_idle(self, poll: float = 0.01) -> None:
        """Wait until no file job is pending (works from any thread's event loop)."""
        # Polling, not an Event: the jobs may run on another thread's loop (serve()).
        while self._pending:  # noqa: ASYNC110
            await anyio.sleep(poll)

    def serve(self, port: int = 0, host: str = "127.0.0.1") -> AbstractAsyncContextManager[str]:
        """``async with sandbox.serve(port=0) as base_url``: uvicorn on loopback in a thread."""
        from ._serve import serve

        return serve(self, host=host, port=port)

    # ----------------------------------------------------------------- ASGI entry point
    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = scope["method"]
        path = scope["path"]
        match = self._match(method, path)
        if match is None:
            await _read_body(receive)
            allowed = any(p.fullmatch(path) for _m, p, _r, _f in _ROUTES)
            status = 405 if allowed else 404
            msg = {"detail": "Method Not Allowed" if allowed else "Not Found"}
            self._record(self.now(), method, path, None, None, status, status, "no_route")
            await _respond(send, status, msg)
            return
        route, family, params = match
        for rule in self._draw(LatencyFault, route, "request"):
            await anyio.sleep(rule.latency.sample(self._rng))
        arrival = self.now()
        call = _Call(
            route=route,
            family=family,
            params=params,
            query=parse_qs(scope.get("query_string", b"").decode("latin-1")),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=await _read_body(receive),
            arrival=arrival,
            response_id=self._response_id(),
        )
        # Recorded at arrival, completed below: a request whose client went away (cancelled
        # mid-way, e.g. a timeout during a latency fault) stays in the log as "abandoned".
        index = len(self.log)
        self._record(arrival, method, path, route, None, 0, 0, "abandoned")
        answer = _Answer(0, None, "abandoned")
        delivered = answer
        dropped = False
        finished = False
        try:
            answer = delivered = await self._dispatch(call)
            if answer.processed:
                for err in self._draw(ServerErrorFault, route, "after"):
                    delivered = self._server_error(call, err, "after")
                for rule in self._draw(LatencyFault, route, "response"):
                    await anyio.sleep(rule.latency.sample(self._rng))
                dropped = bool(self._draw(DropConnection, route))
            finished = True
        finally:
            ws = call.workspace.workspace_id if call.workspace else None
            if not finished:
                cause, detail, status = "abandoned", answer.cause, 0
            elif dropped:
                cause, detail, status = "dropped", answer.cause, 0
            else:
                cause, status = delivered.cause, delivered.status
                detail = answer.cause if delivered is not answer else answer.detail
            self._record(
                arrival, method, path, route, ws, status, answer.status, cause, detail, index
            )
        if dropped:
            _drop_connection(receive)
            return
        await _respond(send, delivered.status, delivered.body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            async with self.running():
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except Exception as exc:  # pragma: no cover - reported to the server
            await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    # ----------------------------------------------------------------- plumbing
    @staticmethod
    def _match(method: str, path: str) -> tuple[str, Family, dict[str, str]] | None:
        for m, pattern, route, family in _ROUTES:
            if m == method:
                found = pattern.fullmatch(path)
                if found:
                    return route, family, found.groupdict()
        return None

    def _draw(self, kind: type[Any], route: str, phase: str | None = None) -> list[Any]:
        """The rules of ``kind`` (and ``phase``: a server error's ``when``, a latency's
        ``phase``) covering ``route`` that fire this time (one draw each)."""
        fired = []
        for i, r in enumerate(self._faults.rules):
            if not isinstance(r, kind) or not FaultConfig.applies(r, route):
                continue
            if phase is not None and getattr(r, "when", getattr(r, "phase", None)) != phase:
                continue
            if r.times is not None and self._fired[i] >= r.times:
                continue
            if self._fires(r.probability):
                self._fired[i] += 1
                fired.append(r)
        return fired

    def _fires(self, probability: float) -> bool:
        return probability >= 1.0 or (probability > 0.0 and self._rng.random() < probability)

    def _record(
        self,
        arrival: float,
        method: str,
        path: str,
        route: str | None,
        workspace: str | None,
        status: int,
        processed_status: int,
        cause: str,
        detail: str = "",
        index: int | None = None,
    ) -> None:
        group = self.config.operations.get(route) if route else None
        record = RequestRecord(
            arrival, method, path, route, group, workspace, status, processed_status, cause, detail
        )
        if index is not None:
            self.log[index] = record
        else:
            self.log.append(record)
        if status == 429:
            self.too_many_requests[cause] += 1

    def _response_id(self) -> str:
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return "".join(self._ids.choice(letters) for _ in range(8))

    def _request_id(self) -> str:
        return f"{self._ids.getrandbits(128):032x}"

    def _epoch(self) -> float:
        now = self.now()
        if self._t0 is None:
            self._t0 = now
        return self._epoch0 + (now - self._t0)

    def _new_id(self) -> str:
        return f"{int(self._epoch()) & 0xFFFFFFFF:08x}{self._ids.getrandbits(64):016x}"

    def _store(self, call: _Call) -> WorkspaceStore:
        assert call.workspace is not None
        return self._stores[call.workspace.workspace_id]

    # ----------------------------------------------------------------- answers by family
    def _error(
        self,
        call: _Call,
        status: int,
        what: tuple[str, str],
        cause: str,
        detail: str = "",
        **extra: Any,
    ) -> _Answer:
        if call.family == "v3":
            body = v3_error(call.response_id, what, **extra)
        elif call.family == "v2":
            body = v2_error(what)
        else:
            body = legacy_error(status, what[1], **extra)
        return _Answer(status, body, cause, detail)

    def _server_error(self, call: _Call, fault: ServerErrorFault, when: str) -> _Answer:
        status = fault.status
        cause = f"fault_{status}_{when}"
        if fault.html:
            reason = _REASONS[status]
            page = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} "
            return _Answer(status, f"{page}{reason}</h1></body></html>".encode(), cause)
        if call.family == "v3":
            return _Answer(status, v3_error(call.response_id, V3.SERVER_ERROR), cause)
        if call.family == "v2":
            return _Answer(status, v2_error("Internal Server Error"), cause)
        return _Answer(
            status, legacy_error(status, "Internal Server Error. Contact MoEngage Team"), cause
        )

    def _rate_limited(self, call: _Call, breach: Breach) -> _Answer:
        cause = "rate_limit_other_tenant" if breach.other_tenant else "rate_limit"
        detail = f"{breach.group} {breach.window.limit}/{breach.seconds:g}s"
        if call.family == "v3":
            what = V3.rate_limited(breach.window.limit, breach.seconds)
        else:
            what = V2.RATE_LIMIT
        return self._error(call, 429, what, cause, detail)

    # ----------------------------------------------------------------- the pipeline
    async def _dispatch(self, call: _Call) -> _Answer:
        denied = self._authenticate(call)
        if denied is not None:
            return denied
        assert call.workspace is not None
        ws = call.workspace.workspace_id
        if call.route in _FILE_ROUTES and self._tg is None:
            raise RuntimeError(
                "file segments are processed in the background: enter "
                "`async with sandbox.running():` (or serve the app with its lifespan) first"
            )
        group = self.config.operations.get(call.route)
        if group is not None:
            for tenant in self._draw(OtherTenant, call.route):
                self._quota.spend_free(ws, tenant.group, call.arrival, tenant.amount)
            breach = self._quota.admit(ws, group, call.arrival)
            if breach is not None:
                return self._rate_limited(call, breach)
        for err in self._draw(ServerErrorFault, call.route, "before"):
            return self._server_error(call, err, "before")
        handler = getattr(self, f"_route_{call.route}")
        answer: _Answer = await handler(call)
        return attrs.evolve(answer, processed=True)

    def _authenticate(self, call: _Call) -> _Answer | None:
        if call.family == "legacy":
            return self._authenticate_legacy(call)
        h = call.headers
        if call.family == "v3":
            appkey, db = h.get("moe-appkey"), h.get("moe-dbname")
            ws = self._by_id.get(appkey) if appkey else self._by_db.get(db or "")
            if ws is None:
                return self._error(call, 400, V3.CLIENT_NOT_FOUND, "client_not_found")
        else:
            ws = self._by_db.get(h.get("moe-dbname", ""))
            if ws is None:
                return self._error(call, 400, V2.CLIENT_NOT_FOUND, "client_not_found")
        call.workspace = ws
        user, password = self._basic(h.get("authorization", ""))
        if call.family == "v2":
            if not (_same(user, ws.workspace_id) and _same(password, ws.api_key)):
                return self._error(call, 401, V2.AUTH, "auth")
            return None
        if user is not None and not _same(user, ws.workspace_id):
            return self._error(call, 401, V3.APP_KEY_MISMATCH, "auth", "user is not the app key")
        if not _same(password, ws.api_key):
            return self._error(call, 401, V3.SECRET_MISMATCH, "auth", "bad or missing api key")
        return None

    @staticmethod
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

    def _authenticate_legacy(self, call: _Call) -> _Answer | None:
        data = _json_object(call.body)
        if data is None:
            return self._error(call, 400, ("", "Bad Value for request body"), "invalid_format")
        for field in (
            "appId",
            "attribute",
            "attributeType",
            "segName",
            "csvUrl",
            "callback",
            "signature",
        ):
            if not isinstance(data.get(field), str) or not data[field]:
                return self._error(call, 400, ("", f"Bad Value for {field}"), "invalid_format")
        ws = self._by_id.get(data["appId"])
        if ws is None:
            return self._error(call, 400, ("", "Bad Value for appId"), "client_not_found")
        call.workspace = ws
        expected = sha256(f"{ws.workspace_id}|{data['segName']}|{ws.legacy_api_secret}".encode())
        if not _same(data["signature"].lower(), expected.hexdigest()):
            call.workspace = None
            return self._error(call, 401, ("", "Unauthorized"), "auth", "bad signature")
        call.data = data
        return None

    # ----------------------------------------------------------------- v3 routes
    def _ok(self, status: int, data: Any, call: _Call, cause: str) -> _Answer:
        return _Answer(
            status, {"data": data, "response_id": call.response_id, "type": "custom_segment"}, cause
        )

    def _query_problem(
        self, call: _Call, data: dict[str, Any], own_id: str | None
    ) -> _Answer | None:
        """412 / 413 / unknown referenced segment, for the query in ``data``."""
        store = self._store(call)
        groups = tuple(
            g
            for g in (data.get("included_filters"), data.get("excluded_filters"))
            if isinstance(g, dict)
        )

        def lookup(sid: str) -> tuple[dict[str, Any], ...] | None:
            seg = store.get(sid)
            return None if seg is None else seg.groups()  # type: ignore[return-value]

        try:
            shape = measure(groups, lookup, own_id)
        except CyclicQuery as exc:
            return self._error(call, 412, V3.CYCLIC, "cyclic", f"through {exc}")
        except UnknownSegment as exc:
            return self._error(
                call, 400, V3.INVALID_NAME, "unknown_segment", f"no segment {exc.segment_id}"
            )
        cfg = self.config
        if shape.depth > cfg.max_nesting:
            return self._error(call, 413, V3.too_deep(cfg.max_nesting), "too_deep")
        if len(shape.segments) > cfg.max_segments_per_query:
            what = V3.too_many_segments(cfg.max_segments_per_query)
            return self._error(call, 413, what, "too_many_segments")
        if shape.filters > cfg.max_filters_per_query:
            return self._error(call, 413, V3.QUERY_TOO_LONG, "too_long")
        return None

    def _definition(
        self, call: _Call, payload: dict[str, Any], own_id: str | None
    ) -> tuple[Any, _Answer | None]:
        """Validate, check the query, and look for a duplicate definition."""
        try:
            checked = check_definition(payload)
        except SegmentValidationError as exc:
            return None, self._error(call, 400, V3.INVALID_NAME, "invalid_filters", str(exc))
        store = self._store(call)
        other = store.by_name(payload["name"])
        if other is not None and other.id != own_id:
            return None, self._error(call, 409, V3.name_exists(payload["name"]), "name_conflict")
        problem = self._query_problem(call, payload, own_id)
        if problem is not None:
            return None, problem
        same = store.same_definition(checked.fingerprint, exclude=own_id)
        if same is not None:
            what = V3.filters_exist(same.name)
            return None, self._error(
                call,
                409,
                what,
                "definition_conflict",
                existing_cs_name=same.name,
                existing_cs_id=same.id,
            )
        return checked, None

    def _payload(self, call: _Call, name: Any, data: dict[str, Any]) -> dict[str, Any] | _Answer:
        included = data.get("included_filters")
        excluded = data.get("excluded_filters")
        if not isinstance(name, str) or not isinstance(included, dict):
            return self._error(call, 400, V3.INVALID_FORMAT, "invalid_format")
        if excluded is not None and not isinstance(excluded, dict):
            return self._error(call, 400, V3.INVALID_FORMAT, "invalid_format")
        if invalid_name(name):
            return self._error(call, 400, V3.INVALID_NAME, "invalid_name")
        payload: dict[str, Any] = {"name": name, "included_filters": included}
        if excluded is not None:
            payload["excluded_filters"] = excluded
        return payload

    async def _route_create(self, call: _Call) -> _Answer:
        data = _json_object(call.body)
        if data is None:
            return self._error(call, 400, V3.INVALID_FORMAT, "invalid_format")
        payload = self._payload(call, data.get("name"), data)
        if isinstance(payload, _Answer):
            return payload
        checked, problem = self._definition(call, payload, None)
        if problem is not None:
            return problem
        store = self._store(call)
        limit = self.config.active_segment_limit
        active = store.active_count()
        if active >= limit:
            return self._error(
                call,
                429,
                V3.ACTIVE_LIMIT,
                "active_segment_limit",
                actual_count=active,
                limit=limit,
            )
        now = self._epoch()
        excluded = payload.get("excluded_filters")
        seg = StoredSegment(
            id=self._new_id(),
            name=payload["name"],
            kind="filter",
            created=now,
            updated=now,
            description=checked.description,
            included_filters=echo_group(payload["included_filters"]),
            excluded_filters=echo_group(excluded) if excluded is not None else None,
            fingerprint=checked.fingerprint,
        )
        store.add(seg)
        return self._ok(201, seg.data(), call, "created")

    async def _route_list(self, call: _Call) -> _Answer:
        names = call.query.get("name")
        wanted = names[0] if names else None
        items = [s.summary() for s in self._store(call) if wanted is None or s.name == wanted]
        return self._ok(200, items, call, "listed")

    def _segment(self, call: _Call) -> StoredSegment | _Answer:
        sid = call.params["id"]
        if not _OBJECT_ID.fullmatch(sid):
            return self._error(call, 400, V3.INVALID_ID, "invalid_id")
        seg = self._store(call).get(sid)
        if seg is None:
            return self._error(call, 404, V3.not_found(sid), "not_found")
        return seg

    async def _route_get(self, call: _Call) -> _Answer:
        seg = self._segment(call)
        if isinstance(seg, _Answer):
            return seg
        return self._ok(200, seg.data(), call, "found")

    async def _route_update(self, call: _Call) -> _Answer:
        seg = self._segment(call)
        if isinstance(seg, _Answer):
            return seg
        if seg.kind != "filter" or seg.archived:
            return self._error(call, 403, V3.FORBIDDEN, "forbidden")
        data = _json_object(call.body)
        if data is None:
            return self._error(call, 400, V3.INVALID_FORMAT, "invalid_format")
        payload = self._payload(call, data.get("name", seg.name), data)
        if isinstance(payload, _Answer):
            return payload
        checked, problem = self._definition(call, payload, seg.id)
        if problem is not None:
            return problem
        store = self._store(call)
        if payload["name"] != seg.name:
            store.rename(seg, payload["name"])
        excluded = payload.get("excluded_filters")
        seg.included_filters = echo_group(payload["included_filters"])
        seg.excluded_filters = echo_group(excluded) if excluded is not None else None
        store.set_fingerprint(seg, checked.fingerprint)
        seg.description = checked.description
        seg.updated = self._epoch()
        return self._ok(200, seg.data(), call, "updated")

    # ----------------------------------------------------------------- v2 routes
    def _v2_fields(self, call: _Call, required: tuple[str, ...]) -> dict[str, Any] | _Answer:
        data = _json_object(call.body)
        if data is None:
            return self._error(call, 400, V2.INVALID_FORMAT, "invalid_format")
        for field in required:
            value = data.get(field)
            if field == "expiry_time":
                ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            else:
                ok = isinstance(value, str) and bool(value.strip())
            if not ok:
                return self._error(call, 400, V2.missing(field), "invalid_format", field)
        if "attribute_type" in required and data["attribute_type"] not in ("string", "double"):
            what = V2.invalid("attribute_type must be one of: string, double")
            return self._error(call, 400, what, "invalid_format", "attribute_type")
        callback = data.get("callback_url")
        if callback is not None and not isinstance(callback, str):
            what = V2.invalid("callback_url must be a URL")
            return self._error(call, 400, what, "invalid_format", "callback_url")
        emails = data.get("emails")
        if emails is not None and not (
            isinstance(emails, list) and all(isinstance(e, str) for e in emails)
        ):
            what = V2.invalid("emails must be a list of email ids")
            return self._error(call, 400, what, "invalid_format", "emails")
        return data

    def _v2_target(self, call: _Call, data: dict[str, Any]) -> StoredSegment | _Answer:
        cs_id, name = data.get("cs_id"), data.get("name")
        if not (isinstance(cs_id, str) and cs_id) and not (isinstance(name, str) and name):
            return self._error(call, 400, V2.missing("name"), "invalid_format", "name")
        store = self._store(call)
        if isinstance(cs_id, str) and cs_id:
            seg, key = store.get(cs_id), cs_id
        else:
            seg, key = store.by_name(str(name)), str(name)
        if seg is None:
            return self._error(call, 404, V2.not_found(key), "not_found")
        return seg

    def _active_limited(self, call: _Call) -> _Answer | None:
        limit = self.config.active_segment_limit
        active = self._store(call).active_count()
        if active < limit:
            return None
        if call.family == "legacy":
            return self._error(call, 429, V2.ACTIVE_LIMIT, "active_segment_limit")
        return self._error(call, 429, V2.ACTIVE_LIMIT, "active_segment_limit", f"{active}/{limit}")

    @staticmethod
    def _accepted(message: str, seg: StoredSegment, cause: str, status: int = 202) -> _Answer:
        """The v2 success body (202 for file requests, 200 for archive/unarchive)."""
        body = {"message": message, "success": True, "cs_name": seg.name, "cs_id": seg.id}
        return _Answer(status, body, cause)

    async def _route_file_create(self, call: _Call) -> _Answer:
        required = ("name", "attribute_name", "attribute_type", "file_url", "expiry_time")
        data = self._v2_fields(call, required)
        if isinstance(data, _Answer):
            return data
        name = data["name"]
        if invalid_name(name):
            what = V2.invalid("Segment name must not contain HTML characters/only whitespaces")
            return self._error(call, 400, what, "invalid_name")
        store = self._store(call)
        if store.by_name(name) is not None:
            return self._error(call, 409, V2.name_exists(name), "name_conflict")
        limited = self._active_limited(call)
        if limited is not None:
            return limited
        seg = self._new_file_segment(call, name, data["attribute_name"])
        self._schedule(call, seg, data["file_url"], data.get("callback_url"))
        return self._accepted("File-segment creation request accepted", seg, "accepted")

    def _new_file_segment(self, call: _Call, name: str, attribute: str) -> StoredSegment:
        now = self._epoch()
        seg = StoredSegment(
            id=self._new_id(),
            name=name,
            kind="file",
            created=now,
            updated=now,
            description=f"Users from a file of {attribute} values",
            attribute_name=attribute,
        )
        self._store(call).add(seg)
        return seg

    async def _file_update(self, call: _Call, verb: str) -> _Answer:
        data = self._v2_fields(call, ("attribute_name", "attribute_type", "file_url"))
        if isinstance(data, _Answer):
            return data
        seg = self._v2_target(call, data)
        if isinstance(seg, _Answer):
            return seg
        if seg.kind != "file":
            what = V2.invalid(f"Segment is not a file segment: {seg.name}")
            return self._error(call, 400, what, "not_a_file_segment")
        if seg.archived:
            what = V2.invalid(f"Segment is archived: {seg.name}")
            return self._error(call, 400, what, "archived")
        self._schedule(call, seg, data["file_url"], data.get("callback_url"))
        return self._accepted(f"File-segment user-{verb} request accepted", seg, "accepted")

    async def _route_file_add(self, call: _Call) -> _Answer:
        return await self._file_update(call, "add")

    async def _route_file_remove(self, call: _Call) -> _Answer:
        return await self._file_update(call, "remove")

    async def _route_file_replace(self, call: _Call) -> _Answer:
        return await self._file_update(call, "replace")

    async def _archive(self, call: _Call, archive: bool) -> _Answer:
        data = _json_object(call.body)
        if data is None:
            return self._error(call, 400, V2.INVALID_FORMAT, "invalid_format")
        seg = self._v2_target(call, data)
        if isinstance(seg, _Answer):
            return seg
        if not archive and seg.archived:
            limited = self._active_limited(call)
            if limited is not None:
                return limited
        self._store(call).set_archived(seg, archive)
        verb = "archived" if archive else "unarchived"
        return self._accepted(f"Successfully {verb} the custom segment", seg, verb, 200)

    async def _route_archive(self, call: _Call) -> _Answer:
        return await self._archive(call, True)

    async def _route_unarchive(self, call: _Call) -> _Answer:
        return await self._archive(call, False)

    # ----------------------------------------------------------------- legacy route
    async def _route_legacy_csv(self, call: _Call) -> _Answer:
        data = call.data
        assert data is not None
        name = data["segName"]
        if data["attributeType"] not in _LEGACY_TYPES:
            return self._error(call, 400, ("", "Bad Value for attributeType"), "invalid_format")
        if invalid_name(name):
            return self._error(call, 400, ("", "Bad Value for segName"), "invalid_name")
        request_id = self._request_id()
        if self._store(call).by_name(name) is not None:
            return self._error(
                call,
                409,
                ("", "duplicate request"),
                "name_conflict",
                request_id=request_id,
                segment_name=name,
            )
        limited = self._active_limited(call)
        if limited is not None:
            return limited
        seg = self._new_file_segment(call, name, data["attribute"])
        self._schedule(call, seg, data["csvUrl"], data["callback"], request_id)
        body = {"status": 200, "request_id": request_id, "segment_name": name}
        return _Answer(200, body, "accepted")

    # ----------------------------------------------------------------- background jobs
    def _schedule(
        self,
        call: _Call,
        seg: StoredSegment,
        file_url: str,
        callback_url: str | None,
        request_id: str | None = None,
    ) -> None:
        assert call.workspace is not None
        assert self._tg is not None
        job = _Job(
            route=call.route,
            workspace=call.workspace,
            segment_id=seg.id,
            file_url=file_url,
            callback_url=callback_url or None,
            attribute_name=seg.attribute_name or "",
            request_id=request_id or self._request_id(),
            arrival=call.arrival,
        )
        self._pending += 1
        self._tg.start_soon(self._run_job, job)

    async def _run_job(self, job: _Job) -> None:
        try:
            seg = self._stores[job.workspace.workspace_id].get(job.segment_id)
            assert seg is not None
            status, extra = await self._process(job, seg)
            if job.route == "legacy_csv":
                body: dict[str, object] = {
                    "status": status,
                    **extra,
                    "request_id": job.request_id,
                    "segment_name": seg.name,
                }
            else:
                body = {
                    "db_name": job.workspace.db_name,
                    "segment_name": seg.name,
                    "request_id": job.request_id,
                    **extra,
                    "status": status,
                }
            callback_status: int | None = None
            error: str | None = None
            if job.callback_url:
                try:
                    callback_status = await post_json(
                        job.callback_url,
                        body,
                        transport=self.config.fetch_transport,
                        timeout=self.config.fetch_timeout,
                    )
                except (httpx.HTTPError, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
            self.jobs.append(
                FileJobRecord(
                    job.route,
                    job.workspace.workspace_id,
                    seg.id,
                    seg.name,
                    job.request_id,
                    status,
                    body,
                    job.callback_url,
                    callback_status,
                    error,
                )
            )
        finally:
            self._pending -= 1

    async def _process(self, job: _Job, seg: StoredSegment) -> tuple[int, dict[str, object]]:
        creating = job.route in ("file_create", "legacy_csv")
        suffix = " Created custom_segment contains 0 users." if job.route == "file_create" else ""
        try:
            raw = await fetch_file(
                job.file_url,
                max_bytes=self.config.max_file_bytes,
                transport=self.config.fetch_transport,
                timeout=self.config.fetch_timeout,
            )
            counted = count_csv(raw, job.attribute_name)
        except FileRejected as exc:
            return exc.status, {"error_message": exc.message + suffix}
        values = set(counted.values)
        if job.route == "file_replace":
            weight = len(values - seg.users)
        elif job.route == "legacy_csv":
            weight = 0
        else:
            weight = len(values)
        ws = job.workspace.workspace_id
        if weight and self._quota.admit(ws, "file_users", job.arrival, weight) is not None:
            message = "File segment users limit breached. Please retry after some time."
            return 400, {"error_message": message + suffix}
        if creating or job.route == "file_replace":
            user_count = len(values)
            seg.users = values
        elif job.route == "file_add":
            user_count = len(values)
            seg.users |= values
        else:
            user_count = len(values & seg.users)
            seg.users -= values
        seg.updated = self._epoch()
        return 201, {
            "values_found": counted.found,
            "values_processed": len(values),
            "user_count": user_count,
        }


def _same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a credential."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
