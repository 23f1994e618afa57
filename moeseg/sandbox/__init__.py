# The sandbox: a strict local MoEngage stand-in. _app: the Starlette app (its route table) and
# the public Sandbox; _pipeline: the middleware every route runs through (request log, _auth,
# quota, faults); _v3 / _v2: the route handlers; _state: what a sandbox holds; _answers: calls
# and answers; _config / _faults: configuration; _quota: sliding-window logs; _store: segments;
# _filters / _definitions: query checks; _jobs / _files: background file jobs; _bodies: the
# documented bodies; _log: records; _serve / __main__: serving from a shell.
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

from .._asgi_server import serve_app
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
from ._serve import banner, serve, serve_command, serve_forever
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
    "serve_command",
    "serve_forever",
]
