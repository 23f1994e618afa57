# The quota governor. Layout: _policy holds quotas as data (Window, QuotaGroup, QuotaPolicy);
# _clock the one injectable clock; _store the Store protocol every backend implements, with the
# reference admission rule; _memory the in-process store; _plan side-effect-free planning;
# _governor the Governor (leases, FIFO waiting, 429 pauses) and the per-workspace registry.
"""Exact multi-window sliding quotas for MoEngage's APIs, shared per workspace."""

from ._clock import AnyioClock, Clock, WallClock
from ._governor import Governor, Lease, get_governor
from ._memory import MemoryStore
from ._plan import Plan
from ._policy import USERS, OperationCost, QuotaGroup, QuotaPolicy, Window
from ._redis import RedisStore
from ._sqlite import SQLiteStore, default_sqlite_path
from ._store import (
    Admission,
    Denied,
    EntryState,
    GroupState,
    Store,
    decide,
    fit_time,
)

__all__ = [
    "Admission",
    "AnyioClock",
    "Clock",
    "decide",
    "default_sqlite_path",
    "Denied",
    "EntryState",
    "fit_time",
    "get_governor",
    "Governor",
    "GroupState",
    "Lease",
    "MemoryStore",
    "OperationCost",
    "Plan",
    "QuotaGroup",
    "QuotaPolicy",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "USERS",
    "WallClock",
    "Window",
]
