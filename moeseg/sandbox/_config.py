"""Configuration of the sandbox: credentials, quotas, query limits, files, faults, clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import attrs
import httpx

from ..governor import QuotaPolicy
from ._faults import FaultConfig

__all__ = [
    "DEFAULT_OPERATIONS",
    "QuotaGroupSpec",
    "QuotaWindow",
    "SandboxConfig",
    "WorkspaceCredentials",
    "default_quota_groups",
]


@attrs.frozen(slots=True)
class QuotaWindow:
    """At most ``limit`` units (requests, or users for a weighted group) in any ``seconds``."""

    limit: int
    seconds: float


@attrs.frozen(slots=True)
class QuotaGroupSpec:
    """A named pool of sliding windows; ``weighted`` groups count users instead of requests."""

    name: str
    windows: tuple[QuotaWindow, ...]
    weighted: bool = False


# The documented limits are written once, in the governor's policy; the sandbox enforces them.
_MOENGAGE = QuotaPolicy.moengage()
_COUNTED = {g.name for g in _MOENGAGE.groups if not g.weighted}


def default_quota_groups() -> tuple[QuotaGroupSpec, ...]:
    """MoEngage's documented limits (see DESIGN.md): one spec per quota group."""
    return tuple(
        QuotaGroupSpec(
            g.name, tuple(QuotaWindow(w.limit, w.seconds) for w in g.windows), g.weighted
        )
        for g in _MOENGAGE.groups
    )


#: Which request-counted quota group each route spends (archive/unarchive spend none). The
#: weighted ``file_users`` group is charged when a file has been counted (see ``_jobs``).
DEFAULT_OPERATIONS: Mapping[str, str] = MappingProxyType(
    {op: g for op, cost in _MOENGAGE.operations.items() for g in cost.keys() & _COUNTED}
)


@attrs.frozen(slots=True)
class WorkspaceCredentials:
    """One workspace the sandbox knows. Sandbox-only values: safe to print, never real keys.

    ``workspace_id`` doubles as the app id (``MOE-APPKEY``, the legacy ``appId``).
    """

    workspace_id: str = "SANDBOX_WORKSPACE"
    api_key: str = attrs.field(default="sandbox-api-key", repr=False)
    db_name: str = "sandbox_db"
    legacy_api_secret: str = attrs.field(default="sandbox-legacy-secret", repr=False)


def _positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(slots=True)
class SandboxConfig:
    """Everything configurable about a :class:`~moeseg.sandbox.Sandbox`.

    - ``workspaces``: the known workspaces (the first is the default one).
    - ``quota_groups`` / ``operations``: quota windows per group and the group of each route;
      ``time_scale`` multiplies every window's length (0.001 turns a day into 86.4 s).
    - ``active_segment_limit``: active (non-archived) segments per workspace, all kinds.
    - ``max_nesting``, ``max_segments_per_query``, ``max_filters_per_query``: the 413 limits
      (MoEngage does not publish the figures; these defaults are the sandbox's).
    - ``max_file_bytes``: the file-size limit (150 MB).
    - ``known_uids``: the users Cohort Sync can match (``None``: every uid is a known user);
      ``suspended``: workspace id -> the 403 ``type`` Cohort Sync answers it with
      (``"Account Suspended"``, ``"Account Temporarily Suspended"`` or ``"BlockedClient"``).
    - ``faults``: fault injection rules and the RNG seed (also used for ids).
    - ``clock``: seconds as a float; ``None`` reads ``anyio.current_time()`` (the event loop's
      clock, so a test on trio's MockClock runs a simulated day in milliseconds).
    - ``fetch_transport``: an httpx transport for file downloads and callbacks; ``None`` uses
      real HTTP, restricted to loopback hosts.
    """

    workspaces: tuple[WorkspaceCredentials, ...] = (WorkspaceCredentials(),)
    quota_groups: tuple[QuotaGroupSpec, ...] = attrs.field(factory=default_quota_groups)
    operations: Mapping[str, str] = DEFAULT_OPERATIONS
    time_scale: float = attrs.field(default=1.0, validator=_positive)
    active_segment_limit: int = 1000
    max_nesting: int = 5
    max_segments_per_query: int = 10
    max_filters_per_query: int = 200
    max_file_bytes: int = 150 * 1024 * 1024
    known_uids: frozenset[str] | None = None
    suspended: Mapping[str, str] = attrs.field(factory=dict)
    faults: FaultConfig = attrs.field(factory=FaultConfig)
    clock: Callable[[], float] | None = None
    fetch_transport: httpx.AsyncBaseTransport | None = None
    fetch_timeout: float = 30.0

    def __attrs_post_init__(self) -> None:
        if not self.workspaces:
            raise ValueError("SandboxConfig needs at least one workspace")
        names = {g.name for g in self.quota_groups}
        unknown = sorted(set(self.operations.values()) - names)
        if unknown:
            raise ValueError(f"operations name unknown quota groups: {unknown}")

    def group(self, name: str) -> QuotaGroupSpec | None:
        """The quota group called ``name``, if configured."""
        for g in self.quota_groups:
            if g.name == name:
                return g
        return None
