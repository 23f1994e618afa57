"""The applier: carries a :class:`Plan` out against a ``moeseg.Client``, under its governor.

Order is the plan's: archives first (they free active capacity; a plan holds them only with
``prune``, at most ``max_archive``), then unarchive / create / update / rename in dependency
order, so that a ``segment_key`` reference resolves to the id its segment got earlier in the
same apply. Every step is recorded in the state right after the server confirmed it
(:func:`row_after`), so a rerun after a kill replans from what happened: a segment created
and not yet recorded is found by name in the server's list and adopted, never created twice;
an archive is only ever sent for a step of the plan being applied.

Archived names (the rule, also in docs/workspace.md). MoEngage keeps an archived segment's
name reserved, and its list carries no status. moeseg knows a segment is archived when it
archived it itself (the state's ``archived_at``): it unarchives it, then updates it. Otherwise
the server tells, and the applier acts on the answer:

- a create refused with a 409 name conflict (the name the plan did not see listed): the name
  is archived; unarchive it by name, then update it to the desired definition;
- an update refused with 403 for a segment the API made: it is archived (archived segments
  refuse updates); unarchive it, then update it. A second 403 means read-only: the state
  marks it so, and later plans show it as ``read_only``.

Exactly once: creates go through ``Client.create_segment`` (which settles its own unknown
outcomes); an :class:`OutcomeUnknown` it could not settle is looked up once more with
``Client.find_created`` before the step is reported failed.

The state lock is held for the whole run and renewed in the background; state I/O runs in a
worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import anyio
import attrs

from .._exceptions import (
    AuthenticationError,
    ConfigurationError,
    DefinitionConflict,
    MoesegError,
    NameConflict,
    OutcomeUnknown,
    PermissionDenied,
    TransportError,
)
from ..client import Client
from ..segments import Segment, from_payload
from ._desired import DesiredItem
from ._errors import PlanRefused, StateError, StateLocked
from ._fetch import state_io
from ._plan import PASSIVE, Plan, PlanStep, StepKind
from ._record import row_after
from ._state import StateRow, StateStore

__all__ = ["ApplyProgress", "ApplyResult", "StepOutcome", "apply_plan", "check_applicable"]

Status: TypeAlias = Literal["done", "unchanged", "read_only", "failed", "skipped", "not_run"]
#: errors after which no other step can succeed either: the apply stops
_FATAL: Final = (AuthenticationError, ConfigurationError, StateError, TransportError)
LOCK_TTL: Final = 300.0


@attrs.frozen(slots=True)
class StepOutcome:
    """What became of one step: ``status`` and, once it exists, the segment id.

    ``done`` (the server did it), ``unchanged`` / ``read_only`` (recorded only), ``failed``
    (``error`` says why), ``skipped`` (a segment it refers to failed), ``not_run`` (the apply
    stopped before it).
    """

    key: str
    kind: StepKind
    status: Status
    segment_id: str | None = None
    detail: str = ""
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the step reached what the plan wanted."""
        return self.status in ("done", "unchanged", "read_only")


@attrs.frozen(slots=True)
class ApplyProgress:
    """Reported after each step: ``done`` of ``total`` steps, and the last outcome."""

    done: int
    total: int
    outcome: StepOutcome


@attrs.frozen(slots=True)
class ApplyResult:
    """One outcome per plan step, in plan order."""

    outcomes: tuple[StepOutcome, ...]

    @property
    def ok(self) -> bool:
        """Whether every step reached what the plan wanted."""
        return all(o.ok for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        """Outcomes of each status."""
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


logger = logging.getLogger("moeseg.workspace")


class _Failed(Exception):
    """A step did not happen; ``detail`` says why (``cause``: the error met)."""

    def __init__(self, detail: str, cause: BaseException | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.cause = cause


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _gone(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer runs (an apply killed
    with SIGKILL). Anything unsure (another host, a pid of another user) is alive: its lock
    then lasts until it expires."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _take_lock(state: StateStore, owner: str, ttl: float) -> None:
    """The state's lock, taken over from a dead apply of this host instead of waiting for its
    expiry. Two reruns racing for it: each release names the dead owner, one acquire wins."""
    try:
        state.acquire(owner, ttl=ttl, now=time.time())
    except StateLocked as exc:
        if not _gone(exc.owner):
            raise
        logger.warning("taking over the apply lock of %s: that process is gone", exc.owner)
        state.release(exc.owner)
        state.acquire(owner, ttl=ttl, now=time.time())


async def _guarded(
    work: Callable[[], Awaitable[None]], errors: list[BaseException], scope: anyio.CancelScope
) -> None:
    """Run ``work`` beside another task: its error is kept (raised by the caller once the task
    group has closed, unwrapped from any exception group) and ends the other task too."""
    try:
        await work()
    except anyio.get_cancelled_exc_class():
        raise
    except BaseException as exc:  # re-raised by apply_plan
        errors.append(exc)
    scope.cancel()


class _Applier:
    def __init__(
        self,
        client: Client,
        plan: Plan,
        state: StateStore,
        progress: Callable[[ApplyProgress], None] | None,
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.plan = plan
        self.state = state
        self.progress = progress
        self.clock = clock
        self.outcomes: dict[int, StepOutcome] = {}
        self.rows: dict[str, StateRow] = {}  # the state as this apply (the lock holder) left it
        self.ids: dict[str, str] = {}
        self.names = {s.key: s.name for s in plan.steps}

    async def _thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await state_io(fn, *args)

    async def run(self) -> None:
        self.rows = dict((await self._thread(self.state.snapshot)).rows)
        self.ids = {k: r.segment_id for k, r in self.rows.items() if r.archived_at is None}
        for step in self.plan.steps:
            if step.segment_id is not None and step.kind not in ("archive", "create"):
                self.ids[step.key] = step.segment_id
        failed: set[str] = set()
        total = len(self.plan.steps)
        for i, step in enumerate(self.plan.steps):
            if any(r in failed for r in step.references):
                bad = ", ".join(r for r in step.references if r in failed)
                outcome = StepOutcome(step.key, step.kind, "skipped", detail=f"{bad} failed")
            else:
                try:
                    outcome = await self.step(step, self.rows.get(step.key))
                except _Failed as exc:
                    outcome = StepOutcome(
                        step.key, step.kind, "failed", step.segment_id, exc.detail, exc.cause
                    )
            if not outcome.ok:
                failed.add(step.key)
            self.outcomes[i] = outcome
            if self.progress is not None:
                self.progress(ApplyProgress(i + 1, total, outcome))

    async def step(self, step: PlanStep, previous: StateRow | None) -> StepOutcome:
        try:
            sid, sent, status = await self._send(step)
        except _FATAL:
            raise
        except PermissionDenied as exc:
            if step.segment_id is None:
                raise _Failed(f"refused: {exc}", exc) from None
            # archived on the dashboard answers 403 too; both are unarchived first (above):
            # a 403 that remains means the API may not update this segment
            row = StateRow(step.key, step.segment_id, step.old_name or step.name, read_only=True)
            await self._record(row, step.adopt_from)
            raise _Failed("read-only: the server refuses updates to this segment", exc) from None
        except MoesegError as exc:
            raise _Failed(f"{type(exc).__name__}: {exc}", exc) from None
        now = self.clock()
        row = row_after(step, now, segment_id=sid, payload=sent, previous=previous)
        if row != previous or step.adopt_from is not None:
            await self._record(row, step.adopt_from)
        if step.kind != "archive":
            self.ids[step.key] = row.segment_id
        return StepOutcome(step.key, step.kind, status, row.segment_id)

    async def _record(self, row: StateRow, adopt_from: str | None) -> None:
        await self._thread(self.state.put, row)
        self.rows[row.key] = row
        if adopt_from is not None and adopt_from != row.key:
            await self._thread(self.state.forget, adopt_from)
            self.rows.pop(adopt_from, None)

    def _payload(self, step: PlanStep) -> dict[str, Any]:
        if step.payload is None:
            raise _Failed("the plan holds no payload for this step")
        missing = [r for r in step.references if r not in self.ids]
        if missing:
            raise _Failed(f"refers to {', '.join(missing)}, which has no segment id")
        item = DesiredItem(step.key, step.name, step.payload, step.references)
        return item.resolve(self.ids, self.names)

    async def _send(self, step: PlanStep) -> tuple[str | None, dict[str, Any] | None, Status]:
        """Do ``step`` on the server: (segment id, payload sent, status)."""
        client = self.client
        if step.kind in PASSIVE:
            return step.segment_id, None, "unchanged" if step.kind == "unchanged" else "read_only"
        if step.kind == "archive":
            assert step.segment_id is not None
            await client.archive(name=step.old_name or step.name, segment_id=step.segment_id)
            return step.segment_id, None, "done"
        if step.kind == "unarchive":
            sid = await self._unarchive(step.segment_id, step.old_name or step.name)
            if not step.update:
                return sid, None, "done"
            sent = self._payload(step)
            await self._update(sid, sent, retry_unarchived=False)
            return sid, sent, "done"
        sent = self._payload(step)
        if step.kind == "create":
            return await self._create(step, sent), sent, "done"
        assert step.segment_id is not None
        await self._update(step.segment_id, sent, retry_unarchived=True, name=step.old_name)
        return step.segment_id, sent, "done"

    async def _unarchive(self, segment_id: str | None, name: str) -> str:
        answer = await self.client.unarchive(name=name, segment_id=segment_id)
        sid = segment_id or answer.cs_id
        if sid is None:  # the answer did not say: one list call by name
            listed = [s for s in await self.client.list_segments(name) if s.name == name]
            if len(listed) != 1:
                raise _Failed(f"unarchived {name!r} but cannot tell its id ({len(listed)} listed)")
            sid = listed[0].id
        return sid

    async def _update(
        self,
        segment_id: str,
        sent: Mapping[str, Any],
        *,
        retry_unarchived: bool,
        name: str | None = None,
    ) -> Segment:
        definition = from_payload(sent)
        try:
            return await self.client.update_segment(segment_id, definition)
        except PermissionDenied:
            if not retry_unarchived:
                raise
        # MoEngage lists archived segments without a status: a 403 for a segment the API
        # made may mean it was archived behind moeseg's back. Unarchive (a no-op for an active
        # one; its own refusal changes nothing), then try once more.
        with contextlib.suppress(MoesegError):
            await self.client.unarchive(name=name or definition.name, segment_id=segment_id)
        return await self.client.update_segment(segment_id, definition)

    async def _create(self, step: PlanStep, sent: Mapping[str, Any]) -> str:
        definition = from_payload(sent)
        try:
            return (await self.client.create_segment(definition)).id
        except OutcomeUnknown as exc:
            found = await self.client.find_created(exc.name, exc.fingerprint)
            if found is None:
                raise _Failed(
                    "outcome unknown: the create may have happened; a new plan finds it by name",
                    exc,
                ) from None
            return found.id
        except NameConflict as exc:
            if step.on_name_conflict != "unarchive":
                raise _Failed(f"name conflict: {exc}", exc) from None
            # the name was not listed active: it is archived (names stay reserved)
            sid = await self._unarchive(None, step.name)
            await self._update(sid, sent, retry_unarchived=False)
            return sid
        except DefinitionConflict as exc:
            if not exc.existing_cs_id:
                raise _Failed(f"definition conflict: {exc}", exc) from None
            # an unmanaged segment already holds this definition: adopt it under our name
            await self._update(exc.existing_cs_id, sent, retry_unarchived=False)
            return exc.existing_cs_id


def check_applicable(plan: Plan) -> None:
    """Refuse a plan apply must not run: problems, the headroom, archives beyond its options
    (a hand-edited saved plan)."""
    plan.check()
    archives = sum(s.kind == "archive" for s in plan.steps)
    if archives and not plan.options.prune:
        raise PlanRefused([f"{archives} archive steps in a plan made without prune"])
    if archives > plan.options.max_archive:
        limit = plan.options.max_archive
        raise PlanRefused([f"{archives} archive steps, over max_archive {limit}"])


async def apply_plan(
    client: Client,
    plan: Plan,
    state: StateStore,
    *,
    progress: Callable[[ApplyProgress], None] | None = None,
    clock: Callable[[], float] = time.time,
    lock_ttl: float = LOCK_TTL,
) -> ApplyResult:
    """Carry ``plan`` out (see the module docstring); one :class:`StepOutcome` per step.

    Raises :class:`PlanRefused` (before any request) for a plan with problems,
    :class:`StateLocked` when another apply holds the state, and the fatal errors
    (authentication, connection, state) as they come; a cancellation stops after the
    step in flight is recorded or abandoned. ``clock``: wall-clock seconds, for the state.
    """
    check_applicable(plan)
    owner = _owner()
    await state_io(_take_lock, state, owner, lock_ttl)
    applier = _Applier(client, plan, state, progress, clock)
    errors: list[BaseException] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_guarded, lambda: _renew(state, owner, lock_ttl), errors, tg.cancel_scope)
            tg.start_soon(_guarded, applier.run, errors, tg.cancel_scope)
        if errors:
            raise errors[0]
    finally:
        with anyio.CancelScope(shield=True):
            await state_io(state.release, owner)
    return _result(plan.steps, applier.outcomes)


async def _renew(state: StateStore, owner: str, ttl: float) -> None:
    while True:
        await anyio.sleep(ttl / 3)
        await state_io(lambda: state.acquire(owner, ttl=ttl, now=time.time()))


def _result(steps: Sequence[PlanStep], outcomes: Mapping[int, StepOutcome]) -> ApplyResult:
    return ApplyResult(
        tuple(
            outcomes.get(i) or StepOutcome(s.key, s.kind, "not_run", s.segment_id)
            for i, s in enumerate(steps)
        )
    )
