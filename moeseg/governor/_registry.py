"""The process-wide registry: one governor per workspace, shared by every client of it."""

from __future__ import annotations

import threading

from .._exceptions import ConfigurationError
from ._clock import MonotonicClock, WallClock
from ._governor import Governor
from ._memory import MemoryStore
from ._policy import QuotaPolicy
from ._store import Store

__all__ = ["get_governor"]

_registry: dict[str, Governor] = {}
_registry_lock = threading.Lock()


def get_governor(
    workspace_id: str, policy: QuotaPolicy | None = None, store: Store | None = None
) -> Governor:
    """The one governor of ``workspace_id`` in this process (created on first use).

    Every client of a workspace shares it, so that their requests count together. Its default
    store keeps time by ``time.monotonic()``, right across event loops and runs. Asking again
    with another policy or store is a :class:`moeseg.ConfigurationError`, and so is a store on
    an injected clock (virtual time): such a governor is never shared.
    """
    if store is not None and not isinstance(store.clock, MonotonicClock | WallClock):
        raise ConfigurationError(
            f"a store on {store.clock!r} cannot be shared through get_governor: "
            "build a Governor for it"
        )
    with _registry_lock:
        gov = _registry.get(workspace_id)
        if gov is None:
            store = store if store is not None else MemoryStore(clock=MonotonicClock())
            gov = _registry[workspace_id] = Governor(policy, store=store)
            return gov
    if policy is not None and policy != gov.policy:
        raise ConfigurationError(
            f"workspace {workspace_id!r} already has a governor with another policy"
        )
    if store is not None and store is not gov.store:
        raise ConfigurationError(
            f"workspace {workspace_id!r} already has a governor with another store"
        )
    return gov
