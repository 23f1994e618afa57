# The quota governor. Layout: _policy holds quotas as data (Window, QuotaGroup, QuotaPolicy);
# _clock the one injectable clock; _store the Store protocol every backend implements, with the
# reference admission rule; _memory the in-process store.
"""Exact multi-window sliding quotas for MoEngage's APIs, shared per workspace."""

from ._clock import AnyioClock, Clock, WallClock
from ._memory import MemoryStore
from ._policy import USERS, OperationCost, QuotaGroup, QuotaPolicy, Window
from ._store import (
    Admission,
    Denied,
    EntryState,
    GroupState,
    Store,
    decide,
    fit_time,
    release_time,
)

__all__ = [
    "Admission",
    "AnyioClock",
    "Clock",
    "decide",
    "Denied",
    "EntryState",
    "fit_time",
    "GroupState",
    "MemoryStore",
    "OperationCost",
    "QuotaGroup",
    "QuotaPolicy",
    "release_time",
    "Store",
    "USERS",
    "WallClock",
    "Window",
]
