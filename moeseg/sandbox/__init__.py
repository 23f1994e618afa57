# The sandbox: a strict local MoEngage stand-in. _app: the Starlette app (its route table) and
# the public Sandbox; _pipeline: the steps every route takes (log, auth, quota, faults, the
# handler); _v3 / _v2: the handlers; _state: what a sandbox holds (segments, records); _answers /
# _bodies: calls and answers; _config / _faults: configuration; _quota: sliding-window logs;
# _filters: query checks; _jobs: background file jobs; _serve: the shell.
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

from .._asgi_server import serve_app as serve_app
from ._app import Sandbox
from ._config import DEFAULT_OPERATIONS as DEFAULT_OPERATIONS
from ._config import QuotaGroupSpec as QuotaGroupSpec
from ._config import QuotaWindow as QuotaWindow
from ._config import SandboxConfig
from ._config import WorkspaceCredentials as WorkspaceCredentials
from ._config import default_quota_groups as default_quota_groups
from ._faults import DropConnection, FaultConfig, LatencyFault, OtherTenant, ServerErrorFault
from ._faults import FaultRule as FaultRule
from ._faults import Latency as Latency
from ._serve import banner as banner
from ._serve import serve_command as serve_command
from ._serve import serve_forever as serve_forever
from ._state import FileJobRecord as FileJobRecord
from ._state import RequestRecord as RequestRecord
from ._state import StoredSegment as StoredSegment

# What a user configures and runs. The rest above stays importable (tests, the CLI) without
# being promised as API.
__all__ = [
    "DropConnection",
    "FaultConfig",
    "LatencyFault",
    "OtherTenant",
    "Sandbox",
    "SandboxConfig",
    "ServerErrorFault",
]
