"""What a plan costs in quota, and how long that takes at best, offline: the governor's policy
data and its planner (``moeseg.governor.Plan``). ``_fetch.governor_costs`` asks a live
governor for the ETA from the quota as it is now.

GETs that check drift spend the get group (MoEngage: 100/60 s, 1,000/3,600 s, 4,000/86,400 s);
creates, updates and the one list spend the create/list/update group (50/60 s, 200/3,600 s,
1,000/86,400 s). Archive and unarchive have no published quota.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs

from ..governor import GroupView, QuotaGroup, QuotaPolicy, Window, WindowView
from ..governor import Plan as GovernorPlan

__all__ = ["QuotaCost", "quota_costs", "sliding_window_eta"]


@attrs.frozen(slots=True)
class QuotaCost:
    """Requests a plan needs in one quota group and how long sending them takes.

    ``optimum_seconds``: from idle quota (nothing else spending it) until the last request is
    admitted. ``eta_seconds``: the same after the recent admissions the plan was given (equal
    to the optimum without them). ``windows``: ``(limit, seconds)``.
    """

    group: str
    operations: tuple[str, ...]
    requests: int
    eta_seconds: float
    windows: tuple[tuple[int, float], ...]
    optimum_seconds: float = 0.0


def sliding_window_eta(
    requests: int, windows: Sequence[tuple[int, float]], history: Sequence[float] = ()
) -> float:
    """Seconds from now until the last of ``requests`` is admitted, exactly.

    ``history``: when recent admissions in the group happened, in seconds relative to now
    (zero or negative); none means idle quota, the optimum. The governor's own planner
    (``moeseg.governor.Plan``, a greedy simulation, optimal for sliding windows) does the
    arithmetic, over a view in which each past admission ended when it was admitted.
    """
    if not requests:
        return 0.0
    group = QuotaGroup("plan", tuple(Window(limit, seconds) for limit, seconds in windows))
    past = sorted(min(0.0, h) for h in history)
    views = []
    for w in group.windows:
        inside = tuple((t, 1) for t in past if t + w.seconds > 0.0)
        views.append(WindowView(w, len(inside), inside))
    view = GroupView(group.name, 0.0, 0, -math.inf, tuple(views))
    simulation = GovernorPlan({group.name: view})
    demand = ((group, 1),)
    t = 0.0
    for _ in range(requests):
        t = simulation.admit(demand)
    return t - simulation.start


def quota_costs(
    *,
    gets: int,
    writes: int,
    lists: int = 0,
    policy: QuotaPolicy | None = None,
    history: Mapping[str, Sequence[float]] | None = None,
) -> tuple[QuotaCost, ...]:
    """The cost of ``gets`` GETs and of ``writes`` creates/updates plus ``lists`` lists.

    ``policy`` defaults to MoEngage's documented limits; groups are found through the
    operations ``get`` and ``create`` (``update`` and ``list`` must share create's group).
    ``history`` maps a group name to its recent admissions (see :func:`sliding_window_eta`).
    """
    policy = policy or QuotaPolicy.moengage()
    history = history or {}
    out = []
    for ops, n in ((("get",), gets), (("create", "update", "list"), writes + lists)):
        for name in policy.demand(ops[0]):
            windows = tuple((w.limit, w.seconds) for w in policy.group(name).windows)
            eta = sliding_window_eta(n, windows, history.get(name, ()))
            optimum = sliding_window_eta(n, windows)
            out.append(QuotaCost(name, ops, n, eta, windows, optimum))
    return tuple(out)
