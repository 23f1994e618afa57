"""The membership-sync planner: requests, quota and ETA of a diff by a route, without I/O.

Routes: ``"cohort"`` (Cohort Sync: one request per body of at most 128,000 bytes, 300 a minute)
and ``"file"`` (file segments: add/remove files, or one replace, against the file ops pool of
10 an hour and 100 a day and 2,000,000 users a day). Quotas are the governor's data
(:class:`~moeseg.governor.QuotaPolicy`); times come from the governor's own greedy
simulation (:class:`~moeseg.governor.Plan`), from the given quota state or from idle quota.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal, TypeAlias

import attrs

from .._exceptions import ConfigurationError
from ..governor import GroupView, QuotaGroup, QuotaPolicy, WindowView
from ..governor import Plan as QuotaPlan
from ._request import MAX_BODY_BYTES, Cohort, CohortAction, chunk_members, encode_member

__all__ = [
    "ActionSize",
    "PlanStep",
    "ReplaceChoice",
    "Route",
    "SyncPlan",
    "measure_action",
    "plan_sync",
]

Route: TypeAlias = Literal["cohort", "file"]
ReplaceChoice: TypeAlias = Literal["auto", "never", "always"]


@attrs.frozen(slots=True)
class ActionSize:
    """One action's members: how many, their encoded bytes, and the requests the chunker makes.

    ``member_bytes`` is the members' array content (members joined by ``,``); ``minimum`` is
    ``ceil(member_bytes / limit)``, the fewest bodies any packing could use.
    """

    action: CohortAction
    uids: int
    member_bytes: int
    requests: int
    limit: int = MAX_BODY_BYTES

    @property
    def minimum(self) -> int:
        """Requests no packing can beat (bodies' fixed parts ignored)."""
        return math.ceil(self.member_bytes / self.limit)


def measure_action(
    cohort: Cohort, action: CohortAction, uids: Iterable[str], *, limit: int = MAX_BODY_BYTES
) -> ActionSize:
    """Stream ``uids`` through the chunker once and count (nothing is kept)."""
    count = requests = member_bytes = 0
    for chunk in chunk_members(cohort, action, uids, limit=limit):
        requests += 1
        count += len(chunk.uids)
        member_bytes += sum(len(encode_member(u)) for u in chunk.uids) + len(chunk.uids) - 1
    if count:
        member_bytes += requests - 1  # the commas that would join the chunks' arrays
    return ActionSize(action, count, member_bytes, requests, limit)


@attrs.frozen(slots=True)
class PlanStep:
    """Requests of one operation: ``cohort_sync`` (per action) or ``file_add/remove/replace``."""

    operation: str
    action: CohortAction | Literal["replace"]
    uids: int
    requests: int
    minimum: int
    quota: Mapping[str, int]


@attrs.frozen(slots=True)
class SyncPlan:
    """What a sync will send, what quota it spends, and when it can be done.

    ``eta_seconds``: from the given quota state to the last admission, at full speed.
    ``optimum_seconds``: the same from idle quota (the theoretical best). ``method`` is
    ``"add/remove"``, ``"add only"`` (removes unknown) or ``"replace"``; ``reason`` says why.
    """

    route: Route
    method: str
    steps: tuple[PlanStep, ...]
    eta_seconds: float
    optimum_seconds: float
    reason: str
    notes: tuple[str, ...] = ()

    @property
    def requests(self) -> int:
        """Requests in every step."""
        return sum(s.requests for s in self.steps)

    @property
    def quota(self) -> dict[str, int]:
        """Units spent per quota group, all steps together."""
        out: dict[str, int] = {}
        for step in self.steps:
            for group, units in step.quota.items():
                out[group] = out.get(group, 0) + units
        return out

    def describe(self) -> str:
        """A few lines for ``--dry-run``."""
        lines = [f"route {self.route}, {self.method}: {self.reason}"]
        for s in self.steps:
            spend = ", ".join(f"{g} {u}" for g, u in s.quota.items()) or "no quota"
            lines.append(
                f"  {s.operation} {s.action}: {_count(s.uids, 'uid')} in {_count(s.requests)} "
                f"(minimum {s.minimum}); {spend}"
            )
        lines.append(
            f"  {_count(self.requests)}; ETA {_duration(self.eta_seconds)} "
            f"(optimum {_duration(self.optimum_seconds)})"
        )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _count(n: int, noun: str = "request") -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "never (a request exceeds a window)"
    if seconds < 120:
        return f"{seconds:g}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


_Demand: TypeAlias = tuple[tuple[QuotaGroup, int], ...]


def _demand(policy: QuotaPolicy, operation: str, users: int) -> _Demand:
    return tuple((policy.group(g), n) for g, n in policy.demand(operation, users).items())


def _makespan(
    policy: QuotaPolicy,
    demands: list[_Demand],
    views: Mapping[str, GroupView],
    now: float,
) -> float:
    """Seconds from ``now`` until the last of ``demands`` is admitted, by the governor's own
    greedy plan over ``views`` (a group the views lack is idle)."""
    if not demands:
        return 0.0
    idle = {
        g.name: GroupView(g.name, now, 0, -math.inf, tuple(WindowView(w, 0, ()) for w in g.windows))
        for g in policy.groups
    }
    plan = QuotaPlan({**idle, **views})
    last = max(plan.admit(d) for d in demands)
    return max(0.0, last - plan.start)


def _users_cap(policy: QuotaPolicy, operation: str) -> int:
    """The most users one file can carry: the smallest window of a weighted group it spends."""
    caps = [
        w.limit
        for name in policy.demand(operation, 1)
        for w in policy.group(name).windows
        if policy.group(name).weighted
    ]
    return min(caps) if caps else 2**63


def _split(total: int, cap: int) -> list[int]:
    files = math.ceil(total / cap)
    return [total // files + (1 if i < total % files else 0) for i in range(files)]


def plan_sync(
    route: Route,
    adds: ActionSize | int,
    removes: ActionSize | int | None,
    *,
    policy: QuotaPolicy | None = None,
    views: Mapping[str, GroupView] | None = None,
    now: float = 0.0,
    replace: ReplaceChoice = "auto",
) -> SyncPlan:
    """Plan a diff's deltas by ``route``. Pure: no I/O, no clock.

    Cohort route: ``adds``/``removes`` are :class:`ActionSize` (chunk counts); adds go first.
    File route: counts of uids (an ActionSize's ``uids`` is used); add/remove files or one
    replace, chosen by ETA, then file ops, then users (``replace="auto"``). ``removes=None``
    means unknown (first sync): add/remove can only add; replace would make the segment exact.
    ``views``/``now`` are the governor's quota state (a store's ``view``; default: idle).
    """
    if replace not in ("auto", "never", "always"):
        raise ConfigurationError(f"replace must be 'auto', 'never' or 'always', got {replace!r}")
    for label, size in (("adds", adds), ("removes", removes)):
        n = _uids(size)
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ConfigurationError(f"{label} must be a count >= 0, got {n!r}")
    policy = policy if policy is not None else QuotaPolicy.moengage()
    views = views if views is not None else {}
    if route == "cohort":
        return _plan_cohort(policy, adds, removes, views, now)
    if route == "file":
        return _plan_file(policy, _uids(adds), _uids(removes), views, now, replace)
    raise ConfigurationError(f"route must be 'cohort' or 'file', got {route!r}")


def _uids(size: ActionSize | int | None) -> int | None:
    return size.uids if isinstance(size, ActionSize) else size


def _plan_cohort(
    policy: QuotaPolicy,
    adds: ActionSize | int,
    removes: ActionSize | int | None,
    views: Mapping[str, GroupView],
    now: float,
) -> SyncPlan:
    steps: list[PlanStep] = []
    demands: list[_Demand] = []
    for expected, size in (("add_members", adds), ("remove_members", removes)):
        if size is None:
            continue
        if not isinstance(size, ActionSize):
            raise ConfigurationError(
                "the cohort route needs ActionSize (chunk counts) from measure_action"
            )
        if size.action != expected:
            raise ConfigurationError(f"{expected} planned with the size of {size.action}")
        if size.requests == 0:
            continue
        one = _demand(policy, "cohort_sync", 0)
        quota = {g.name: n * size.requests for g, n in one}
        steps.append(
            PlanStep("cohort_sync", size.action, size.uids, size.requests, size.minimum, quota)
        )
        demands.extend([one] * size.requests)
    notes: list[str] = []
    if removes is None:
        notes.append(
            "first sync: no snapshot, so members added by other means cannot be removed; "
            "Cohort Sync has no replace, the segment holds at least the list afterwards"
        )
    method = "add/remove" if removes is not None else "add only"
    reason = "Cohort Sync sends only the deltas, one action per request"
    if not steps:
        reason = "nothing to send: the segment already equals the list"
    return SyncPlan(
        "cohort",
        method,
        tuple(steps),
        _makespan(policy, demands, views, now),
        _makespan(policy, demands, {}, 0.0),
        reason,
        tuple(notes),
    )


def _file_option(
    policy: QuotaPolicy, parts: list[tuple[str, CohortAction | Literal["replace"], int]]
) -> tuple[list[PlanStep], list[_Demand]]:
    """Steps and demands of file operations; each splits into files the users quota can take."""
    steps: list[PlanStep] = []
    demands: list[_Demand] = []
    for operation, action, uids in parts:
        sizes = _split(uids, _users_cap(policy, operation)) if uids else [0]
        quota: dict[str, int] = {}
        for n in sizes:
            demands.append(_demand(policy, operation, n))
            for group, units in policy.demand(operation, n).items():
                quota[group] = quota.get(group, 0) + units
        steps.append(PlanStep(operation, action, uids, len(sizes), len(sizes), quota))
    return steps, demands


def _cost(steps: list[PlanStep], eta: float) -> str:
    quota: dict[str, int] = {}
    for step in steps:
        for group, units in step.quota.items():
            quota[group] = quota.get(group, 0) + units
    spend = ", ".join(f"{units:,} {group}" for group, units in sorted(quota.items()))
    return f"{spend or 'no quota'}, ETA {_duration(eta)}"


def _plan_file(
    policy: QuotaPolicy,
    adds: int | None,
    removes: int | None,
    views: Mapping[str, GroupView],
    now: float,
    replace: ReplaceChoice,
) -> SyncPlan:
    if adds is None:
        raise ConfigurationError("adds must be a count (or an ActionSize)")
    known = removes is not None
    parts: list[tuple[str, CohortAction | Literal["replace"], int]] = []
    if adds:
        parts.append(("file_add", "add_members", adds))
    if removes:
        parts.append(("file_remove", "remove_members", removes))
    delta_steps, delta_demands = _file_option(policy, parts)
    # Replace uploads every desired uid but spends users only for the newly added ones.
    replace_steps, replace_demands = _file_option(policy, [("file_replace", "replace", adds)])
    delta = (_makespan(policy, delta_demands, views, now), delta_steps, delta_demands)
    whole = (_makespan(policy, replace_demands, views, now), replace_steps, replace_demands)
    feasible = replace_steps[0].requests == 1
    notes: list[str] = []
    if not known:
        notes.append(
            "first sync: no snapshot, so members added by other means are unknown and cannot "
            "be removed; replace makes the segment exactly the list"
            + ("" if replace == "always" else " (ask for replace to use it)")
        )
    if not feasible:
        notes.append(
            f"replace is not possible: {adds:,} new users exceed what one file may add "
            f"({_users_cap(policy, 'file_replace'):,})"
        )
    if known and not parts and replace != "always":
        method, chosen, reason = "add/remove", delta, "nothing to send: no adds, no removes"
    elif replace == "always" and feasible:
        method, chosen, reason = "replace", whole, f"replace asked for: {_cost(whole[1], whole[0])}"
    elif replace == "never" or not feasible or not known:
        method = "add/remove" if known else "add only"
        why = "replace not allowed" if replace == "never" else "replace not chosen"
        if not feasible:
            why = "replace not possible"
        elif not known and replace == "auto":
            why = "removes unknown"
        chosen, reason = delta, f"{why}: {_cost(delta[1], delta[0])}"
    else:
        key_delta = (delta[0], len(delta[2]), sum(n for d in delta[2] for _, n in d))
        key_whole = (whole[0], len(whole[2]), sum(n for d in whole[2] for _, n in d))
        if key_whole < key_delta:
            method, chosen = "replace", whole
            reason = (
                f"replace ({_cost(whole[1], whole[0])}) is cheaper than add/remove "
                f"({_cost(delta[1], delta[0])})"
            )
        else:
            method, chosen = "add/remove", delta
            reason = (
                f"add/remove ({_cost(delta[1], delta[0])}) costs no more than replace "
                f"({_cost(whole[1], whole[0])})"
            )
    return SyncPlan(
        "file",
        method,
        tuple(chosen[1]),
        chosen[0],
        _makespan(policy, chosen[2], {}, 0.0),
        reason,
        tuple(notes),
    )
