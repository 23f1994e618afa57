"""moeseg.workspace against the in-process sandbox (ASGI transport, virtual time): plan, apply,
export and diff as a service calls them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import moeseg
from moeseg._workspace import (
    DesiredItemError,
    HeadroomExceeded,
    MemoryState,
    PlanRefused,
    SQLiteState,
    StateRow,
    apply_plan,
    parse_desired,
)
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import FaultConfig, Sandbox, ServerErrorFault
from moeseg.segments import fingerprint
from moeseg.workspace import StalePlan, StateLocked, Workspace
from tests.cli._helpers import client_for, sandbox

from ._model import payload

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


def desired(*items: dict[str, Any]) -> Any:
    return parse_desired([("desired.yaml", list(items))])


def writes(box: Sandbox) -> list[tuple[str, str]]:
    """The requests that change something, as (route, cause)."""
    return [(r.route, r.cause) for r in box.log if r.route not in ("list", "get")]


def chain() -> Any:
    return desired(
        payload("C", "c", ("b",), key="c"),
        payload("B", "b", ("a",), key="b"),
        payload("A", "a", key="a"),
    )


async def test_creates_in_dependency_order_then_the_plan_is_empty() -> None:
    box = sandbox()
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        plan = await ws.plan(chain())
        assert [(s.kind, s.key) for s in plan.steps] == [
            ("create", "a"), ("create", "b"), ("create", "c")
        ]  # fmt: skip
        seen: list[str] = []
        result = await ws.apply(plan, progress=lambda p: seen.append(f"{p.done}/{p.total}"))
        assert result.ok
        assert seen == ["1/3", "2/3", "3/3"]
        ids = {o.key: o.segment_id for o in result.outcomes}
        c = await client.get_segment(ids["c"] or "")
        assert c.included_filters is not None
        ref = c.included_filters.filters[1]
        assert getattr(ref, "id", None) == ids["b"]
        again = await ws.plan(chain())
        assert again.empty
        assert not again.refresh
        exported = await ws.export()
    back = parse_desired([("export", list(exported.items))]).by_key()
    for item in chain().items:
        assert fingerprint(back[item.key].resolve(ids)) == fingerprint(item.resolve(ids))
    assert [r for r, _ in writes(box)] == ["create"] * 3


async def test_a_rename_is_an_update_of_the_same_segment(tmp_path: Path) -> None:
    box = sandbox()
    async with client_for(box) as client:  # a SQLite state: its calls run in worker threads
        ws = Workspace(client, tmp_path / "state.sqlite")
        await ws.apply(desired(payload("Old", "x", key="k")))
        sid = box.find("Old").id  # type: ignore[union-attr]
        plan = await ws.plan(desired(payload("New", "x", key="k")))
        assert [(s.kind, s.segment_id) for s in plan.steps] == [("rename", sid)]
        assert (await ws.apply(plan)).ok
    assert box.find("New").id == sid  # type: ignore[union-attr]
    assert box.find("Old") is None
    assert [r for r, _ in writes(box)] == ["create", "update"]


async def test_prune_is_off_by_default_and_capped() -> None:
    box = sandbox()
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        three = [payload(n, n.lower(), key=n.lower()) for n in ("A", "B", "C")]
        await ws.apply(desired(*three))
        keep = desired(three[0])
        plan = await ws.plan(keep)
        assert plan.empty
        assert plan.orphans == ("b", "c")
        capped = await ws.plan(keep, prune=True, max_archive=1)
        assert [s.kind for s in capped.steps if s.kind == "archive"] == ["archive"]
        with pytest.raises(PlanRefused, match="max-archive"):
            await ws.apply(capped)
        before = len(box.log)
        assert all(r.route != "archive" for r in box.log[:before])
        result = await ws.apply(keep, prune=True, max_archive=2)
        assert [(o.kind, o.status) for o in result.outcomes] == [
            ("archive", "done"), ("archive", "done"), ("unchanged", "unchanged")
        ]  # fmt: skip
    archived = {s.name for s in box.segments() if s.archived}
    assert archived == {"B", "C"}


async def test_desired_again_after_an_archive_is_unarchived_not_recreated() -> None:
    box = sandbox()
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        both = desired(payload("A", "a", key="a"), payload("B", "b", key="b"))
        await ws.apply(both)
        await ws.apply(desired(payload("A", "a", key="a")), prune=True)
        plan = await ws.plan(desired(payload("A", "a", key="a"), payload("B2", "b2", key="b")))
        step = next(s for s in plan.steps if s.key == "b")
        assert (step.kind, step.update) == ("unarchive", True)
        assert (await ws.apply(plan)).ok
    b = box.find("B2")
    assert b is not None
    assert not b.archived
    assert [r for r, _ in writes(box)].count("create") == 2


async def test_a_name_archived_elsewhere_is_unarchived_and_updated() -> None:
    # archived on the dashboard, unknown to the state: the list shows it without a status;
    # the update answers 403 (archived), so the applier unarchives it and updates it
    box = sandbox()
    seeded = box.seed_segment(payload("Kept", "old"), source="API", archived=True)
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        result = await ws.apply(desired(payload("Kept", "new", key="kept")))
        assert result.ok, result
    seg = box.find("Kept")
    assert seg is not None
    assert seg.id == seeded.id
    assert not seg.archived
    assert seg.fingerprint == fingerprint(payload("Kept", "new"))
    assert "create" not in [r for r, _ in writes(box)]


async def test_dashboard_segments_are_read_only() -> None:
    box = sandbox()
    box.seed_segment(payload("Dash", "dash"), source="DASHBOARD")
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        plan = await ws.plan(desired(payload("Dash", "other", key="dash")))
        assert [s.kind for s in plan.steps] == ["read_only"]
        result = await ws.apply(plan)
        assert [o.status for o in result.outcomes] == ["read_only"]
    assert writes(box) == []


async def test_the_active_limit_is_checked_before_any_create() -> None:
    box = sandbox(active_segment_limit=1000)
    for i in range(999):
        box.seed_segment(payload(f"s{i}", f"v{i}"), source="API")
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        plan = await ws.plan(desired(payload("X", "x", key="x"), payload("Y", "y", key="y")))
        assert plan.active_after == 1001
        with pytest.raises(HeadroomExceeded, match="over the workspace limit of 1000"):
            await ws.apply(plan)
    assert writes(box) == []


async def test_drift_behind_moesegs_back_is_found_and_planned_back() -> None:
    box = sandbox()
    want = desired(payload("A", "a", key="a"), payload("B", "b", key="b"))
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        await ws.apply(want)
        assert await ws.diff() == ()
        sid = box.find("A").id  # type: ignore[union-attr]
        await client.update_segment(sid, moeseg.from_payload(payload("A", "edited")))
        drift = await ws.diff()
        assert [(d.key, d.kind) for d in drift] == [("a", "changed")]
        assert await ws.diff() != ()  # still reported until applied
        plan = await ws.plan(want)
        assert [(s.kind, s.key) for s in plan.actions] == [("update", "a")]
        assert plan.refresh == ()  # fetched by this plan already
        assert (await ws.apply(plan)).ok
        assert await ws.diff() == ()


async def test_a_stale_saved_plan_is_refused(tmp_path: Path) -> None:
    box = sandbox()
    async with client_for(box) as client:
        ws = Workspace(client, SQLiteState(tmp_path / "state.sqlite"))
        plan = await ws.plan(desired(payload("A", "a", key="a")))
        Workspace.save(plan, tmp_path / "plan.json")
        await client.create_segment(moeseg.from_payload(payload("Other", "o")))
        with pytest.raises(StalePlan, match="plan again"):
            await ws.apply(Workspace.load(tmp_path / "plan.json"))
    assert [r for r, _ in writes(box)] == ["create"]  # only the one made behind its back


async def test_bad_input_is_refused_before_any_request(tmp_path: Path) -> None:
    box = sandbox()
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump(payload("A", "a", key="a")) + "---\n[unclosed\n", encoding="utf-8"
    )
    (tmp_path / "dup.yaml").write_text(
        yaml.safe_dump_all([payload("A", "a", key="a"), payload("A", "b", key="b")]),
        encoding="utf-8",
    )
    (tmp_path / "dangling.yaml").write_text(
        yaml.safe_dump(payload("A", "a", ("nope",), key="a")), encoding="utf-8"
    )
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        with pytest.raises(DesiredItemError, match=r"a\.yaml.*parse"):
            await ws.plan(tmp_path / "a.yaml")
        with pytest.raises(DesiredItemError, match="duplicate name"):
            await ws.plan(tmp_path / "dup.yaml")
        with pytest.raises(DesiredItemError, match="dangling reference"):
            await ws.apply(tmp_path / "dangling.yaml")
    assert box.log == []


async def test_a_held_lock_refuses_a_second_apply() -> None:
    box = sandbox()
    state = MemoryState()
    state.acquire("someone-else", ttl=600, now=time.time())
    async with client_for(box) as client:
        ws = Workspace(client, state)
        plan = await ws.plan(desired(payload("A", "a", key="a")))
        with pytest.raises(StateLocked, match="someone-else"):
            await ws.apply(plan)
    assert writes(box) == []


def _dead_pid() -> int:
    """A pid of this host that runs nothing (a child that has exited and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_a_lock_left_by_a_killed_apply_of_this_host_is_taken_over(tmp_path: Path) -> None:
    """A rerun after a SIGKILL needs no wait for the lock's expiry (it was refused for up to
    the lock's lifetime, five minutes)."""
    box = sandbox()
    state = SQLiteState(tmp_path / "state.sqlite")
    state.acquire(f"{socket.gethostname()}:{_dead_pid()}:killed", ttl=600, now=time.time())
    async with client_for(box) as client:
        ws = Workspace(client, state)
        result = await ws.apply(desired(payload("A", "a", key="a")))
    assert [o.status for o in result.outcomes] == ["done"]
    state.acquire("next", ttl=1, now=time.time())  # released at the end, as always


async def test_a_lock_of_a_live_process_or_another_host_is_respected(tmp_path: Path) -> None:
    box = sandbox()
    state = SQLiteState(tmp_path / "state.sqlite")
    async with client_for(box) as client:
        ws = Workspace(client, state)
        plan = await ws.plan(desired(payload("A", "a", key="a")))
        for owner in (
            f"{socket.gethostname()}:{os.getppid()}:alive",  # our parent runs
            f"other-host.invalid:{_dead_pid()}:elsewhere",  # cannot be checked from here
        ):
            state.acquire(owner, ttl=600, now=time.time())
            with pytest.raises(StateLocked, match=owner):
                await ws.apply(plan)
            state.release(owner)
    assert writes(box) == []


async def test_export_adopts_the_workspace_and_a_plan_of_it_is_empty(tmp_path: Path) -> None:
    box = sandbox()
    box.seed_segment(payload("Base", "base"), source="API")
    async with client_for(box) as client:
        base = box.find("Base").id  # type: ignore[union-attr]
        ref = payload("Uses base", "u")
        ref["included_filters"]["filters"].append({"filter_type": "custom_segments", "id": base})
        await client.create_segment(moeseg.from_payload(ref))
        state = MemoryState()
        ws = Workspace(client, state)
        result = await ws.export(tmp_path / "segments")
        assert sorted(p.name for p in (tmp_path / "segments").iterdir()) == [
            "base.yaml", "uses-base.yaml"
        ]  # fmt: skip
        assert set(state.snapshot().rows) == {"base", "uses-base"}
        assert result.items[1]["included_filters"]["filters"][1]["segment_key"] == "base"
        gets = sum(r.route == "get" for r in box.log)
        assert gets == 2
        plan = await ws.plan(tmp_path / "segments")
        assert plan.empty
        assert sum(r.route == "get" for r in box.log) == gets
        await ws.export(tmp_path / "segments")  # verified recently: no GET again
        assert sum(r.route == "get" for r in box.log) == gets


def test_rows_state_roundtrip_is_what_apply_writes() -> None:
    # a row written by hand reads back unchanged (the applier only ever writes whole rows)
    state = MemoryState()
    row = StateRow("k", "id1", "N", "fp", "{}", 1.0)
    state.put(row)
    assert state.snapshot().rows["k"] == row


class ActiveOnlyList(httpx.AsyncBaseTransport):
    """The sandbox, but its list leaves archived segments out (as an API whose list shows
    active segments only would): a create then meets the archived name as a 409."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.inner = httpx.ASGITransport(app=box.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and request.url.path == "/v3/custom-segments":
            body = json.loads(await response.aread())
            archived = {s.id for s in self.box.segments() if s.archived}
            body["data"] = [s for s in body["data"] if s["id"] not in archived]
            return httpx.Response(response.status_code, json=body)
        return response


async def test_a_409_for_a_name_the_list_does_not_show_unarchives_it() -> None:
    box = sandbox()
    seeded = box.seed_segment(payload("Hidden", "old"), source="API", archived=True)
    async with moeseg.Client(
        box.workspace_id,
        box.api_key,
        base_url="http://sandbox.invalid",
        db_name=box.db_name,
        transport=ActiveOnlyList(box),
        governor=Governor(QuotaPolicy.moengage()),
    ) as client:
        ws = Workspace(client, MemoryState())
        plan = await ws.plan(desired(payload("Hidden", "new", key="h")))
        [step] = plan.steps
        assert (step.kind, step.on_name_conflict) == ("create", "unarchive")
        result = await ws.apply(plan)
        assert result.ok, result
        assert result.outcomes[0].segment_id == seeded.id
    seg = box.find("Hidden")
    assert seg is not None
    assert not seg.archived
    assert seg.fingerprint == fingerprint(payload("Hidden", "new"))
    assert [r for r, _ in writes(box)] == ["create", "unarchive", "update"]


async def test_an_unmanaged_segment_holding_the_definition_is_adopted_and_renamed() -> None:
    box = sandbox()
    other = box.seed_segment(payload("Made elsewhere", "same"), source="API")
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        result = await ws.apply(desired(payload("Mine", "same", key="mine")))
        assert result.ok, result
        assert result.outcomes[0].segment_id == other.id
        assert (await ws.plan(desired(payload("Mine", "same", key="mine")))).empty
    assert [s.name for s in box.segments()] == ["Mine"]


async def test_creates_are_exactly_once_when_answers_are_lost() -> None:
    # every create is processed, then answered 503: the client's lookup settles each one
    lost = ServerErrorFault(status=503, routes={"create"}, when="after", times=3)
    box = sandbox(faults=FaultConfig((lost,)))
    async with client_for(box) as client:
        ws = Workspace(client, MemoryState())
        result = await ws.apply(chain())
        assert result.ok, result
        assert (await ws.plan(chain())).empty
    assert sorted(s.name for s in box.segments()) == ["A", "B", "C"]


async def test_the_lock_is_renewed_while_apply_waits_for_quota() -> None:
    box = sandbox()
    state = MemoryState()
    renewals: list[float] = []
    acquire = state.acquire

    def spy(owner: str, *, ttl: float, now: float) -> None:
        renewals.append(now)
        acquire(owner, ttl=ttl, now=now)

    state.acquire = spy  # type: ignore[method-assign]
    items = [payload(f"S{i}", f"v{i}", key=f"s{i}") for i in range(55)]
    async with client_for(box) as client:
        plan = await Workspace(client, state).plan(desired(*items))
        # 55 creates + the list: the minute window holds 50, so apply waits about a minute
        result = await apply_plan(client, plan, state, lock_ttl=30.0)
    assert result.ok
    assert len(renewals) >= 3  # taken, then renewed every 10 s of the wait
    assert state.snapshot().rows.keys() == {f"s{i}" for i in range(55)}
    state.acquire("next", ttl=1, now=time.time())  # released at the end


async def test_diff_names_renamed_and_missing_segments() -> None:
    box = sandbox()
    state = MemoryState()
    async with client_for(box) as client:
        ws = Workspace(client, state)
        await ws.apply(desired(payload("A", "a", key="a")))
        sid = box.find("A").id  # type: ignore[union-attr]
        await client.update_segment(sid, moeseg.from_payload(payload("A renamed", "a")))
        # a segment the server no longer lists (archived segments are hidden after 180 days)
        state.put(StateRow("gone", "0123456789abcdef01234567", "Gone", "fp", "{}", 1.0))
        drift = {d.key: (d.kind, d.server_name) for d in await ws.diff()}
    assert drift == {"a": ("renamed", "A renamed"), "gone": ("missing", None)}


class Killed(BaseException):
    """The process died."""


async def test_an_interrupted_export_resumes_without_fetching_twice(tmp_path: Path) -> None:
    box = sandbox()
    for i in range(6):
        box.seed_segment(payload(f"S{i}", f"v{i}"), source="API")
    state = MemoryState()
    async with client_for(box) as client:
        ws = Workspace(client, state)

        def die_at_4(p: Any) -> None:
            if p.done == 4:
                raise Killed

        with pytest.raises(Killed):
            await ws.export(progress=die_at_4)
        assert sum(r.route == "get" for r in box.log) == 4
        assert len(state.snapshot().rows) == 4  # each GET adopted as it arrived
        result = await ws.export(tmp_path / "out")
    assert sum(r.route == "get" for r in box.log) == 6
    assert len(result.items) == 6
