"""What a plan costs in quota, and how long that takes at best. The only module here that uses
the governor (its policy data), so that adapting to a new governor API touches this file alone.

GETs that check drift spend the get group (MoEngage: 100/60 s, 1,000/3,600 s, 4,000/86,400 s);
creates, updates and the one list spend the create/list/update group (50/60 s, 200/3,600 s,
1,000/86,400 s). Archive and unarchive have no published quota.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..governor import QuotaPolicy

__all__ = ["QuotaCost", "quota_costs", "sliding_window_eta"]


@attrs.frozen(slots=True)
class QuotaCost:
    """Requests a plan needs in one quota group and the optimum time to send them.

    ``eta_seconds``: from idle quota (nothing else spending it) until the last request is
    admitted; the governor's actual wait can only be longer. ``windows``: ``(limit, seconds)``.
    """

    group: str
    operations: tuple[str, ...]
    requests: int
    eta_seconds: float
    windows: tuple[tuple[int, float], ...]


def sliding_window_eta(requests: int, windows: Sequence[tuple[int, float]]) -> float:
    """Seconds from idle quota until the last of ``requests`` is admitted, exactly.

    Own arithmetic (to be replaced by the governor's ``eta``): admitted greedily, request k
    goes at the earliest time that is no earlier than request k-1 and at least ``seconds``
    after request k-limit, for every window. Greedy is optimal for sliding windows.
    """
    times: list[float] = []
    for k in range(requests):
        t = times[-1] if times else 0.0
        for limit, seconds in windows:
            if k >= limit:
                t = max(t, times[k - limit] + seconds)
        times.append(t)
    return times[-1] if times else 0.0


def quota_costs(
    *, gets: int, writes: int, lists: int = 0, policy: QuotaPolicy | None = None
) -> tuple[QuotaCost, ...]:
    """The cost of ``gets`` GETs and of ``writes`` creates/updates plus ``lists`` lists.

    ``policy`` defaults to MoEngage's documented limits; groups are found through the
    operations ``get`` and ``create`` (``update`` and ``list`` must share create's group).
    """
    policy = policy or QuotaPolicy.moengage()
    out = []
    for ops, n in ((("get",), gets), (("create", "update", "list"), writes + lists)):
        for group_name in policy.demand(ops[0]):
            windows = tuple((w.limit, w.seconds) for w in policy.group(group_name).windows)
            out.append(QuotaCost(group_name, ops, n, sliding_window_eta(n, windows), windows))
    return tuple(out)
