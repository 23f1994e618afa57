"""Segments as code: a workspace's segments kept in files, planned and applied within quota.

::

    async with moeseg.Client(...) as client:
        ws = Workspace(client, state=".moeseg/state.sqlite")
        plan = await ws.plan("segments/")          # what apply would do, and its quota cost
        print(ws.render(plan))
        result = await ws.apply(plan)              # archive / unarchive / create / update
        drift = await ws.diff()                    # edits made behind moeseg's back

Desired files hold create payloads as the dashboard generates them, each with an optional
``key`` (its stable identity; default: the name); items refer to each other with
``segment_key`` in a ``custom_segments`` filter. The state (a SQLite file, by default
``.moeseg/state.sqlite``) maps each key to its segment id and records what was applied,
verified and archived; ``apply`` holds its lock. See docs/workspace.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio.to_thread

from ._workspace import (
    DAY,
    DEFAULT_STATE_PATH,
    ApplyResult,
    DesiredSet,
    ExportResult,
    Paths,
    Plan,
    PlanOptions,
    RedisState,
    SQLiteState,
    StateStore,
    WorkspaceError,
    apply_session,
    diff_session,
    export_session,
    is_redis_url,
    load_plan,
    plan_session,
    read_desired,
    render_markdown,
    render_text,
    save_plan,
)
from ._workspace import ApplyProgress as ApplyProgress
from ._workspace import DesiredItemError as DesiredItemError
from ._workspace import Drift as Drift
from ._workspace import FetchProgress as FetchProgress
from ._workspace import StalePlan as StalePlan
from ._workspace import StateLocked as StateLocked
from ._workspace import StepOutcome as StepOutcome
from .client import Client

# Finer errors (StalePlan, StateLocked, DesiredItemError: all WorkspaceError) are importable
# here without a promise in __all__, like the other packages' finer errors.
__all__ = ["ApplyResult", "Plan", "Workspace", "WorkspaceError"]


class Workspace:
    """One MoEngage workspace managed from desired files, through ``client`` (and its quota
    governor), with its state in ``state``: a SQLite file path, a Redis URL
    (``redis://host:6379/0``: shared between machines, one namespace per workspace id), or a
    ``StateStore``.

    Every method reads and checks its input before the first request; bad input raises a
    :class:`WorkspaceError` (a ``DesiredItemError`` names the file, the item and the rule).
    """

    def __init__(
        self,
        client: Client,
        state: StateStore | str | os.PathLike[str] = DEFAULT_STATE_PATH,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self._state = state
        self._clock = clock

    async def state(self) -> StateStore:
        """The state store (a SQLite file is opened, and checked, in a worker thread)."""
        if not isinstance(self._state, StateStore):
            where, namespace = self._state, self.client.workspace_id
            if isinstance(where, str) and is_redis_url(where):
                self._state = await anyio.to_thread.run_sync(
                    lambda: RedisState(where, namespace=namespace)
                )
            else:
                self._state = await anyio.to_thread.run_sync(lambda: SQLiteState(where))
        return self._state

    async def plan(
        self,
        files: Paths | DesiredSet,
        *,
        prune: bool = False,
        max_archive: int = 10,
        targets: Iterable[str] | None = None,
        refresh_after: float = DAY,
        progress: Callable[[FetchProgress], None] | None = None,
    ) -> Plan:
        """What :meth:`apply` would do to reach the desired ``files`` (paths or folders).

        Costs one list call, and a GET (get quota) per segment whose definition was not
        verified within ``refresh_after`` seconds; each GET is recorded in the state, so an
        interrupted plan resumes. ``prune`` archives managed keys no longer desired (at most
        ``max_archive``); ``targets`` limits the plan to those keys and what they refer to.
        """
        options = PlanOptions(
            prune=prune,
            max_archive=max_archive,
            refresh_after=refresh_after,
            targets=frozenset(targets) if targets is not None else None,
        )
        desired = await read_desired(files, options)
        state = await self.state()
        return await plan_session(
            self.client, state, desired, options, progress=progress, clock=self._clock
        )

    async def apply(
        self,
        plan: Plan | Paths | DesiredSet,
        *,
        saved: bool | None = None,
        progress: Callable[[ApplyProgress], None] | None = None,
        prune: bool = False,
        max_archive: int = 10,
        targets: Iterable[str] | None = None,
        refresh_after: float = DAY,
    ) -> ApplyResult:
        """Carry a plan out: a :class:`Plan` (``saved=True`` when it was read from a file or
        made earlier: checked against a fresh list and the state first, :class:`StalePlan`
        when they changed), or desired files, planned first (with the options of
        :meth:`plan`). Holds the state's lock (:class:`StateLocked` if another apply does);
        every step is recorded as it completes, and a rerun after a kill resumes.
        """
        if not isinstance(plan, Plan):
            plan = await self.plan(
                plan,
                prune=prune,
                max_archive=max_archive,
                targets=targets,
                refresh_after=refresh_after,
            )
            saved = False
        state = await self.state()
        return await apply_session(
            self.client,
            state,
            plan,
            saved=True if saved is None else saved,
            progress=progress,
            clock=self._clock,
        )

    async def export(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        refresh_after: float = DAY,
        progress: Callable[[FetchProgress], None] | None = None,
    ) -> ExportResult:
        """Adopt the workspace's filter segments into the state and, with ``out``, write one
        ``<key>.yaml`` per segment there (file and cohort segments are listed in
        ``references.txt``). One list call, a GET per segment not verified within
        ``refresh_after``; resumable. ``ExportResult.items`` are the desired items."""
        state = await self.state()
        result, _ = await export_session(
            self.client,
            state,
            out=out,
            refresh_after=refresh_after,
            progress=progress,
            clock=self._clock,
        )
        return result

    async def diff(
        self,
        *,
        refresh_after: float = 0.0,
        progress: Callable[[FetchProgress], None] | None = None,
    ) -> tuple[Drift, ...]:
        """Managed segments changed behind moeseg's back (definition, name, or gone): one
        list call, a GET per managed segment not verified within ``refresh_after``."""
        state = await self.state()
        return await diff_session(
            self.client, state, refresh_after=refresh_after, progress=progress, clock=self._clock
        )

    @staticmethod
    def render(plan: Plan, *, markdown: bool = False) -> str:
        """The plan for people: text for a terminal, or Markdown for a pull request."""
        return render_markdown(plan) if markdown else render_text(plan)

    @staticmethod
    def save(plan: Plan, path: str | os.PathLike[str]) -> None:
        """Write ``plan`` to a JSON file (``apply`` it later; it is refused once stale)."""
        save_plan(plan, path)

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Plan:
        """Read a plan written by :meth:`save`."""
        return load_plan(Path(path))
