"""Batch creation: many segments at once through one client, resumable, one outcome per input.

Every definition is validated and deduplicated locally first (``_prepare``: an invalid or
duplicate item never costs quota), then the creates run concurrently through the client's quota
governor. With a :class:`~moeseg.Journal` (``_journal`` says what it records when), a batch
killed half-way and run again sends nothing for what already succeeded and creates nothing twice.

Without a journal, or when the journal holds items sent without a result, the batch first lists
the workspace's segments once (one request of the ``segments`` quota group) and matches names
locally: a rerun of a finished batch then costs that one list call plus one get per item (reads
quota) instead of a failed create and a lookup per item.

The first "active segment limit" answer stops the batch the way :meth:`Batch.stop` does.
"""

from __future__ import annotations

import functools
import inspect
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio
import anyio.to_thread
import attrs

from .._exceptions import (
    ActiveSegmentLimit,
    APIError,
    ConfigurationError,
    ConnectError,
    DefinitionConflict,
    MoesegError,
    NameConflict,
    QuotaWaitTooLong,
    SegmentValidationError,
    ServerError,
)
from ..client import Client
from ..governor import Governor
from ..segments import Segment, SegmentDefinition
from ._journal import Journal, JournalState, journal_entries
from ._outcomes import BatchProgress, Outcome, OutcomeKind, ProgressCallback
from ._plan import seconds_until, wall_clock_in
from ._prepare import BatchItem, prepare_batch

__all__ = ["Batch", "create_many"]

LIMIT_REACHED = "active-segment limit"
"""The ``reason`` of items not sent because the workspace holds its maximum of segments."""
STOPPED = "batch stopped"
"""The ``reason`` of items not sent because :meth:`Batch.stop` was called."""

_NO_WAIT = 0.001
"""A quota wait shorter than this (seconds) is not reported as one."""


class _Stopped(Exception):
    """Raised by a create's ``on_send`` when the batch stopped before the request left."""


@attrs.define(eq=False)
class _Slot:
    """One item being worked on: cancellable until its first request may have left."""

    item: BatchItem
    resolve_first: bool  # sent by an earlier run without a recorded result
    started: float
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    attempts: int = 0
    first_sent: float | None = None


class Batch:
    """One run of a batch; ``outcomes`` keeps every finished item even if the run is cancelled.

    ``create_many`` is the one-call form. Use the class to stop a run gracefully
    (:meth:`stop`) or to keep a cancelled run's partial results::

        batch = Batch(client, definitions, journal=journal)
        try:
            outcomes = await batch.run()
        finally:
            finished = [o for o in batch.outcomes if o is not None]
    """

    def __init__(
        self,
        client: Client,
        definitions: Iterable[SegmentDefinition | Mapping[str, Any]],
        *,
        concurrency: int = 10,
        journal: Journal | None = None,
        progress: ProgressCallback | None = None,
        max_wait: float | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be callable, got {type(progress).__name__}")
        self.client = client
        # every call of the batch waits for quota at most max_wait (the client's own if None)
        self._calls = client if max_wait is None else client.with_options(max_wait=max_wait)
        self.definitions = list(definitions)
        self.concurrency = concurrency
        self.journal = journal
        self.max_wait = max_wait
        self._progress = progress
        self.outcomes: list[Outcome | None] = [None] * len(self.definitions)
        self._waiting_until: datetime | None = None
        self._workspace = client.workspace_id
        self._finished = 0
        self._slots: set[_Slot] = set()
        self._stop_reason: str | None = None
        self._existing: dict[str, list[Segment]] | None = None
        self._fatal: Exception | None = None

    def __repr__(self) -> str:
        return f"<Batch {self.done}/{len(self.outcomes)} done, concurrency={self.concurrency}>"

    @property
    def done(self) -> int:
        """How many items have an outcome so far."""
        return self._finished

    @property
    def stopped(self) -> str | None:
        """Why the batch stopped early (``"batch stopped"``, ``"active-segment limit"``)."""
        return self._stop_reason

    def stop(self) -> None:
        """Stop gracefully: requests that may have left finish, every other item ends at once
        as ``not_sent`` (its quota wait is abandoned, nothing is spent). Safe to call from a
        progress callback or another task, and more than once."""
        self._halt(STOPPED)

    def _halt(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        for slot in self._slots:
            if slot.first_sent is None:
                slot.scope.cancel()

    async def run(self) -> list[Outcome]:
        """Run the batch; one outcome per input, in input order."""
        prepared = prepare_batch(self.definitions)
        for rejected in prepared.rejected:
            await self._finish(rejected)
        pending: deque[tuple[BatchItem, bool]] = deque()
        journaled = await journal_entries(self.journal, self._workspace, prepared.items)
        for item, entry in zip(prepared.items, journaled, strict=True):
            if entry is not None and entry.state is JournalState.DONE:
                kind = OutcomeKind(entry.kind or OutcomeKind.CREATED.value)
                done = _outcome(item, kind, segment_id=entry.segment_id, from_journal=True)
                await self._finish(done)
            else:
                resolve = entry is not None and entry.state is JournalState.INTENT
                pending.append((item, resolve))
        wanted = self.journal is None or any(resolve for _, resolve in pending)
        if pending and wanted and self._stop_reason is None:
            self._existing = await self._list_existing()
        await self._report(None)
        async with anyio.create_task_group() as tg:
            for _ in range(min(self.concurrency, len(pending))):
                tg.start_soon(self._worker, pending)
        if self._fatal is not None:
            raise self._fatal
        if self._waiting_until is not None:
            self._waiting_until = None
            await self._report(None)
        result = [o for o in self.outcomes if o is not None]
        assert len(result) == len(self.outcomes)
        return result

    async def _list_existing(self) -> dict[str, list[Segment]] | None:
        """Every segment of the workspace by name (one list call), or None if it failed."""
        try:
            listed = await self._calls.list_segments()
        except ConfigurationError as exc:
            self._halt(f"stopped by {type(exc).__name__}")
            raise
        except MoesegError:
            return None  # each item then finds out the usual way
        existing: dict[str, list[Segment]] = {}
        for seg in listed:
            existing.setdefault(seg.name, []).append(seg)
        return existing

    async def _worker(self, pending: deque[tuple[BatchItem, bool]]) -> None:
        try:
            while pending:
                slot = _Slot(*pending.popleft(), anyio.current_time())
                if self._stop_reason is not None:
                    await self._finish(self._not_sent(slot))
                    continue
                self._slots.add(slot)
                try:
                    outcome = None
                    with slot.scope:
                        outcome = await self._one(slot)
                    if outcome is None:  # cancelled by a stop before anything left
                        outcome = self._not_sent(slot)
                finally:
                    self._slots.discard(slot)
                await self._finish(outcome)
        except Exception as exc:  # the journal failed (or a bug): stop, raise it from run()
            if self._fatal is None:
                self._fatal = exc
            self._halt(f"stopped by {type(exc).__name__}")

    async def _one(self, slot: _Slot) -> Outcome:
        item = slot.item
        listed = None if self._existing is None else self._existing.get(item.name, [])
        # The name is taken (ours or someone else's: sending would only get a 409), or an
        # earlier run sent it without a result and there is no list: look it up first.
        if listed or (slot.resolve_first and listed is None):
            try:
                found = await self._calls.find_created(item.name, item.fingerprint, listed=listed)
            except Exception as exc:
                return self._unknown(slot, exc)  # proves nothing either way
            if found is not None:
                kind = OutcomeKind.RECOVERED if slot.resolve_first else OutcomeKind.EXISTS
                return await self._done(slot, kind, found.id, found)
            if listed:
                return await self._rejected(slot, OutcomeKind.CONFLICT, _name_taken(item, listed))
        return await self._create(slot)

    async def _create(self, slot: _Slot) -> Outcome:
        item = slot.item

        async def on_send() -> None:
            if slot.scope.cancel_called:  # stopped while the governor admitted it: don't send
                raise _Stopped
            # admitted: from now on the request may reach the server
            slot.attempts += 1
            if slot.first_sent is None:
                slot.first_sent = anyio.current_time()
            await self._record("intent", item)

        try:
            await self._note_quota_wait()
            seg = await self._calls.create_segment(item.definition, on_send=on_send)
        except _Stopped:
            return self._not_sent(slot)
        except ActiveSegmentLimit as exc:
            self._halt(LIMIT_REACHED)
            return await self._rejected(slot, OutcomeKind.FAILED, exc)
        except NameConflict as exc:
            return await self._after_name_conflict(slot, exc)
        except DefinitionConflict as exc:
            if exc.existing_cs_name == item.name and exc.existing_cs_id:
                return await self._done(slot, OutcomeKind.EXISTS, exc.existing_cs_id)
            return await self._rejected(slot, OutcomeKind.CONFLICT, exc)
        except SegmentValidationError as exc:
            return await self._rejected(slot, OutcomeKind.INVALID, exc)
        except Exception as exc:
            return await self._failed(slot, exc)
        kind = OutcomeKind.RECOVERED if seg.recovered else OutcomeKind.CREATED
        return await self._done(slot, kind, seg.id, seg)

    async def _after_name_conflict(self, slot: _Slot, exc: NameConflict) -> Outcome:
        try:
            seg = await self._calls.find_created(slot.item.name, slot.item.fingerprint)
        except Exception as lookup_exc:
            return await self._failed(slot, lookup_exc)
        if seg is not None:
            return await self._done(slot, OutcomeKind.EXISTS, seg.id, seg)
        return await self._rejected(slot, OutcomeKind.CONFLICT, exc)

    async def _note_quota_wait(self) -> None:
        # This item's turn comes after the items of this batch that passed here but have not
        # been admitted yet; those already queued in the governor it counts itself.
        # Only a moeseg Governor can be asked (None: could start now, or cannot tell).
        gov: object = self.client.governor
        until = None
        if isinstance(gov, Governor):
            ahead = sum(1 for s in self._slots if s.first_sent is None) - gov.waiting
            eta = await gov.eta(gov.policy.demand("create"), max(1, ahead))
            wait = seconds_until(eta, gov.clock.now())
            until = None if wait <= _NO_WAIT else wall_clock_in(wait)
        if until != self._waiting_until:
            self._waiting_until = until
            await self._report(None)

    async def _done(
        self, slot: _Slot, kind: OutcomeKind, segment_id: str, seg: Segment | None = None
    ) -> Outcome:
        await self._record("done", slot.item, kind=kind.value, segment_id=segment_id)
        return _outcome(slot.item, kind, slot=slot, segment_id=segment_id, segment=seg)

    async def _rejected(self, slot: _Slot, kind: OutcomeKind, exc: Exception) -> Outcome:
        await self._record("rejected", slot.item, kind=kind.value, error=str(exc))
        return _outcome(slot.item, kind, slot=slot, error=exc)

    async def _record(self, state: str, item: BatchItem, **fields: str) -> None:
        """``Journal.record_<state>`` in a worker thread: SQLite commits (fsync) never block the
        loop. Not abandoned on cancel: a record that started is finished."""
        if self.journal is not None:
            record = getattr(self.journal, f"record_{state}")
            call = functools.partial(record, self._workspace, item.name, item.fingerprint, **fields)
            await anyio.to_thread.run_sync(call)

    async def _failed(self, slot: _Slot, exc: Exception) -> Outcome:
        _raise_if_fatal(exc)
        if _nothing_created(exc):
            return await self._rejected(slot, OutcomeKind.FAILED, exc)
        return self._unknown(slot, exc)

    def _unknown(self, slot: _Slot, exc: Exception) -> Outcome:
        """Failed with the outcome unknown: the journal keeps "sent" (a rerun looks it up)."""
        _raise_if_fatal(exc)
        return _outcome(slot.item, OutcomeKind.FAILED, slot=slot, error=exc)

    def _not_sent(self, slot: _Slot) -> Outcome:
        reason = self._stop_reason or STOPPED
        return _outcome(slot.item, OutcomeKind.NOT_SENT, slot=slot, reason=reason)

    async def _finish(self, outcome: Outcome) -> None:
        if self.outcomes[outcome.index] is None:
            self._finished += 1
        self.outcomes[outcome.index] = outcome
        await self._report(outcome)

    async def _report(self, outcome: Outcome | None) -> None:
        if self._progress is None:
            return
        result = self._progress(
            BatchProgress(self.done, len(self.outcomes), self._waiting_until, outcome)
        )
        if inspect.isawaitable(result):
            await result


async def create_many(
    client: Client,
    definitions: Iterable[SegmentDefinition | Mapping[str, Any]],
    *,
    concurrency: int = 10,
    journal: Journal | None = None,
    progress: ProgressCallback | None = None,
    max_wait: float | None = None,
) -> list[Outcome]:
    """Create many segments concurrently; exactly one :class:`Outcome` per input, in order.

    ``definitions`` are :class:`SegmentDefinition` objects or request-shaped mappings (parsed
    with ``from_payload``; a bad one becomes an ``invalid`` outcome, it does not stop the batch).
    ``concurrency`` bounds the requests in flight; the client's governor paces them within the
    quotas. ``journal`` makes the batch resumable (see :class:`~moeseg.Journal`). ``progress`` is
    called with a :class:`BatchProgress` after each item and when a quota wait starts or ends; an
    ``async def`` callback is awaited (the batch waits for it). ``max_wait`` bounds each
    create's wait for quota: beyond it the item fails at once with ``QuotaWaitTooLong``
    (nothing sent; a rerun sends it).

    If the call is cancelled, items already finished are reported through ``progress`` (use
    :class:`Batch` to keep them, or :meth:`Batch.stop` to stop gracefully); with a journal, an
    item whose request may have left stays recorded as sent and is resolved by lookup on the
    next run.
    """
    return await Batch(
        client,
        definitions,
        concurrency=concurrency,
        journal=journal,
        progress=progress,
        max_wait=max_wait,
    ).run()


def _outcome(
    item: BatchItem, kind: OutcomeKind, *, slot: _Slot | None = None, **fields: Any
) -> Outcome:
    timing: dict[str, Any] = {}
    if slot is not None:
        end = anyio.current_time()
        sent = end if slot.first_sent is None else slot.first_sent
        timing = {
            "attempts": slot.attempts,
            "waited": max(0.0, sent - slot.started),
            "elapsed": max(0.0, end - slot.started),
        }
    return Outcome(item.index, item.name, kind, fingerprint=item.fingerprint, **timing, **fields)


def _name_taken(item: BatchItem, listed: Sequence[Segment]) -> NameConflict:
    ids = ", ".join(s.id for s in listed)
    return NameConflict(
        f"the name {item.name!r} belongs to segment {ids} with another definition "
        "(found by the batch's list call; nothing sent)",
        status=409,
        method="GET",
        path="/v3/custom-segments",
    )


def _raise_if_fatal(exc: Exception) -> None:
    """A configuration error (credentials, time scale, an unusable journal) would fail every
    item the same way: it stops the batch and is raised from :meth:`Batch.run`."""
    if isinstance(exc, ConfigurationError):
        raise exc


def _nothing_created(exc: Exception) -> bool:
    """True when ``exc`` proves the create did not happen (so resending is safe)."""
    if isinstance(exc, (SegmentValidationError, QuotaWaitTooLong, ConnectError)):
        return True
    return isinstance(exc, APIError) and not isinstance(exc, ServerError)
