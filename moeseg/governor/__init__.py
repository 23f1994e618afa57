# The quota governor. Layout: _policy holds quotas as data (Window, QuotaGroup, QuotaPolicy);
# _clock the clocks a store reads; _store the Store protocol every backend implements; _memory,
# _sqlite, _redis the backends; _plan side-effect-free planning (Plan, Eta); _governor the
# Governor (leases, FIFO waiting, 429 pauses) and the per-workspace registry.
"""Exact multi-window sliding quotas for MoEngage's APIs, shared per workspace."""

from ._clock import AnyioClock, Clock, MonotonicClock, WallClock
from ._governor import Governor, Lease, get_governor
from ._memory import MemoryStore
from ._plan import Eta, Plan
from ._policy import USERS, OperationCost, QuotaGroup, QuotaPolicy, Window
from ._redis import RedisStore
from ._sqlite import SQLiteStore, default_sqlite_path
from ._store import (
    Demand,
    Denied,
    Granted,
    GroupView,
    Store,
    StoreUnavailable,
    WindowView,
    fit_time,
)

__all__ = [
    "AnyioClock",
    "Clock",
    "default_sqlite_path",
    "Demand",
    "Denied",
    "Eta",
    "fit_time",
    "get_governor",
    "Governor",
    "Granted",
    "GroupView",
    "Lease",
    "MemoryStore",
    "MonotonicClock",
    "OperationCost",
    "Plan",
    "QuotaGroup",
    "QuotaPolicy",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "StoreUnavailable",
    "USERS",
    "WallClock",
    "Window",
    "WindowView",
]
