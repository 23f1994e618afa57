"""Server facts read through a ``moeseg.Client``: one list call, then a GET for each segment
that is due (its definition not verified within ``refresh_after``), each recorded in the state
as it arrives so that an interrupted plan or export resumes without fetching it again.

MoEngage's list carries no status, and archived segments stay listed (for 180 days): the
segments the state says moeseg archived are taken out of the active list here, so the
planner unarchives them instead of comparing them as active ones. Archived segments moeseg
did not archive cannot be told from active ones; the applier learns it from the server's
answers (see ``_apply``).

State I/O runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import attrs

from .._exceptions import NotFound
from ..client import Client
from ..governor import Governor
from ..segments import Segment
from ._facts import FetchedDefinition, ServerFacts
from ._plan import Plan
from ._quota import QuotaCost, quota_costs
from ._record import verified_row
from ._state import StateRow, StateSnapshot, StateStore

T = TypeVar("T")

__all__ = [
    "FetchProgress",
    "facts_from",
    "fetch_definitions",
    "governor_costs",
    "read_snapshot",
    "state_io",
]


@attrs.frozen(slots=True)
class FetchProgress:
    """Reported before the first GET (``done`` 0, with ``eta_seconds`` for all of them) and
    after each one."""

    done: int
    total: int
    eta_seconds: float = 0.0


async def state_io(call: Callable[..., T], *args: Any) -> T:
    """Run a call on a state store in a worker thread: a file or a server blocks."""
    return await anyio.to_thread.run_sync(call, *args)


async def read_snapshot(state: StateStore) -> StateSnapshot:
    """The state's rows (see :func:`state_io`)."""
    return await state_io(state.snapshot)


def facts_from(
    listed: Sequence[Segment],
    snapshot: StateSnapshot,
    fetched: Iterable[FetchedDefinition] = (),
) -> ServerFacts:
    """Server facts from the list: segments the state says moeseg archived are not active."""
    archived = {r.segment_id for r in snapshot.rows.values() if r.archived_at is not None}
    return ServerFacts.from_segments([s for s in listed if s.id not in archived], fetched)


async def fetch_definitions(
    client: Client,
    segment_ids: Sequence[str],
    state: StateStore,
    *,
    names: Mapping[str, str] | None = None,
    record: bool = True,
    adopt: Mapping[str, tuple[str, str]] | None = None,
    progress: Callable[[FetchProgress], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, FetchedDefinition]:
    """GET each of ``segment_ids`` (a vanished one, 404, is left out), paced by the client's
    governor. With ``record``, each definition is written at once into the state row that
    maps to that segment (``verified_row``), so a rerun finds it verified; a filter segment
    no row maps to is adopted under the key ``adopt`` gives it (segment id -> (key, name))."""
    total = len(segment_ids)
    if progress is not None:
        eta = await _eta(client, "get", total)
        progress(FetchProgress(0, total, eta))
    rows = (await read_snapshot(state)).by_segment_id() if record else {}
    out: dict[str, FetchedDefinition] = {}
    for i, sid in enumerate(segment_ids):
        try:
            seg = await client.get_segment(sid)
        except NotFound:
            seg = None
        if seg is not None:
            fetched = FetchedDefinition.from_segment(seg, clock())
            out[sid] = fetched
            row = rows.get(sid)
            if row is not None:
                name = (names or {}).get(sid)
                await state_io(state.put, verified_row(row, fetched, name))
            elif record and adopt and sid in adopt and "included_filters" in fetched.payload:
                key, name = adopt[sid]
                text = json.dumps(fetched.payload, sort_keys=True, ensure_ascii=False)
                new = StateRow(key, sid, name, fetched.fingerprint, text, fetched.fetched_at)
                await state_io(state.put, new)
        if progress is not None:
            progress(FetchProgress(i + 1, total))
    return out


def cached_definition(row: StateRow, now: float, refresh_after: float) -> FetchedDefinition | None:
    """The definition a state row holds, if verified within ``refresh_after`` of ``now``."""
    if row.payload is None or row.verified_at is None or row.archived_at is not None:
        return None
    if now - row.verified_at > refresh_after:
        return None
    payload: dict[str, Any] = json.loads(row.payload)
    payload.pop("name", None)
    return FetchedDefinition(row.segment_id, payload, row.verified_at)


async def _eta(client: Client, operation: str, n: int) -> float:
    governor = client.governor
    if n <= 0 or not isinstance(governor, Governor):
        return 0.0
    return (await governor.eta(operation, n)).seconds


async def governor_costs(client: Client, plan: Plan) -> tuple[QuotaCost, ...]:
    """What applying ``plan`` costs under the client's policy, each ETA from its governor's
    quota as it is now (what it admitted recently, here or through a shared store); the
    optimum is from idle quota."""
    writes = sum(s.writes for s in plan.steps)
    policy = client.governor.policy
    costs = quota_costs(gets=len(plan.refresh), writes=writes, lists=1, policy=policy)
    out = []
    for c in costs:
        eta = await _eta(client, c.operations[0], c.requests)
        out.append(attrs.evolve(c, eta_seconds=max(eta, c.optimum_seconds)))
    return tuple(out)
