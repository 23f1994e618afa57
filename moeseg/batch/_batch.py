"""Batch creation: many segments at once through one client, resumable, one outcome per input.

``create_many`` validates every definition locally first (an invalid item never costs quota),
drops duplicates inside the batch by fingerprint before anything is sent, then runs the creates
concurrently through the client, and so through its quota governor. It returns exactly one
:class:`Outcome` per input, in input order.

With a :class:`~moeseg.Journal`, a batch killed half-way and run again sends nothing for what
already succeeded and creates nothing twice: intent is committed before each send and the result
after; an item found with intent but no result is resolved by looking the segment up by name and
comparing fingerprints, never resent blindly.

``plan`` answers, without sending anything, how long a batch will take given the quota left.

A batch file (``load_definitions``) is a YAML or JSON list of Create Custom Segment request
bodies, as MoEngage's dashboard generates them (Test & Debug → Segment Payload), bare or under a
top-level ``segments:`` key. YAML is read with YAML 1.2 booleans: only ``true``/``false`` are
booleans, so a time range ``type: on`` stays the string ``"on"`` (PyYAML's default YAML 1.1
rules would turn it into ``True``); dates and timestamps stay strings, as in the dashboard's JSON.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import anyio
import attrs

from .._exceptions import (
    APIError,
    ConfigurationError,
    ConnectError,
    DefinitionConflict,
    NameConflict,
    QuotaWaitTooLong,
    SegmentValidationError,
    ServerError,
    ValidationIssue,
)
from ..client import Client
from ..governor import Governor
from ..segments import Segment, SegmentDefinition, fingerprint, from_payload, load_definitions
from ._journal import Journal, JournalState

__all__ = [
    "Batch",
    "BatchProgress",
    "BatchPlan",
    "Outcome",
    "OutcomeKind",
    "create_many",
    "load_definitions",
    "plan_batch",
]


class OutcomeKind(str, enum.Enum):
    """What happened to one item of a batch."""

    CREATED = "created"
    """Created by this run."""
    RECOVERED = "recovered"
    """Created exactly once although an attempt's outcome was unknown (found by name and
    fingerprint after a timeout, a 5xx, or a run killed after sending)."""
    EXISTS = "exists"
    """A segment with this name and an identical definition already existed; nothing new."""
    DUPLICATE = "duplicate"
    """Same definition as an earlier item of the batch; never sent (see ``duplicate_of``)."""
    CONFLICT = "conflict"
    """The name or the definition belongs to a different existing segment, or an earlier item
    of the batch uses the same name for another definition (then never sent)."""
    INVALID = "invalid"
    """Failed local validation; never sent, no quota spent."""
    FAILED = "failed"
    """Any other error (``error`` says which): auth, quota wait too long, server, transport..."""

    @property
    def ok(self) -> bool:
        """True when the segment exists with this definition after the batch."""
        return self in _OK


_OK = frozenset({OutcomeKind.CREATED, OutcomeKind.RECOVERED, OutcomeKind.EXISTS})


@attrs.frozen(slots=True)
class Outcome:
    """The result of one item: its input position, its name, what happened, and with what.

    ``segment_id`` is set for created, recovered and existing segments (``segment`` too when the
    server returned it in this run); ``error`` for conflict, invalid and failed items;
    ``duplicate_of`` is the index of the earlier item with the same definition;
    ``from_journal`` is true when a previous run had already done it (nothing was sent).
    """

    index: int
    name: str
    kind: OutcomeKind
    segment_id: str | None = None
    segment: Segment | None = None
    error: Exception | None = None
    duplicate_of: int | None = None
    fingerprint: str | None = None
    from_journal: bool = False

    @property
    def ok(self) -> bool:
        """True when the segment exists with this definition (created, recovered, exists)."""
        return self.kind.ok

    @property
    def detail(self) -> str:
        """One line for humans: the id, the duplicate's original, or the error."""
        if self.kind is OutcomeKind.DUPLICATE:
            return f"same definition as item {self.duplicate_of}"
        if self.error is not None:
            return str(self.error).replace("\n", ";")
        note = " (from journal)" if self.from_journal else ""
        return f"id {self.segment_id}{note}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``moeseg create --json``)."""
        return {
            "index": self.index,
            "name": self.name,
            "kind": self.kind.value,
            "ok": self.ok,
            "segment_id": self.segment_id,
            "duplicate_of": self.duplicate_of,
            "from_journal": self.from_journal,
            "error": None if self.error is None else str(self.error),
            "error_type": None if self.error is None else type(self.error).__name__,
        }


@attrs.frozen(slots=True)
class BatchProgress:
    """Reported to the progress callback after each item and when quota waits begin or end.

    ``waiting_until`` (wall clock, local time zone) is set while the next create waits for
    quota; ``outcome`` is the item that just finished, if any.
    """

    done: int
    total: int
    waiting_until: datetime | None = None
    outcome: Outcome | None = None


ProgressCallback = Callable[[BatchProgress], None]


@attrs.frozen(slots=True)
class _Item:
    index: int
    name: str
    defn: SegmentDefinition
    fp: str
    resolve_first: bool


class Batch:
    """One run of a batch; ``outcomes`` keeps every finished item even if the run is cancelled.

    ``create_many`` is the one-call form. Use the class when a cancelled run's partial results
    matter (for example on Ctrl-C)::

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
        self.client = client
        self.definitions = list(definitions)
        self.concurrency = concurrency
        self.journal = journal
        self.max_wait = max_wait
        self._progress = progress
        self.outcomes: list[Outcome | None] = [None] * len(self.definitions)
        self._waiting_until: datetime | None = None
        self._workspace = _workspace_of(client)
        self._finished = 0

    def __repr__(self) -> str:
        return f"<Batch {self.done}/{len(self.outcomes)} done, concurrency={self.concurrency}>"

    @property
    def done(self) -> int:
        """How many items have an outcome so far."""
        return self._finished

    async def run(self) -> list[Outcome]:
        """Run the batch; one outcome per input, in input order."""
        pending: deque[_Item] = deque()
        for item in _prepare(self.definitions, self._finish):
            entry = (
                None
                if self.journal is None
                else self.journal.get(self._workspace, item.name, item.fp)
            )
            if entry is not None and entry.state is JournalState.DONE:
                self._finish(
                    Outcome(
                        index=item.index,
                        name=item.name,
                        kind=OutcomeKind(entry.kind or OutcomeKind.CREATED.value),
                        segment_id=entry.segment_id,
                        fingerprint=item.fp,
                        from_journal=True,
                    )
                )
            else:
                resolve = entry is not None and entry.state is JournalState.INTENT
                pending.append(attrs.evolve(item, resolve_first=resolve))
        self._report(None)
        async with anyio.create_task_group() as tg:
            for _ in range(min(self.concurrency, len(pending))):
                tg.start_soon(self._worker, pending)
        if self._waiting_until is not None:
            self._waiting_until = None
            self._report(None)
        result = [o for o in self.outcomes if o is not None]
        assert len(result) == len(self.outcomes)
        return result

    async def _worker(self, pending: deque[_Item]) -> None:
        while pending:
            item = pending.popleft()
            self._finish(await self._one(item))

    async def _one(self, item: _Item) -> Outcome:
        if item.resolve_first:
            try:
                found = await self._find(item)
            except Exception as exc:
                return self._unknown(item, exc)  # proves nothing either way
            if found is not None:
                return self._done(item, OutcomeKind.RECOVERED, found.id, found)
        try:
            await self._note_quota_wait()
            if self.journal is not None:
                self.journal.record_intent(self._workspace, item.name, item.fp)
            seg = await self.client.with_options(max_wait=self.max_wait).create_segment(item.defn)
        except NameConflict as exc:
            return await self._after_name_conflict(item, exc)
        except DefinitionConflict as exc:
            if exc.existing_cs_name == item.name and exc.existing_cs_id:
                return self._done(item, OutcomeKind.EXISTS, exc.existing_cs_id)
            return self._rejected(item, OutcomeKind.CONFLICT, exc)
        except SegmentValidationError as exc:
            return self._rejected(item, OutcomeKind.INVALID, exc)
        except Exception as exc:
            return self._failed(item, exc)
        kind = OutcomeKind.RECOVERED if seg.recovered else OutcomeKind.CREATED
        return self._done(item, kind, seg.id, seg)

    async def _after_name_conflict(self, item: _Item, exc: NameConflict) -> Outcome:
        try:
            seg = await self._find(item)
        except Exception as lookup_exc:
            return self._failed(item, lookup_exc)
        if seg is not None:
            return self._done(item, OutcomeKind.EXISTS, seg.id, seg)
        return self._rejected(item, OutcomeKind.CONFLICT, exc)

    async def _find(self, item: _Item) -> Segment | None:
        """The segment named like ``item`` with the same fingerprint (the client's lookup)."""
        return await self.client.find_created(item.name, item.fp)

    async def _note_quota_wait(self) -> None:
        until = await _quota_free_at(self.client)
        if until != self._waiting_until:
            self._waiting_until = until
            self._report(None)

    def _done(
        self, item: _Item, kind: OutcomeKind, segment_id: str, seg: Segment | None = None
    ) -> Outcome:
        if self.journal is not None:
            self.journal.record_done(
                self._workspace, item.name, item.fp, kind=kind.value, segment_id=segment_id
            )
        return Outcome(
            index=item.index,
            name=item.name,
            kind=kind,
            segment_id=segment_id,
            segment=seg,
            fingerprint=item.fp,
        )

    def _rejected(self, item: _Item, kind: OutcomeKind, exc: Exception) -> Outcome:
        if self.journal is not None:
            self.journal.record_rejected(
                self._workspace, item.name, item.fp, kind=kind.value, error=str(exc)
            )
        return Outcome(index=item.index, name=item.name, kind=kind, error=exc, fingerprint=item.fp)

    def _failed(self, item: _Item, exc: Exception) -> Outcome:
        if _nothing_created(exc):
            return self._rejected(item, OutcomeKind.FAILED, exc)
        return self._unknown(item, exc)

    def _unknown(self, item: _Item, exc: Exception) -> Outcome:
        """Failed with the outcome unknown: the journal keeps the intent (a rerun looks it up)."""
        return Outcome(
            index=item.index,
            name=item.name,
            kind=OutcomeKind.FAILED,
            error=exc,
            fingerprint=item.fp,
        )

    def _finish(self, outcome: Outcome) -> None:
        if self.outcomes[outcome.index] is None:
            self._finished += 1
        self.outcomes[outcome.index] = outcome
        self._report(outcome)

    def _report(self, outcome: Outcome | None) -> None:
        if self._progress is not None:
            self._progress(
                BatchProgress(
                    done=self.done,
                    total=len(self.outcomes),
                    waiting_until=self._waiting_until,
                    outcome=outcome,
                )
            )


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
    called with a :class:`BatchProgress` after each item and when a quota wait starts or ends.
    ``max_wait`` bounds each create's wait for quota: beyond it the item fails at once with
    ``QuotaWaitTooLong`` (nothing sent; a rerun sends it).

    If the call is cancelled, items already finished are reported through ``progress`` (use
    :class:`Batch` to keep them); with a journal, an item in flight stays recorded as intent
    and is resolved by lookup on the next run.
    """
    batch = Batch(
        client,
        definitions,
        concurrency=concurrency,
        journal=journal,
        progress=progress,
        max_wait=max_wait,
    )
    return await batch.run()


def _prepare(
    definitions: Sequence[SegmentDefinition | Mapping[str, Any]],
    finish: Callable[[Outcome], None],
) -> list[_Item]:
    """Validate every input and drop in-batch duplicates; report those at once via ``finish``."""
    items: list[_Item] = []
    first_by_fp: dict[str, int] = {}
    first_by_name: dict[str, int] = {}
    for index, raw in enumerate(definitions):
        name = _name_of(raw)
        try:
            defn = _definition(raw)
        except SegmentValidationError as exc:
            finish(Outcome(index=index, name=name, kind=OutcomeKind.INVALID, error=exc))
            continue
        fp = fingerprint(defn)
        if fp in first_by_fp:
            finish(
                Outcome(
                    index=index,
                    name=name,
                    kind=OutcomeKind.DUPLICATE,
                    duplicate_of=first_by_fp[fp],
                    fingerprint=fp,
                )
            )
            continue
        if defn.name in first_by_name:
            # MoEngage would answer 409 for the second one: say so without spending quota.
            rule = f"already used by item {first_by_name[defn.name]} with a different definition"
            error = SegmentValidationError([ValidationIssue("name", rule)])
            finish(
                Outcome(
                    index=index, name=name, kind=OutcomeKind.CONFLICT, error=error, fingerprint=fp
                )
            )
            continue
        first_by_fp[fp] = index
        first_by_name[defn.name] = index
        items.append(_Item(index=index, name=defn.name, defn=defn, fp=fp, resolve_first=False))
    return items


def _definition(raw: SegmentDefinition | Mapping[str, Any]) -> SegmentDefinition:
    if isinstance(raw, SegmentDefinition):  # validated when it was built (frozen)
        return raw
    if isinstance(raw, Mapping):
        return from_payload(raw)
    raise SegmentValidationError(
        [
            ValidationIssue(
                "", f"expected a SegmentDefinition or a mapping, got {type(raw).__name__}"
            )
        ]
    )


def _name_of(raw: object) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else getattr(raw, "name", None)
    return name if isinstance(name, str) else ""


def _nothing_created(exc: Exception) -> bool:
    """True when ``exc`` proves the create did not happen (so resending is safe)."""
    if isinstance(exc, (SegmentValidationError, QuotaWaitTooLong, ConnectError)):
        return True
    return isinstance(exc, APIError) and not isinstance(exc, ServerError)


def _workspace_of(client: Client) -> str:
    return str(getattr(client, "workspace_id", "") or "")


_NO_WAIT = 0.001
"""A quota wait shorter than this (seconds) is not reported as one."""


def governor_of(client: Client) -> Governor:
    """The client's governor, which must be a :class:`moeseg.governor.Governor` to be queried."""
    gov: object = client.governor  # typed by the client as the protocol it needs
    if not isinstance(gov, Governor):
        raise ConfigurationError(
            f"planning needs a moeseg.governor.Governor, the client has {type(gov).__name__}"
        )
    return gov


async def _quota_free_at(client: Client) -> datetime | None:
    """Wall-clock time the next create can start; None when a slot is free now (or when the
    client's governor is not a :class:`~moeseg.governor.Governor` that can be asked)."""
    gov: object = client.governor
    if not isinstance(gov, Governor):
        return None
    free_at = await gov.next_free(gov.policy.demand("create"))
    wait = free_at - gov.clock.now()
    return None if wait <= _NO_WAIT else _to_wall(wait)


def _to_wall(seconds_from_now: float) -> datetime:
    return datetime.fromtimestamp(time.time() + seconds_from_now).astimezone()


# -- planning ------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class BatchPlan:
    """How a batch would run now, computed without sending anything.

    ``to_send`` creates will be sent (valid, not duplicated, not already done per the journal);
    ``to_resolve`` items need a lookup first (intent without result in the journal; a list by
    name spends a slot of the same quota group as a create). ``milestones`` are ``(requests,
    when)`` pairs counting creates and lookups, ``when`` a local wall-clock time: the first is
    what starts at once, the next ones follow the longest quota window, the last is all.
    """

    total: int
    invalid: int
    duplicates: int
    already_done: int
    to_send: int
    to_resolve: int
    milestones: tuple[tuple[int, datetime], ...]

    @property
    def finishes_at(self) -> datetime | None:
        """When the last create can be admitted (``None`` when nothing is to be sent)."""
        return self.milestones[-1][1] if self.milestones else None

    def describe(self, now: datetime | None = None) -> str:
        """E.g. ``1500 creates: 50 now, 1000 by 18:05 today, all by 16:01 tomorrow``."""
        now = now or datetime.now().astimezone()
        n = self.to_send
        head = f"{n} create{'s' if n != 1 else ''}"
        if self.to_resolve:
            head += f" and {self.to_resolve} lookup{'s' if self.to_resolve != 1 else ''}"
        if not self.milestones:
            return f"{head}: nothing to send"
        parts = []
        last = self.milestones[-1][0]
        for count, when in self.milestones:
            label = "all" if count == last else str(count)
            if when <= now + timedelta(seconds=1):
                parts.append(f"{label} now")
            else:
                parts.append(f"{label} by {_when(when, now)}")
        return f"{head}: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``moeseg plan --json``)."""
        return {
            "total": self.total,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "already_done": self.already_done,
            "to_send": self.to_send,
            "to_resolve": self.to_resolve,
            "milestones": [
                {"count": c, "at": when.isoformat(timespec="seconds")}
                for c, when in self.milestones
            ],
            "finishes_at": None
            if self.finishes_at is None
            else self.finishes_at.isoformat(timespec="seconds"),
            "summary": self.describe(),
        }


def _when(when: datetime, now: datetime) -> str:
    days = (when.date() - now.date()).days
    hhmm = (
        when.strftime("%H:%M:%S") if when - now < timedelta(minutes=10) else when.strftime("%H:%M")
    )
    if days == 0:
        return f"{hhmm} today"
    if days == 1:
        return f"{hhmm} tomorrow"
    return f"{hhmm} on {when.strftime('%a %d %b')}"


async def plan_batch(
    client: Client,
    definitions: Iterable[SegmentDefinition | Mapping[str, Any]],
    *,
    journal: Journal | None = None,
) -> BatchPlan:
    """Without sending anything: how many creates a batch needs and when they can be done.

    Uses the client's governor (its current quota state, including this process's and, with a
    shared store, other processes' recent requests) and the journal (items already done cost
    nothing; items with intent cost a lookup first).
    """
    defs = list(definitions)
    outcomes: list[Outcome] = []
    items = _prepare(defs, outcomes.append)
    workspace = _workspace_of(client)
    done = resolve = 0
    for item in items:
        entry = None if journal is None else journal.get(workspace, item.name, item.fp)
        if entry is not None and entry.state is JournalState.DONE:
            done += 1
        elif entry is not None and entry.state is JournalState.INTENT:
            resolve += 1
    to_send = len(items) - done
    gov = governor_of(client)
    # a lookup (list by name) spends a slot of the same group as a create
    demand = gov.policy.demand("create")
    n = to_send + resolve
    milestones: list[tuple[int, datetime]] = []
    if n:
        now = gov.clock.now()
        counts = await _milestone_counts(client, n)
        for count in counts:
            at = await gov.eta(demand, count)
            milestones.append((count, _to_wall(max(0.0, at - now))))
    return BatchPlan(
        total=len(defs),
        invalid=sum(o.kind is OutcomeKind.INVALID for o in outcomes),
        duplicates=sum(o.kind is OutcomeKind.DUPLICATE for o in outcomes),
        already_done=done,
        to_send=to_send,
        to_resolve=resolve,
        milestones=tuple(milestones),
    )


async def _milestone_counts(client: Client, n: int) -> list[int]:
    """The burst possible at once, then each refill of the longest window, then ``n``."""
    gov = governor_of(client)
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
