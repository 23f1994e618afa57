# The quota governor. Layout: _policy holds quotas as data (Window, QuotaGroup, QuotaPolicy);
# _clock the clocks a store reads; _store the Store protocol every backend implements; _memory,
# _sqlite, _redis the backends; _plan side-effect-free planning (Plan, Eta); _governor the
# Governor (leases, FIFO waiting, 429 pauses); _registry the per-workspace registry.
"""Exact multi-window sliding quotas for MoEngage's APIs, shared per workspace."""

from ._clock import AnyioClock as AnyioClock
from ._clock import Clock
from ._clock import MonotonicClock as MonotonicClock
from ._clock import WallClock as WallClock
from ._governor import Governor
from ._governor import Lease as Lease
from ._memory import MemoryStore
from ._plan import Eta
from ._plan import Plan as Plan
from ._policy import USERS as USERS
from ._policy import OperationCost as OperationCost
from ._policy import QuotaGroup, QuotaPolicy, Window
from ._redis import RedisStore
from ._registry import get_governor
from ._sqlite import SQLiteStore
from ._sqlite import default_sqlite_path as default_sqlite_path
from ._store import Demand as Demand
from ._store import Denied as Denied
from ._store import Granted as Granted
from ._store import GroupView as GroupView
from ._store import Store, StoreUnavailable
from ._store import WindowView as WindowView

# What users build and call; the rest above is importable by moeseg's own packages and tests
# (explicit re-exports) without being promised as API.
__all__ = [
    "Clock",
    "Eta",
    "get_governor",
    "Governor",
    "MemoryStore",
    "QuotaGroup",
    "QuotaPolicy",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "StoreUnavailable",
    "Window",
]
