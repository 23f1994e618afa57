"""How a batch would run now, computed from the governor's state without sending a create.

ETAs are given both ways a reader needs them: as a duration from now and as a wall-clock
datetime in the local time zone (a governor's clock is a loop clock, meaningless as a date).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._exceptions import ConfigurationError
from ..client import Client
from ..governor import Governor
from ..segments import SegmentDefinition
from ._journal import Journal, JournalState, journal_entries
from ._outcomes import OutcomeKind
from ._prepare import prepare_batch

__all__ = [
    "ACTIVE_SEGMENT_LIMIT",
    "BatchPlan",
    "Milestone",
    "governor_of",
    "plan_batch",
    "seconds_until",
    "wall_clock_in",
]

ACTIVE_SEGMENT_LIMIT = 1000
"""MoEngage's documented maximum of active segments per workspace (all kinds together)."""


@attrs.frozen(slots=True)
class Milestone:
    """``count`` requests can be admitted ``wait`` from now, that is ``at`` (local wall clock)."""

    count: int
    at: datetime
    wait: timedelta


@attrs.frozen(slots=True)
class BatchPlan:
    """How a batch would run now, computed without sending a create.

    ``to_send`` creates will be sent at most (valid, not duplicated, not already done per the
    journal); ``to_resolve`` items were sent by an earlier run without a recorded result.
    ``list_calls`` is 1 when the batch will list the workspace first (without a journal, or to
    resolve those items; a list spends a slot of the same quota group as a create, and each
    name it finds costs a get, of the reads quota, instead of a create). ``milestones`` count
    creates and the list call: the first is what starts at once, the next ones follow the
    longest quota window, the last is all. ``active_estimate`` is the workspace's segment count
    from one list call when the plan was asked to count (an upper bound of the active ones:
    listed items carry no status, so archived segments are counted too). ``warnings`` say what
    cannot succeed.
    """

    total: int
    invalid: int
    duplicates: int
    already_done: int
    to_send: int
    to_resolve: int
    milestones: tuple[Milestone, ...]
    list_calls: int = 0
    active_estimate: int | None = None
    active_limit: int = ACTIVE_SEGMENT_LIMIT
    warnings: tuple[str, ...] = ()

    @property
    def finishes_at(self) -> datetime | None:
        """When the last request can be admitted (``None`` when nothing is to be sent)."""
        return self.milestones[-1].at if self.milestones else None

    @property
    def finishes_in(self) -> timedelta | None:
        """How long from now until the last request can be admitted."""
        return self.milestones[-1].wait if self.milestones else None

    def describe(self, now: datetime | None = None) -> str:
        """E.g. ``1500 creates: 50 now, 1000 by 18:05 today (in 23 h 10 min), all by ...``."""
        now = now or datetime.now().astimezone()
        n = self.to_send
        head = f"{n} create{'s' if n != 1 else ''}"
        if self.list_calls:
            head += " and 1 list call"
        if not self.milestones:
            return f"{head}: nothing to send"
        parts = []
        last = self.milestones[-1].count
        for m in self.milestones:
            label = "all" if m.count == last else str(m.count)
            if m.wait <= timedelta(seconds=1):
                parts.append(f"{label} now")
            else:
                parts.append(f"{label} by {_when(m.at, now)} (in {_duration(m.wait)})")
        return f"{head}: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``moeseg plan --json``)."""
        last = self.milestones[-1] if self.milestones else None
        return {
            "total": self.total,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "already_done": self.already_done,
            "to_send": self.to_send,
            "to_resolve": self.to_resolve,
            "list_calls": self.list_calls,
            "milestones": [
                {
                    "count": m.count,
                    "at": m.at.isoformat(timespec="seconds"),
                    "in_seconds": round(m.wait.total_seconds(), 3),
                }
                for m in self.milestones
            ],
            "finishes_at": last and last.at.isoformat(timespec="seconds"),
            "finishes_in_seconds": last and round(last.wait.total_seconds(), 3),
            "active_estimate": self.active_estimate,
            "active_limit": self.active_limit,
            "warnings": list(self.warnings),
            "summary": self.describe(),
        }


def _when(when: datetime, now: datetime) -> str:
    days = (when.date() - now.date()).days
    near = when - now < timedelta(minutes=10)
    hhmm = when.strftime("%H:%M:%S") if near else when.strftime("%H:%M")
    if days == 0:
        return f"{hhmm} today"
    if days == 1:
        return f"{hhmm} tomorrow"
    return f"{hhmm} on {when.strftime('%a %d %b')}"


def _duration(d: timedelta) -> str:
    s = round(d.total_seconds())
    if s < 120:
        return f"{s} s"
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


async def plan_batch(
    client: Client,
    definitions: Iterable[SegmentDefinition | Mapping[str, Any]],
    *,
    journal: Journal | None = None,
    count_active: bool = False,
    active_limit: int = ACTIVE_SEGMENT_LIMIT,
) -> BatchPlan:
    """Without sending a create: how many requests a batch needs and when they can be done.

    Uses the client's governor (its current quota state, including this process's and, with a
    shared store, other processes' recent requests) and the journal (items already done cost
    nothing; items sent without a result cost a lookup first). A batch of more new segments
    than ``active_limit`` is always warned about. With ``count_active``, one list call (one
    request of the ``segments`` quota group, like a create: the only request a plan sends)
    estimates how many segments the workspace holds, to warn when the batch would cross the
    limit; the estimate is an upper bound, exact when the workspace has no archived segments.
    """
    prepared = prepare_batch(definitions)
    entries = await journal_entries(journal, client.workspace_id, prepared.items)
    states = [None if e is None else e.state for e in entries]
    done, resolve = states.count(JournalState.DONE), states.count(JournalState.INTENT)
    to_send = len(prepared.items) - done
    gov = governor_of(client)
    active: int | None = None
    new = to_send
    if count_active and to_send:
        listed = await client.list_segments()
        active = len(listed)
        names = {s.name for s in listed}
        new = sum(1 for item in prepared.items if item.name not in names)
    # the list call spends a slot of the same group as a create
    demand = gov.policy.demand("create")
    lists = 1 if (to_send or resolve) and (journal is None or resolve) else 0
    n = to_send + lists
    milestones: list[Milestone] = []
    if n:
        now = gov.clock.now()
        for count in await _milestone_counts(gov, n):
            wait = max(0.0, seconds_until(await gov.eta(demand, count), now))
            milestones.append(Milestone(count, wall_clock_in(wait), timedelta(seconds=wait)))
    kinds = [o.kind for o in prepared.rejected]
    return BatchPlan(
        total=prepared.total,
        invalid=kinds.count(OutcomeKind.INVALID),
        duplicates=kinds.count(OutcomeKind.DUPLICATE),
        already_done=done,
        to_send=to_send,
        to_resolve=resolve,
        list_calls=lists,
        milestones=tuple(milestones),
        active_estimate=active,
        active_limit=active_limit,
        warnings=_limit_warnings(new, active, active_limit),
    )


def _limit_warnings(new: int, active: int | None, limit: int) -> tuple[str, ...]:
    if active is None and new > limit:
        return (
            f"{new} new segments cannot all be active: MoEngage allows {limit} active "
            f"segments per workspace, so at most {limit} can be created (the batch stops "
            "at the first active-segment-limit answer)",
        )
    if active is not None and active + new > limit:
        room = max(0, limit - active)
        return (
            f"the workspace holds up to {active} segments (archived ones included) and the "
            f"batch adds {new}: past MoEngage's limit of {limit} active segments, perhaps only "
            f"{room} can be created (the batch stops at the first active-segment-limit answer)",
        )
    return ()


async def _milestone_counts(gov: Governor, n: int) -> list[int]:
    """The burst possible at once, then each refill of the longest window, then ``n``."""
    demand = gov.policy.demand("create")
    remaining = await gov.remaining()
    burst = min(
        left // units for name, units in demand.items() for left in remaining[name].values()
    )
    windows = [(w, name) for name in demand for w in gov.policy.group(name).windows]
    longest, group = max(windows, key=lambda pair: pair[0].seconds)
    counts = {n}
    if 0 < burst < n:
        counts.add(burst)
    step = remaining[group][longest.seconds] // demand[group]
    while 0 < step < n:
        counts.add(step)
        step += longest.limit // demand[group]
    return sorted(counts)


def governor_of(client: Client) -> Governor:
    """The client's governor, which must be a :class:`moeseg.governor.Governor` to be queried."""
    gov: object = client.governor  # typed by the client as the protocol it needs
    if not isinstance(gov, Governor):
        raise ConfigurationError(
            f"planning needs a moeseg.governor.Governor, the client has {type(gov).__name__}"
        )
    return gov


def wall_clock_in(seconds: float) -> datetime:
    """The local wall-clock time ``seconds`` from now (``datetime.max`` for never)."""
    if not math.isfinite(seconds):
        return datetime.max.replace(tzinfo=datetime.now().astimezone().tzinfo)
    return datetime.fromtimestamp(time.time() + seconds).astimezone()


def seconds_until(eta: object, now: float) -> float:
    """Seconds from now until ``eta``, whatever form the governor gives it in: a time on its
    clock (a float), a duration (``timedelta``), a wall-clock ``datetime``, or an object holding
    one of those (``wait``/``duration``/``delay`` or ``at``/``when``)."""
    if isinstance(eta, timedelta):
        return eta.total_seconds()
    if isinstance(eta, datetime):
        ref = datetime.now(eta.tzinfo) if eta.tzinfo else datetime.now()
        return (eta - ref).total_seconds()
    if isinstance(eta, (int, float)):
        return float(eta) - now
    for attr in ("wait", "duration", "delay", "at", "when", "wall"):
        value = getattr(eta, attr, None)
        if isinstance(value, (timedelta, datetime)):
            return seconds_until(value, now)
        if attr in ("wait", "duration", "delay") and isinstance(value, (int, float)):
            return float(value)  # a duration in seconds
    raise TypeError(f"cannot read an ETA from {type(eta).__name__}")
