# The sandbox: a strict local MoEngage stand-in. _app holds the ASGI app and the request
# pipeline; _config / _faults its configuration; _quota the sliding-window logs; _store the
# segments; _filters and _definitions the query checks; _files background CSV jobs; _bodies the
# documented bodies; _log observability; _serve uvicorn on loopback; __main__ the CLI.
"""A strict local MoEngage-compatible server for tests, demos and CI.

In process::

    sandbox = Sandbox()
    async with sandbox.running():          # background file jobs
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.invalid") as c:
            ...

Over real HTTP: ``async with sandbox.serve(port=0) as base_url: ...``, or from a shell
``python -m moeseg.sandbox --port 8080``.
"""

from ._app import Sandbox
from ._config import (
    DEFAULT_OPERATIONS,
    QuotaGroupSpec,
    QuotaWindow,
    SandboxConfig,
    WorkspaceCredentials,
    default_quota_groups,
)
from ._faults import (
    DropConnection,
    FaultConfig,
    FaultRule,
    Latency,
    LatencyFault,
    OtherTenant,
    ServerErrorFault,
)
from ._log import FileJobRecord, RequestRecord
from ._serve import banner, serve, serve_app, serve_forever
from ._store import StoredSegment

__all__ = [
    "DEFAULT_OPERATIONS",
    "DropConnection",
    "FaultConfig",
    "FaultRule",
    "FileJobRecord",
    "Latency",
    "LatencyFault",
    "OtherTenant",
    "QuotaGroupSpec",
    "QuotaWindow",
    "RequestRecord",
    "Sandbox",
    "SandboxConfig",
    "ServerErrorFault",
    "StoredSegment",
    "WorkspaceCredentials",
    "banner",
    "default_quota_groups",
    "serve",
    "serve_app",
    "serve_forever",
]
