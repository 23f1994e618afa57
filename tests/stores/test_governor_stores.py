"""The Governor on each store: the same behaviour whether its state lives in memory, in SQLite
or in Redis. Memory and SQLite run in virtual time on the loop clock; Redis reads the server's
clock, so its cases run in real time with the policy scaled down to fractions of a second."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
import pytest

from moeseg import QuotaWaitTooLong
from moeseg.governor import (
    AnyioClock,
    Clock,
    Governor,
    QuotaGroup,
    QuotaPolicy,
    RedisStore,
    SQLiteStore,
    Store,
    WallClock,
    Window,
)
from tests.stores._cases import make_store, sliding_max

pytestmark = pytest.mark.anyio

STORES = [
    pytest.param("memory", marks=pytest.mark.virtual_time),
    pytest.param("sqlite", marks=pytest.mark.virtual_time),
    "redis",
]
PERSISTENT = STORES[1:]


@attrs.define
class GovCase:
    kind: str
    store: Store
    clock: Clock
    scale: float  # policy time factor: 1 in virtual time, small for Redis in real time
    tmp_path: Path
    url: str | None

    @property
    def tol(self) -> float:
        return 0.05 if self.kind == "redis" else 1e-6

    def policy(self) -> QuotaPolicy:
        return QuotaPolicy.moengage().scaled(self.scale)

    def reopen(self) -> Store:
        """A new store object on the same state (another or a restarted process); the one
        memory store itself, since only objects in one process can share it."""
        if self.kind == "memory":
            return self.store
        ws = getattr(self.store, "workspace", "")
        return make_store(self.kind, self.tmp_path, self.url, workspace=ws, clock=self.clock)


@pytest.fixture(params=STORES)
async def gcase(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GovCase]:
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    real = kind == "redis"
    clock: Clock = WallClock() if real else AnyioClock()
    store = make_store(kind, tmp_path, url, clock=clock)
    try:
        yield GovCase(kind, store, clock, 0.01 if real else 1.0, tmp_path, url)
    finally:
        if isinstance(store, (RedisStore, SQLiteStore)):
            await store.aclose()


async def run_creates(gov: Governor, n: int, log: list[float]) -> None:
    async def one() -> None:
        async with gov.lease("create"):
            log.append(gov.clock.now())

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)


async def test_full_speed_and_never_over_a_window(gcase: GovCase) -> None:
    gov = Governor(gcase.policy(), store=gcase.store, clock=gcase.clock)
    minute = 60 * gcase.scale
    log: list[float] = []
    await run_creates(gov, 60, log)
    t0 = min(log)  # (Redis: after the connections are set up)
    first = [t for t in log if t < t0 + minute]
    assert len(first) == 50  # the whole minute's quota at once, not a timid fraction
    assert sliding_max(log, minute) == 50
    assert max(log) < t0 + minute + 3 * gcase.tol + (0.5 if gcase.kind == "redis" else 0)
    left = await gov.remaining()
    assert left["segments"][3600 * gcase.scale] == 200 - 60


async def test_max_wait_fails_at_once_with_when(gcase: GovCase) -> None:
    gov = Governor(gcase.policy(), store=gcase.store, clock=gcase.clock)
    log: list[float] = []
    await run_creates(gov, 50, log)
    t = gov.clock.now()
    with pytest.raises(QuotaWaitTooLong) as info:
        await gov.acquire("create", max_wait=0)
    assert gov.clock.now() - t < 5 * gcase.scale + (0.1 if gcase.kind == "redis" else 0)
    assert info.value.frees_at >= min(log) + 60 * gcase.scale - gcase.tol
    assert info.value.frees_at <= max(log) + 60 * gcase.scale + gcase.tol
    assert (await gov.remaining())["segments"][60 * gcase.scale] == 0


async def test_two_governors_on_one_store_share_the_quota(gcase: GovCase) -> None:
    """Two governors on one store are two processes: together they stay within every window."""
    policy = gcase.policy()
    gov1 = Governor(policy, store=gcase.store, clock=gcase.clock)
    gov2 = Governor(policy, store=gcase.reopen(), clock=gcase.clock)
    log: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_creates, gov1, 35, log)
        tg.start_soon(run_creates, gov2, 35, log)
    assert len(log) == 70
    assert sliding_max(log, 60 * gcase.scale) <= 50
    store2 = gov2.store
    if isinstance(store2, (RedisStore, SQLiteStore)):
        await store2.aclose()


async def test_a_pause_reported_by_one_governor_holds_the_other(gcase: GovCase) -> None:
    policy = gcase.policy()
    gov1 = Governor(policy, store=gcase.store, clock=gcase.clock)
    gov2 = Governor(policy, store=gcase.reopen(), clock=gcase.clock)
    until = await gov1.report_rate_limited("segments", 60 * gcase.scale)
    t = gov2.clock.now()
    async with gov2.lease("create"):
        admitted = gov2.clock.now()
    assert admitted >= until - gcase.tol
    assert admitted - t <= 60 * gcase.scale + 3 * gcase.tol + (0.1 if gcase.kind == "redis" else 0)
    async with gov2.lease("get"):  # other groups are not paused
        pass
    store2 = gov2.store
    if isinstance(store2, (RedisStore, SQLiteStore)):
        await store2.aclose()


async def test_a_cancelled_waiter_takes_nothing(gcase: GovCase) -> None:
    gov = Governor(gcase.policy(), store=gcase.store, clock=gcase.clock)
    held = [await gov.acquire("create") for _ in range(50)]  # in flight: nothing frees
    with anyio.move_on_after(10 * gcase.scale) as scope:
        await gov.acquire("create")
    assert scope.cancelled_caught
    assert gov.waiting == 0
    states = await gcase.store.snapshot(gov.policy.groups, gov.clock.now())
    assert len(states["segments"].entries) == 50
    for lease in held:
        await lease.complete()


@pytest.mark.parametrize("gcase", PERSISTENT, indirect=True)
async def test_requests_before_a_restart_still_count(gcase: GovCase) -> None:
    """A restarted process (new governor, new store object on the same file or server) still
    sees this morning's requests in the day window."""
    s = gcase.scale
    policy = QuotaPolicy(
        groups=(QuotaGroup("segments", (Window(5, 60 * s), Window(8, 1440 * s))),),
        operations={"create": {"segments": 1}},
    )
    gov = Governor(policy, store=gcase.store, clock=gcase.clock)
    log: list[float] = []
    await run_creates(gov, 5, log)
    store = gcase.store
    assert isinstance(store, (RedisStore, SQLiteStore))
    await store.aclose()
    restarted = Governor(policy, store=gcase.reopen(), clock=gcase.clock)
    left = await restarted.remaining()
    assert left["segments"] == {60 * s: 0, 1440 * s: 3}
    t = restarted.clock.now()
    assert math.isclose(await restarted.next_free("create"), max(log) + 60 * s, abs_tol=gcase.tol)
    assert t < max(log) + 60 * s
    store2 = restarted.store
    assert isinstance(store2, (RedisStore, SQLiteStore))
    await store2.aclose()
