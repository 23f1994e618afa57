"""Convergence of plan + apply against the sandbox through the real client: random desired
states on random starting workspaces, with the apply killed at a random request and run
again. Afterwards a new plan is empty, export reproduces the desired definitions, no segment
was created twice and nothing was archived that the plan did not archive.

Each example runs on trio's MockClock over the in-process ASGI transport (virtual time)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import anyio
import httpx
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moeseg
from moeseg._workspace import MemoryState, StateRow, parse_desired
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import Sandbox
from moeseg.segments import fingerprint
from moeseg.workspace import Workspace

from ._model import payload

SITUATIONS = (
    "absent",
    "managed",
    "drifted",  # managed, then edited (name and definition) on the dashboard
    "archived_by_us",
    "archived_unknown",
    "dashboard",
    "adoptable",
)


class Killed(BaseException):
    """The process died (right after the server answered, before the state recorded it)."""


class KillingTransport(httpx.AsyncBaseTransport):
    """Forwards requests; once armed, dies after the ``after``-th answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.after: int | None = None
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.after is not None:
            self.count += 1
            if self.count == self.after:
                self.after = None
                raise Killed
        return response


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 6))
    keys = [f"k{i}" for i in range(n)]
    desired = [k for k in keys if draw(st.booleans())]
    items = []
    for i, k in enumerate(desired):
        refs = (
            tuple(sorted(set(draw(st.lists(st.sampled_from(desired[:i]), max_size=2)))))
            if i
            else ()
        )
        name = f"{k}-n{draw(st.integers(0, 1))}"
        items.append(payload(name, f"{k}-d{draw(st.integers(0, 1))}", refs, key=k))
    return {
        "start": {k: draw(st.sampled_from(SITUATIONS)) for k in keys},
        "old": {k: (draw(st.integers(0, 1)), draw(st.integers(0, 1))) for k in keys},
        "items": items,
        "prune": draw(st.booleans()),
        "kill_at": draw(st.integers(1, 14)),
    }


def build(world: dict[str, Any]) -> tuple[Sandbox, MemoryState]:
    box, state = Sandbox(), MemoryState()
    long_ago = time.time() - 200_000
    for k, situation in world["start"].items():
        name_v, def_v = world["old"][k]
        name, value = f"{k}-n{name_v}", f"{k}-d{def_v}"
        p = payload(name, value)
        text = json.dumps(p)
        if situation in ("managed", "drifted"):
            served = payload(f"{k}-n2", f"{k}-edited") if situation == "drifted" else p
            seg = box.seed_segment(served, source="API")
            state.put(StateRow(k, seg.id, name, fingerprint(p), text, long_ago))
        elif situation == "archived_by_us":
            seg = box.seed_segment(p, source="API", archived=True)
            state.put(StateRow(k, seg.id, name, fingerprint(p), text, long_ago, long_ago))
        elif situation == "archived_unknown":
            box.seed_segment(p, source="API", archived=True)
        elif situation == "dashboard":
            box.seed_segment(payload(name, f"{k}-dash"), source="DASHBOARD")
        elif situation == "adoptable":
            box.seed_segment(p, source="API")
    return box, state


async def scenario(world: dict[str, Any]) -> None:
    desired = parse_desired([("desired.yaml", world["items"])])
    box, state = build(world)
    archived_before = {s.id for s in box.segments() if s.archived}
    transport = KillingTransport(httpx.ASGITransport(app=box.app))
    async with moeseg.Client(
        box.workspace_id,
        box.api_key,
        base_url="http://sandbox.invalid",
        db_name=box.db_name,
        transport=transport,
        governor=Governor(QuotaPolicy.moengage()),
    ) as client:
        ws = Workspace(client, state)
        first = await ws.plan(desired, prune=world["prune"], max_archive=100)
        planned_archives = {s.segment_id for s in first.steps if s.kind == "archive"}
        transport.after = world["kill_at"]
        with contextlib.suppress(Killed):
            await ws.apply(first)
        transport.after = None
        second = await ws.plan(desired, prune=world["prune"], max_archive=100)
        assert {s.segment_id for s in second.steps if s.kind == "archive"} <= planned_archives
        result = await ws.apply(second)
        assert result.ok, result
        again = await ws.plan(desired, prune=world["prune"], max_archive=100, refresh_after=0)
        assert again.empty, [(s.kind, s.key) for s in again.actions]
        exported = await ws.export(refresh_after=0)
    rows = state.snapshot().rows
    ids = {k: r.segment_id for k, r in rows.items()}
    back = parse_desired([("export", list(exported.items))]).by_key()
    export_ids = {r.key: r.segment_id for r in exported.rows}
    for item in desired.items:
        seg = next(s for s in box.segments() if s.id == ids[item.key])
        if rows[item.key].read_only:
            assert seg.source == "DASHBOARD"
            continue
        assert seg.name == item.name
        assert seg.fingerprint == fingerprint(item.resolve(ids))
        assert fingerprint(back[item.key].resolve(export_ids)) == seg.fingerprint
    created = [r for r in box.log if r.route == "create" and r.cause == "created"]
    assert len(created) <= sum(s.kind == "create" for s in first.steps)
    archived_now = {s.id for s in box.segments() if s.archived} - archived_before
    assert archived_now <= planned_archives
    if not world["prune"]:
        assert archived_now == set()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(worlds())
def test_apply_killed_anywhere_then_rerun_converges(world: dict[str, Any]) -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    anyio.run(scenario, world, backend="trio", backend_options={"clock": clock})
