"""The sandbox: a Starlette app that answers like MoEngage's custom-segment APIs.

The app is its route table (below); every route takes the steps of ``_pipeline`` (latency in
transit → request log → authentication → quota → faults → handler). File jobs run in the
background in a task group opened by ``Sandbox.running()`` or by the app's lifespan (uvicorn
runs the lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._asgi_server import serve_app
from . import _v2 as v2
from . import _v3 as v3
from ._answers import Family
from ._cohortsync import cohort_sync
from ._config import SandboxConfig
from ._faults import FaultConfig, FaultDice
from ._pipeline import Endpoint, Handler
from ._state import RequestRecord, SandboxState, StoredSegment

__all__ = ["TIME_SCALE_HEADER", "Sandbox"]

#: Sent on every answer: the factor the sandbox multiplies quota windows by, so a client whose
#: governor runs at another scale can say so instead of waiting for unscaled windows.
TIME_SCALE_HEADER = "x-moeseg-sandbox-time-scale"

_V3 = "/v3/custom-segments"
_FILES = "/v2/custom-segments/file-segment"
_ROUTES: tuple[tuple[str, str, str, Family, Handler], ...] = (
    ("POST", _V3, "create", "v3", v3.create),
    ("GET", _V3, "list", "v3", v3.list_segments),
    ("GET", _V3 + "/{id}", "get", "v3", v3.get),
    ("PATCH", _V3 + "/{id}", "update", "v3", v3.update),
    ("POST", _FILES, "file_create", "v2", v2.file_create),
    ("PUT", _FILES + "/add-users", "file_add", "v2", v2.file_update),
    ("PUT", _FILES + "/remove-users", "file_remove", "v2", v2.file_update),
    ("PUT", _FILES + "/replace", "file_replace", "v2", v2.file_update),
    ("PATCH", "/v2/custom-segments/archive", "archive", "v2", v2.archive),
    ("PATCH", "/v2/custom-segments/unarchive", "unarchive", "v2", v2.archive),
    ("POST", "/csv_segment", "legacy_csv", "legacy", v2.legacy_csv),
    ("POST", "/v1/integrations/cohortsync", "cohort_sync", "cohort", cohort_sync),
)


class _EveryAnswer:
    """Adds the time-scale header to every answer; ignores a trailing slash, as MoEngage does."""

    def __init__(self, app: ASGIApp, time_scale: float) -> None:
        self.app = app
        self.header = (TIME_SCALE_HEADER.encode(), repr(float(time_scale)).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, with_header)


class Sandbox(SandboxState):
    """A strict local stand-in for MoEngage's custom-segment APIs.

    ``sandbox.app`` is the ASGI app (v3, v2, Cohort Sync's ``POST /v1/integrations/cohortsync``
    and the legacy ``POST /csv_segment``). Use it in
    process with ``httpx.ASGITransport(app=sandbox.app)``, or serve it over loopback with
    ``async with sandbox.serve(port=0) as base_url``. File jobs need a running task group:
    ``async with sandbox.running():`` in process (the ASGI lifespan does it under uvicorn).
    Observability: ``log`` (every request), ``jobs`` (every file job), ``too_many_requests``
    (429s by cause), ``max_in_window(group, seconds)``. Every answer carries the header
    ``x-moeseg-sandbox-time-scale``.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        super().__init__(config)
        routes = [
            Route(path, Endpoint(self, name, family, handler), methods=[method], name=name)
            for method, path, name, family, handler in _ROUTES
        ]
        #: The ASGI application.
        self.app = Starlette(
            routes=routes,
            middleware=[Middleware(_EveryAnswer, self.config.time_scale)],
            exception_handlers={404: self._unrouted, 405: self._unrouted},
            lifespan=self._lifespan,
        )
        self.app.router.redirect_slashes = False

    def __repr__(self) -> str:
        return (
            f"<Sandbox workspace={self.workspace_id!r} segments={len(self.segments())} "
            f"requests={len(self.log)} running={self.task_group is not None}>"
        )

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
        return self.dice.config

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault rules and reseed the fault RNG with ``faults.seed``."""
        self.dice = FaultDice(faults)

    def segments(self, workspace_id: str | None = None) -> list[StoredSegment]:
        """The segments a workspace holds (live records: read, do not modify)."""
        return list(self.stores[workspace_id or self.workspace_id])

    def find(self, name: str, workspace_id: str | None = None) -> StoredSegment | None:
        """The segment called ``name``."""
        return self.stores[workspace_id or self.workspace_id].by_name(name)

    def seed_segment(
        self,
        payload: Mapping[str, Any],
        *,
        source: str = "DASHBOARD",
        archived: bool = False,
        workspace_id: str | None = None,
    ) -> StoredSegment:
        """Put a filter segment straight into a workspace, as if made elsewhere: on the
        dashboard by default, which makes it read-only to the API (update answers 403, as for
        MoEngage's internally made segments); ``source="API"`` makes an ordinary one. No request
        is logged and no quota is spent; the timestamps come from the sandbox clock (call it in
        the event loop, or give ``SandboxConfig(clock=...)``). Raises ``SegmentValidationError``
        for an invalid definition and ``ValueError`` when the name or the definition is taken."""
        return v3.seed(self, payload, source, archived, workspace_id or self.workspace_id)

    def spend(self, group: str, amount: int = 1, workspace_id: str | None = None) -> int:
        """Another tenant spends up to ``amount`` free units of ``group`` now; how many."""
        ws = workspace_id or self.workspace_id
        return self.quota.spend_free(ws, group, self.now(), amount)

    def max_in_window(self, group: str, seconds: float, workspace_id: str | None = None) -> int:
        """The most requests of ``group`` that arrived inside any window of ``seconds``
        (every arrival of the workspace, whatever its answer)."""
        ws = workspace_id or self.workspace_id
        times = sorted(r.arrival for r in self.log if r.group == group and r.workspace == ws)
        best = lo = 0
        for hi, t in enumerate(times):
            while times[lo] + seconds <= t:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Sandbox]:
        """Run background file jobs in a task group; on exit, wait for the pending ones."""
        if self.task_group is not None:
            raise RuntimeError("this Sandbox is already running")
        async with anyio.create_task_group() as tg:
            self.task_group = tg
            try:
                yield self
            finally:
                self.task_group = None

    async def wait_idle(self, poll: float = 0.01) -> None:
        """Wait until no file job is pending (works from any thread's event loop)."""
        # Polling, not an Event: the jobs may run on another thread's loop (serve()).
        while self.pending:  # noqa: ASYNC110
            await anyio.sleep(poll)

    @asynccontextmanager
    async def serve(self, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[str]:
        """``async with sandbox.serve(port=0) as base_url``: uvicorn on loopback in a thread;
        its lifespan runs the background file jobs. The sandbox reads ``time.monotonic()``
        meanwhile (uvicorn's asyncio clock, the same from every thread)."""
        if self.served:
            raise RuntimeError("this Sandbox is already being served")
        self.served = True
        try:
            async with serve_app(self.app, host, port) as base_url:
                yield base_url
        finally:
            self.served = False

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self.running():
            yield

    async def _unrouted(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status, method, path = exc.status_code, request.method, request.url.path
        self.record(
            RequestRecord(self.now(), method, path, None, None, None, status, status, "no_route")
        )
        return JSONResponse({"detail": exc.detail}, status, headers=exc.headers)
