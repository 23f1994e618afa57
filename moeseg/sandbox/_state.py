"""What a sandbox holds: workspaces' segments, quota logs, the clock, ids, faults, records."""

from __future__ import annotations

import random
import time
from collections import Counter

import anyio
import anyio.abc

from ._config import SandboxConfig, WorkspaceCredentials
from ._faults import FaultDice
from ._log import FileJobRecord, RequestRecord
from ._quota import QuotaBook
from ._store import WorkspaceStore

__all__ = ["SandboxState"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class SandboxState:
    """The state every layer of the sandbox reads and changes (``Sandbox`` adds the public
    surface and the HTTP app on top)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.log: list[RequestRecord] = []
        self.jobs: list[FileJobRecord] = []
        self.too_many_requests: Counter[str] = Counter()
        #: True while served over HTTP by uvicorn (see ``now``).
        self.served = False
        self.dice = FaultDice(self.config.faults)
        self.quota = QuotaBook(self.config.quota_groups, self.config.time_scale)
        self.stores = {w.workspace_id: WorkspaceStore() for w in self.config.workspaces}
        self.by_id = {w.workspace_id: w for w in self.config.workspaces}
        self.by_db = {w.db_name: w for w in self.config.workspaces}
        self.task_group: anyio.abc.TaskGroup | None = None
        self.pending = 0
        self._ids = random.Random(f"ids-{self.config.faults.seed}")
        self._epoch0 = time.time()
        self._t0: float | None = None

    def now(self) -> float:
        """The sandbox clock: ``config.clock``, else the event loop's clock in process, or
        ``time.monotonic()`` while served by uvicorn (its asyncio loop's clock, readable from
        any thread, so ``spend()`` from a test's trio loop agrees with the server)."""
        clock = self.config.clock
        if clock is not None:
            return clock()
        return time.monotonic() if self.served else anyio.current_time()

    def epoch(self) -> float:
        """Unix time on the sandbox clock (for ``created_time``/``updated_time``)."""
        now = self.now()
        if self._t0 is None:
            self._t0 = now
        return self._epoch0 + (now - self._t0)

    def store(self, workspace: WorkspaceCredentials | None) -> WorkspaceStore:
        """The segments of an authenticated workspace."""
        assert workspace is not None
        return self.stores[workspace.workspace_id]

    def new_id(self) -> str:
        """A fresh 24-hex-digit object id (timestamp first, as BSON ids)."""
        return f"{int(self.epoch()) & 0xFFFFFFFF:08x}{self._ids.getrandbits(64):016x}"

    def response_id(self) -> str:
        """A v3 ``response_id``."""
        return "".join(self._ids.choice(_LETTERS) for _ in range(8))

    def request_id(self) -> str:
        """A file job's ``request_id``."""
        return f"{self._ids.getrandbits(128):032x}"

    def record(self, record: RequestRecord, index: int | None = None) -> int:
        """Log a request (replacing entry ``index`` when given); its index in the log."""
        if index is None:
            self.log.append(record)
            index = len(self.log) - 1
        else:
            self.log[index] = record
        if record.status == 429:
            self.too_many_requests[record.cause] += 1
        return index
