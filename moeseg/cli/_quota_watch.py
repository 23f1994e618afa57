"""``moeseg quota --watch``: a live view of a workspace's quota on its shared store, read by a
governor of its own (it sends nothing). Other processes' queues live in their memory only: the
view says so.
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext
from datetime import datetime, timezone

import anyio
import attrs
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..client import ENV_WORKSPACE_ID, env
from ..governor import Governor, RedisStore, SQLiteStore
from ._options import Connection
from ._output import out, usage

__all__ = ["GroupState", "WatchState", "read_state", "render", "watch"]

OTHER_QUEUES = (
    "Other processes' queues are not visible:\n"
    "the shared store holds their admissions and leases, not their waiting requests."
)


@attrs.frozen
class WindowState:
    """One window: units used now (in flight included) of the usable ``limit``."""

    seconds: float
    used: int
    limit: int


@attrs.frozen
class GroupState:
    """One quota group as the store sees it now."""

    name: str
    windows: tuple[WindowState, ...]
    in_flight: int
    paused_for: float
    next_free: float


@attrs.frozen
class WatchState:
    """What one refresh shows."""

    store: str
    groups: tuple[GroupState, ...]
    waiting: int
    in_flight: int
    at: datetime


async def read_state(gov: Governor) -> WatchState:
    """One read of the governor's store (and its own queue)."""
    groups = [gov.policy.usable_group(g) for g in gov.policy.groups]
    views = await gov.store.view(groups)
    rows = []
    for group in groups:
        view = views[group.name]
        eta = await gov.next_free({group.name: 1})
        windows = tuple(WindowState(v.window.seconds, v.used, v.window.limit) for v in view.windows)
        paused = max(0.0, view.paused_until - view.now)
        rows.append(GroupState(group.name, windows, view.inflight, paused, eta.seconds))
    return WatchState(
        repr(gov.store), tuple(rows), gov.waiting, gov.in_flight, datetime.now(timezone.utc)
    )


def render(state: WatchState) -> RenderableType:
    """The view of one refresh."""
    table = Table(title=f"Quota now ({state.at:%H:%M:%S} UTC)", caption=state.store)
    for col in ("group", "window", "used", "limit", "left", "in flight", "paused", "next free"):
        text = col in ("group", "window")
        table.add_column(col, justify="left" if text else "right", no_wrap=col == "group")
    for g in state.groups:
        for i, w in enumerate(g.windows):
            first = i == 0
            left = max(0, w.limit - w.used)
            table.add_row(
                g.name if first else "",
                _duration(w.seconds),
                str(w.used),
                str(w.limit),
                f"[red]{left}[/]" if left == 0 else str(left),
                str(g.in_flight) if first else "",
                (f"[red]{_duration(g.paused_for)}[/]" if g.paused_for else "-") if first else "",
                ("now" if g.next_free <= 0 else f"in {_duration(g.next_free)}") if first else "",
            )
    mine = Text(f"This process: {state.waiting} waiting, {state.in_flight} in flight.")
    return Group(table, mine, Text(OTHER_QUEUES, style="dim"))


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


async def watch(
    conn: Connection, redis_url: str | None, interval: float, iterations: int | None
) -> None:
    """Refresh the view every ``interval`` seconds, ``iterations`` times (``None``: until
    interrupted), with a governor on the workspace's shared store: Redis at ``redis_url``, else
    the SQLite file of ``--quota-db`` that every other command of this machine uses. It sends
    nothing: no API key is needed, only the workspace."""
    if conn.sandbox or conn.quota_db == "memory":
        usage(
            "--watch reads a store other processes share: not with --sandbox or --quota-db memory"
        )
    workspace = env(conn.workspace_id, ENV_WORKSPACE_ID)
    if not workspace:
        usage("--watch needs the workspace: --workspace-id or MOENGAGE_WORKSPACE_ID")
    opened = (
        SQLiteStore(conn.quota_db, workspace=workspace)
        if redis_url is None
        else RedisStore(redis_url, workspace=workspace)
    )
    async with opened as store:
        gov = Governor(conn.policy(), store=store)
        # On a terminal the view is redrawn in place; piped, each refresh is printed after the last.
        with Live(console=out, auto_refresh=False) if out.is_terminal else nullcontext() as live:
            for count in itertools.count(1):
                view = render(await read_state(gov))
                if live is None:
                    out.print(view)
                else:
                    live.update(view, refresh=True)
                if count == iterations:
                    return
                await anyio.sleep(interval)
