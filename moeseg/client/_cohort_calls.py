"""Cohort Sync (``POST /v1/integrations/cohortsync``): add and remove a cohort's members.

Members are cut into bodies of at most 128,000 bytes (``moeseg._cohorts``), one action per
request, each governed by the ``cohort_sync`` quota group (300 a minute). Every action is
registered with the client's :class:`~moeseg._cohorts.PendingActions` before it is sent, and
waits while an earlier, unresolved *opposite* action shares a uid with it: an add whose outcome
is unknown (a timeout, a lost connection, a 5xx) may still arrive and undo a later remove.
Retrying the same action is always safe (add and remove are idempotent), so an unknown
outcome is retried; after the last attempt the action blocks its opposite until its request
can no longer arrive (its timeout plus a margin).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterable
from typing import Final

import anyio

from .._cohorts import (
    Cohort,
    CohortAction,
    CohortChunk,
    OppositeActionPending,
    PendingActions,
    SyncResult,
    Ticket,
    chunk_members,
    derive_cohort_id,
    measure_action,
)
from .._exceptions import APIError, ConfigurationError, MoesegError
from .._telemetry import observed
from ._calls import Calls
from ._retry import outcome_unknown
from ._send import Endpoint, Unknown

__all__ = ["COHORT_SYNC_PATH", "CohortCalls", "Progress"]

COHORT_SYNC_PATH: Final = "/v1/integrations/cohortsync"
_COHORT_SYNC = Endpoint("cohort_sync", "POST", "cohort", COHORT_SYNC_PATH)
#: How long a request of unknown outcome may still arrive after its last attempt, on top of
#: its timeout (the governor's lease margin).
_ARRIVAL_MARGIN: Final = 5.0
#: How often a chunk waiting behind an opposite action still in flight looks again.
_POLL: Final = 0.05

#: Called after each request that succeeded: ``(action, uids in it)``.
Progress = Callable[[CohortAction, int], None]


class CohortCalls(Calls):
    """The Cohort Sync calls of :class:`moeseg.Client`."""

    __slots__ = ()

    @observed("sync_cohort")
    async def sync_cohort(
        self,
        name: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        cohort_id: str | None = None,
        partner: str = "moeseg",
        description: str | None = None,
        concurrency: int = 4,
        on_progress: Progress | None = None,
    ) -> SyncResult:
        """Add ``add`` to and remove ``remove`` from the Cohort Sync segment ``name``.

        The first add creates the segment; ``cohort_id`` is its stable key (default
        ``moeseg.cohorts.derive_cohort_id(name)``). Adds go first, then removes, ``concurrency``
        requests at a time within the ``cohort_sync`` quota. A bad name or uid is refused before
        any request (a one-shot iterator as it is read); the first failed request stops new ones
        and is raised once those in flight finish. Success means accepted: MoEngage answers 200
        before it processes a request.
        """
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            key = derive_cohort_id(name) if cohort_id is None else cohort_id
            cohort = Cohort(name, key, description, partner)
        for w in caught:  # shown at the caller's line, not inside attrs
            warnings.warn(w.message, w.category, stacklevel=3)  # past the @observed wrapper
        work: tuple[tuple[CohortAction, Iterable[str]], ...] = (
            ("add_members", add),
            ("remove_members", remove),
        )
        for action, uids in work:
            if isinstance(uids, str):
                raise ConfigurationError(f"{action}: give an iterable of uids, not one string")
            if isinstance(uids, Collection):
                measure_action(cohort, action, uids)  # every uid checked before any request
        pending = self._sender.cohort_pending.setdefault(cohort.cohort_id, PendingActions())
        counts = {"add_members": 0, "remove_members": 0}
        requests = 0
        for action, uids in work:
            sent, n = await self._send_action(
                cohort, action, uids, pending, concurrency, on_progress
            )
            counts[action] += sent
            requests += n
        return SyncResult(
            segment=cohort.name,
            route="cohort",
            method="add/remove",
            added=counts["add_members"],
            removed=counts["remove_members"],
            requests=requests,
            committed=True,
        )

    async def _send_action(
        self,
        cohort: Cohort,
        action: CohortAction,
        uids: Iterable[str],
        pending: PendingActions,
        concurrency: int,
        on_progress: Progress | None,
    ) -> tuple[int, int]:
        """Send every chunk of one action; (uids sent, requests) or the first error."""
        slots = anyio.Semaphore(concurrency)
        failures: list[MoesegError] = []
        done = [0, 0]

        async def one(chunk: CohortChunk, ticket: Ticket) -> None:
            try:
                await self._send_chunk(chunk, ticket, pending)
                done[0] += len(chunk.uids)
                done[1] += 1
                if on_progress is not None:
                    on_progress(action, len(chunk.uids))
            except MoesegError as exc:
                failures.append(exc)
            finally:
                slots.release()

        async with anyio.create_task_group() as tg:
            for chunk in chunk_members(cohort, action, uids):
                await slots.acquire()
                if failures:
                    slots.release()
                    break
                # Registered in planning order, before it can be sent: later opposite actions
                # on the same uids wait for it.
                tg.start_soon(one, chunk, pending.register(action, chunk.uids))
        if failures:
            raise failures[0]
        return done[0], done[1]

    async def _send_chunk(
        self, chunk: CohortChunk, ticket: Ticket, pending: PendingActions
    ) -> None:
        await _wait_turn(pending, ticket, self._opts.max_wait)
        outcome = Unknown()

        async def still_ready() -> None:  # after the quota wait: nothing overtook it meanwhile
            pending.check(ticket)

        try:
            await self._sender.call(
                _COHORT_SYNC,
                COHORT_SYNC_PATH,
                self._opts,
                content=chunk.body,
                outcome=outcome,
                on_send=still_ready,
            )
        except BaseException as exc:  # cancelled mid-flight too: it may arrive until its bound
            if isinstance(exc, MoesegError) and not _maybe_applied(exc, outcome):
                pending.resolve(ticket)
            else:
                bound = anyio.current_time() + self._opts.timeout + _ARRIVAL_MARGIN
                pending.unresolved_until(ticket, bound)
            raise
        pending.resolve(ticket)


def _maybe_applied(exc: MoesegError, outcome: Unknown) -> bool:
    """Whether the request that failed with ``exc`` may still take effect."""
    if isinstance(exc, OppositeActionPending):
        return False
    if isinstance(exc, APIError) and not outcome_unknown(exc):
        return outcome.unknown  # refused now; an earlier attempt of unknown outcome may land
    return outcome.unknown or outcome_unknown(exc)


async def _wait_turn(pending: PendingActions, ticket: Ticket, max_wait: float | None) -> None:
    """Wait until no earlier unresolved opposite action shares a uid with ``ticket``."""
    start = anyio.current_time()
    while True:
        now = anyio.current_time()
        pending.expire(now)
        blockers = pending.blockers(ticket)
        if not blockers:
            return
        bounds = [pending.until(b) for b in blockers]
        wake = max((b for b in bounds if b is not None), default=now)
        if any(b is None for b in bounds):
            wake = max(wake, now + _POLL)  # one is in flight: its outcome comes soon
        if max_wait is not None and wake - start > max_wait:
            pending.check(ticket)  # raises OppositeActionPending naming a uid
        await anyio.sleep(max(0.0, wake - now))
