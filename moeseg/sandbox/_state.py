"""What a sandbox holds: workspaces' segments (filter, file and Cohort Sync alike), quota logs, the
clock, ids, faults, and the records of requests and file jobs."""

from __future__ import annotations

import datetime as _dt
import random
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import anyio
import anyio.abc
import attrs

from ._config import SandboxConfig, WorkspaceCredentials
from ._faults import FaultDice
from ._quota import QuotaBook

__all__ = ["FileJobRecord", "RequestRecord", "SandboxState", "StoredSegment", "WorkspaceStore"]

SegmentKind = Literal["filter", "file", "cohort"]
_SUMMARY = frozenset({"name", "id", "created_time", "type", "source"})


def iso_time(epoch: float) -> str:
    """MoEngage's timestamp form: ``2022-12-20T06:21:44.112000`` (UTC, no zone suffix)."""
    return (
        _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
        .replace(tzinfo=None)
        .isoformat(timespec="microseconds")
    )


@attrs.define(slots=True)
class StoredSegment:
    """One segment. ``included_filters`` / ``excluded_filters`` are stored as echoed;
    ``fingerprint`` (filter segments) detects duplicate definitions; ``users`` (file
    and Cohort Sync segments) holds the identifiers of the users in the segment; ``cohort_id``
    is a Cohort Sync segment's key. ``source`` is ``"API"`` for
    segments made through the API; others (made on the dashboard, see
    ``Sandbox.seed_segment``) are read-only to the API. ``updated_by``: the email the last
    update named (never echoed: MoEngage's answers do not carry it)."""

    id: str
    name: str
    kind: SegmentKind
    created: float
    updated: float
    description: str = ""
    included_filters: dict[str, Any] | None = None
    excluded_filters: dict[str, Any] | None = None
    fingerprint: str | None = None
    archived: bool = False
    attribute_name: str | None = None
    users: set[str] = attrs.field(factory=set)
    source: str = "API"
    updated_by: str | None = None
    cohort_id: str | None = None

    @property
    def type(self) -> str:
        """The ``type`` field of responses."""
        return "ELASTIC_SEARCH" if self.kind == "filter" else "FILE"  # a cohort too: a uid list

    def groups(self) -> tuple[Mapping[str, Any], ...]:
        """The filter groups of the definition (none for a file segment)."""
        return tuple(g for g in (self.included_filters, self.excluded_filters) if g is not None)

    def data(self) -> dict[str, Any]:
        """The full ``data`` object of get/create/update."""
        out: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "created_time": iso_time(self.created),
            "updated_time": iso_time(self.updated),
            "type": self.type,
            "source": self.source,
            "description": self.description,
        }
        if self.included_filters is not None:
            out["included_filters"] = self.included_filters
        if self.excluded_filters is not None:
            out["excluded_filters"] = self.excluded_filters
        return out

    def summary(self) -> dict[str, Any]:
        """The list-item form."""
        return {k: v for k, v in self.data().items() if k in _SUMMARY}


class WorkspaceStore:
    """Segments of one workspace, by id. (A sandbox holds hundreds of segments at most, so the
    other look-ups scan.)"""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredSegment] = {}

    def __iter__(self) -> Iterator[StoredSegment]:
        return iter(list(self._by_id.values()))

    def get(self, segment_id: str) -> StoredSegment | None:
        return self._by_id.get(segment_id)

    def by_name(self, name: str) -> StoredSegment | None:
        return next((s for s in self._by_id.values() if s.name == name), None)

    def add(self, seg: StoredSegment) -> None:
        self._by_id[seg.id] = seg

    def active_count(self) -> int:
        """Segments that count toward the active-segment limit (archived ones do not)."""
        return sum(not s.archived for s in self._by_id.values())

    def same_definition(self, fingerprint: str, exclude: str | None = None) -> StoredSegment | None:
        """An active filter segment with this definition fingerprint (other than ``exclude``)."""
        same = (s for s in self if s.fingerprint == fingerprint and not s.archived)
        return min((s for s in same if s.id != exclude), key=lambda s: s.id, default=None)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@attrs.frozen(slots=True)
class RequestRecord:
    """One request as the sandbox saw it.

    ``arrival`` is the sandbox clock when the request arrived (after any in-transit latency
    fault); ``route`` is the operation name (``None`` for an unknown path); ``group`` the
    request-counted quota group of the route; ``status`` what the client received (0: the
    connection was dropped) and ``processed_status`` what processing produced (they differ
    under "after processing" faults); ``cause`` says why (``created``, ``rate_limit``,
    ``rate_limit_other_tenant``, ``active_segment_limit``, ``name_conflict``,
    ``fault_500_after``, ``dropped``, ``abandoned`` when the client went away before the
    answer...) and ``detail`` adds specifics. A request is logged from its arrival on.
    """

    arrival: float
    method: str
    path: str
    route: str | None
    group: str | None
    workspace: str | None
    status: int
    processed_status: int
    cause: str
    detail: str = ""


@attrs.frozen(slots=True)
class FileJobRecord:
    """The outcome of one background file job (v2 file operation or legacy CSV upload).

    ``callback`` is the body that was (or would have been) POSTed; ``callback_status`` the
    receiver's HTTP status, ``None`` when there was no callback URL or delivery failed
    (``callback_error`` then says why).
    """

    route: str
    workspace: str
    segment_id: str
    segment_name: str
    request_id: str
    status: int
    callback: dict[str, object]
    callback_url: str | None
    callback_status: int | None
    callback_error: str | None = None


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

    def new_segment(
        self, store: WorkspaceStore, name: str, kind: SegmentKind, **fields: Any
    ) -> StoredSegment:
        """Store a segment made now, with a fresh id."""
        now = self.epoch()
        seg = StoredSegment(self.new_id(), name, kind, now, now, **fields)
        store.add(seg)
        return seg

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
