"""Client.sync_members against the sandbox (ASGI transport, virtual time): routes, snapshots,
first syncs, dry runs and kill-and-rerun convergence (file segments: test_members_files.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moeseg
import moeseg.cohorts
from moeseg import Client
from moeseg._cohorts import MemberState
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import FaultConfig, Sandbox, SandboxConfig, ServerErrorFault

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def asgi(sb: Sandbox, **kw: Any) -> AsyncIterator[Client]:
    async with Client(
        sb.workspace_id,
        sb.api_key,
        base_url="http://sandbox.test",
        db_name=sb.db_name,
        transport=httpx.ASGITransport(app=sb.app),
        governor=Governor(QuotaPolicy.moengage()),
        **kw,
    ) as client:
        yield client


def members(sb: Sandbox, name: str) -> set[str]:
    seg = sb.find(name)
    assert seg is not None
    return set(seg.users)


def routes(sb: Sandbox) -> list[str | None]:
    return [r.route for r in sb.log]


@pytest.mark.virtual_time
async def test_first_sync_adds_all_then_only_the_deltas_are_sent(tmp_path: Path) -> None:
    sb = Sandbox()
    csv_path = tmp_path / "users.csv"
    csv_path.write_text("uid,email\n" + "".join(f"u{i},x{i}@y.z\n" for i in range(100)))
    async with asgi(sb) as client:
        first = await client.sync_members("Fans", csv_path, state_dir=tmp_path)
        assert members(sb, "Fans") == {f"u{i}" for i in range(100)}
        assert first.committed
        assert (first.added, first.removed, first.requests) == (100, 0, 1)
        assert any("cannot be removed" in n for n in first.notes)
        assert first.plan is not None
        assert first.plan.method == "add only"
        second = await client.sync_members(
            "Fans", [f"u{i}" for i in range(5, 103)], state_dir=tmp_path
        )
    assert (second.added, second.removed, second.requests) == (3, 5, 2)
    assert second.notes == ()
    assert members(sb, "Fans") == {f"u{i}" for i in range(5, 103)}
    # One list call on the first sync (no record yet); none after.
    assert routes(sb) == ["list", "cohort_sync", "cohort_sync", "cohort_sync"]
    record = MemberState(tmp_path, sb.workspace_id).record("Fans")
    assert record is not None
    assert (record.route, record.members) == ("cohort", 98)


@pytest.mark.virtual_time
async def test_an_unchanged_list_sends_nothing(tmp_path: Path) -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        await client.sync_members("Fans", ["a", "b"], state_dir=tmp_path)
        again = await client.sync_members("Fans", ["b", "a", "a"], state_dir=tmp_path)
    assert again.requests == 0
    assert len(sb.log) == 2


@pytest.mark.virtual_time
async def test_dry_run_plans_and_sends_nothing_but_the_route_lookup(tmp_path: Path) -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        result = await client.sync_members(
            "Fans", [f"u{i}" for i in range(10)], state_dir=tmp_path, dry_run=True
        )
    assert result.dry_run
    assert not result.committed
    assert result.added == 10
    assert routes(sb) == ["list"]
    assert result.plan is not None
    text = result.describe()
    assert "cohort_sync add_members: 10 uids in 1 request" in text
    assert "dry run: nothing sent" in text
    assert not MemberState(tmp_path, sb.workspace_id).snapshot_path("Fans").exists()


@pytest.mark.virtual_time
async def test_a_filter_segment_is_refused(tmp_path: Path) -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        await client.create_segment(moeseg.segment("Paris", moeseg.attr("city").is_("Paris")))
        with pytest.raises(moeseg.ConfigurationError, match="from its definition"):
            await client.sync_members("Paris", ["a"], state_dir=tmp_path)


UIDS = [f"{i:02d}" + "x" * 30_000 for i in range(24)]  # about 4 to a 128,000-byte body
lists = st.sets(st.integers(0, len(UIDS) - 1), max_size=16)  # indices: a short repr


def killer(scope: anyio.CancelScope, k: int) -> Callable[[str, int], None]:
    """A progress callback that cancels ``scope`` (kills the sync) at the k-th success."""
    seen = 0

    def progress(action: str, n: int) -> None:
        nonlocal seen
        seen += 1
        if seen >= k:
            scope.cancel()

    return progress


@pytest.mark.slow  # 25 examples of several syncs each: the full suite's, not the fast loop's
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(before=lists, after=lists, killed=st.lists(st.tuples(st.integers(0, 8), lists), max_size=3))
def test_kill_at_any_point_then_rerun_converges(
    tmp_path_factory: pytest.TempPathFactory,
    before: set[int],
    after: set[int],
    killed: list[tuple[int, set[int]]],
) -> None:
    # Each killed run syncs some list and is killed after k successful requests (k=0: before
    # the first); the lists differ, so opposite actions of killed runs may still be unresolved.
    import trio.testing

    state = tmp_path_factory.mktemp("state")

    async def main() -> None:
        sb = Sandbox()
        async with asgi(sb) as client:
            await client.sync_members("C", [UIDS[i] for i in before], state_dir=state)
            for k, wanted in killed:
                with anyio.CancelScope() as scope:
                    if k == 0:
                        scope.cancel()
                    await client.sync_members(
                        "C",
                        [UIDS[i] for i in wanted],
                        state_dir=state,
                        on_progress=killer(scope, k),
                    )
            done = await client.sync_members("C", [UIDS[i] for i in after], state_dir=state)
            assert done.committed
        seg = sb.find("C")
        got = set(seg.users) if seg is not None else set()
        assert got == {UIDS[i] for i in after}  # everything in the list, nothing else

    clock = trio.testing.MockClock(autojump_threshold=0)
    anyio.run(main, backend="trio", backend_options={"clock": clock})


@pytest.mark.virtual_time
async def test_a_refusal_is_raised_typed_and_nothing_is_committed(tmp_path: Path) -> None:
    sb = Sandbox(SandboxConfig(suspended={"SANDBOX_WORKSPACE": "BlockedClient"}))
    async with asgi(sb) as client:
        with pytest.raises(moeseg.cohorts.AccountSuspended) as caught:
            await client.sync_members("Fans", ["a", "b"], state_dir=tmp_path)
    assert caught.value.blocked
    state = MemberState(tmp_path, sb.workspace_id)
    assert not state.snapshot_path("Fans").exists()
    assert state.record("Fans") is None
    assert state.uncertain_path("Fans").exists()  # resent by the next sync


@pytest.mark.virtual_time
async def test_the_plan_eta_counts_the_quota_already_spent(tmp_path: Path) -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        idle = await client.sync_members("Fans", ["a"], state_dir=tmp_path, dry_run=True)
        for _ in range(300):  # another task of this workspace filled the minute
            lease = await client.governor.acquire({"cohort_sync": 1})
            await lease.complete()
        full = await client.sync_members("Fans", ["a"], state_dir=tmp_path, dry_run=True)
    assert idle.plan is not None
    assert full.plan is not None
    assert idle.plan.eta_seconds == 0
    assert 59 < full.plan.eta_seconds <= 60
    assert full.plan.optimum_seconds == 0


@pytest.mark.virtual_time
async def test_a_rerun_elsewhere_waits_until_the_interrupted_runs_requests_cannot_arrive(
    tmp_path: Path,
) -> None:
    # The first run's add ends with an unknown outcome; a second client (another process: it
    # shares no pending actions with the first) syncs a list without that uid. Its remove must
    # not go before the add could still land.
    rule = ServerErrorFault(status=503, when="after", routes={"cohort_sync"}, times=1)
    sb = Sandbox(SandboxConfig(faults=FaultConfig((rule,))))
    async with asgi(sb, max_retries=0, timeout=10.0) as first:
        with pytest.raises(moeseg.ServerError):
            await first.sync_members("Fans", ["a", "b"], state_dir=tmp_path)
    start = anyio.current_time()
    async with asgi(sb, timeout=10.0) as second:
        done = await second.sync_members("Fans", ["b"], state_dir=tmp_path)
    assert anyio.current_time() - start >= 15.0  # the first run's timeout + 5 s margin
    assert (done.added, done.removed) == (1, 1)  # b resent (uncertain), a removed
    assert members(sb, "Fans") == {"b"}
    assert not MemberState(tmp_path, sb.workspace_id).uncertain_path("Fans").exists()


@pytest.mark.virtual_time
async def test_a_cohort_another_tool_created_is_synced_by_its_cohort_id(tmp_path: Path) -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        await client.sync_cohort("Amp", add=["a", "b"], cohort_id="amplitude-42", partner="amp")
        with pytest.raises(moeseg.BadRequest):  # our derived id is another cohort: refused
            await client.sync_members("Amp", ["b", "c"], state_dir=tmp_path)
        done = await client.sync_members(
            "Amp", ["b", "c"], state_dir=tmp_path / "2", cohort_id="amplitude-42"
        )
        again = await client.sync_members("Amp", ["c"], state_dir=tmp_path / "2")
    assert (done.added, again.removed) == (2, 1)  # first sync: b and c; then b removed
    assert members(sb, "Amp") == {"a", "c"}  # a was never in a list this state synced
