"""One test per finding of the governor review (issue 13), each failing on the old governor.

Their reproducers are in ../shared/repro/governor/ (see its README).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
import trio

from moeseg import ConfigurationError, QuotaWaitTooLong
from moeseg.governor import (
    AnyioClock,
    Demand,
    Denied,
    Governor,
    Granted,
    MemoryStore,
    QuotaGroup,
    QuotaPolicy,
    RedisStore,
    SQLiteStore,
    Window,
    get_governor,
)
from tests.governor._support import ManualClock, sliding_max
from tests.governor.stores._redis_server import start_redis_server

pytestmark = pytest.mark.anyio


def policy(*windows: Window) -> QuotaPolicy:
    return QuotaPolicy([QuotaGroup("g", windows)], {"op": {"g": 1}})


async def burst(gov: Governor, n: int, op: str = "op") -> int:
    """Requests admitted at once (``max_wait=0``), each completed at once."""
    got = 0
    for _ in range(n):
        try:
            lease = await gov.acquire(op, max_wait=0)
        except QuotaWaitTooLong:
            break
        await lease.complete()
        got += 1
    return got


# 1 -- SQLite: a lease's bound counts from after the lock wait ----------------------------------


async def test_1_sqlite_lease_bound_counts_from_after_the_lock_wait(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = SQLiteStore(path, workspace="w")
    store.open()
    gov = Governor(policy(Window(1, 3.0)), store=store)
    locked = threading.Event()

    def other_process_holds_the_lock() -> None:
        c = sqlite3.connect(path, isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(0.6)
        c.execute("COMMIT")
        c.close()

    th = threading.Thread(target=other_process_holds_the_lock)
    th.start()
    locked.wait()
    lease = await gov.acquire("op", lease_timeout=0.3)
    returned = time.time()
    th.join()
    assert lease.expires_at > returned  # not already expired before the request is sent
    assert lease.expires_at - lease.admitted_at == pytest.approx(0.3)
    await store.aclose()


# 2 -- wall-clock steps never free quota early ----------------------------------------------------


@pytest.mark.parametrize("step", [-300.0, 61.0, 3600.0])
async def test_2_a_wall_clock_step_frees_nothing_early(tmp_path: Path, step: float) -> None:
    clock = ManualClock()
    pol = policy(Window(3, 60), Window(20, 3600))
    store = SQLiteStore(tmp_path / "q.sqlite3", workspace="w", clock=clock)
    assert await burst(Governor(pol, store=store), 3) == 3
    clock.step(step)  # NTP step or VM resume: the wall clock jumps, monotonic time does not
    assert await burst(Governor(pol, store=store), 10) == 0
    # a process started after the step (same machine, same boot) agrees
    later = SQLiteStore(tmp_path / "q.sqlite3", workspace="w", clock=clock)
    assert await burst(Governor(pol, store=later), 10) == 0
    clock.advance(60)  # a minute of real time later, the minute window has room again
    assert await burst(Governor(pol, store=later), 10) == 3
    await store.aclose()
    await later.aclose()


# 3 -- the registry across event loops -----------------------------------------------------------


def test_3_the_registry_counts_across_event_loop_runs() -> None:
    ws = f"ws-{uuid.uuid4().hex[:8]}"
    got: list[int] = []
    waits: list[float] = []

    async def spend() -> None:
        gov = get_governor(ws)
        n = 0
        try:
            while True:
                await (await gov.acquire("create", max_wait=0)).complete()
                n += 1
        except QuotaWaitTooLong as exc:
            waits.append(exc.wait)
        got.append(n)

    trio.run(spend)  # trio's clock starts at a random offset in every run
    trio.run(spend)
    asyncio.run(spend())
    assert got == [50, 0, 0]
    assert all(0 < w <= 60 for w in waits)


def test_3_a_governor_on_an_injected_clock_is_never_shared() -> None:
    with pytest.raises(ConfigurationError):
        get_governor(f"ws-{uuid.uuid4().hex[:8]}", store=MemoryStore(clock=AnyioClock()))
    with pytest.raises(ConfigurationError):
        get_governor(f"ws-{uuid.uuid4().hex[:8]}", store=MemoryStore(clock=ManualClock()))


# 4 -- a request that may still arrive occupies its slot until its bound -----------------------


@pytest.mark.virtual_time
async def test_4_timed_out_requests_arriving_late_never_overload_a_strict_server() -> None:
    timeout, margin, window = 3.0, 1.0, 10.0
    gov = Governor(policy(Window(5, window)))
    rng = random.Random(4)
    arrivals: list[float] = []

    async def arrive(at: float) -> None:
        await anyio.sleep_until(at)
        arrivals.append(at)

    async with anyio.create_task_group() as network:

        async def request() -> None:
            lease = await gov.acquire("op", lease_timeout=timeout + margin)
            delay = rng.uniform(0, timeout + margin)  # the network delays it, up to the bound
            network.start_soon(arrive, anyio.current_time() + delay)
            if delay <= timeout:
                await anyio.sleep(delay)
                await lease.complete()  # the answer came
            else:
                await anyio.sleep(timeout)
                await lease.abandon()  # the client gave up: outcome unknown

        async with anyio.create_task_group() as clients:
            for _ in range(60):
                clients.start_soon(request)
    assert len(arrivals) == 60
    assert sliding_max(arrivals, window) <= 5


# 5 -- headers: everything the server reports spent is recorded ---------------------------------


@pytest.mark.virtual_time
async def test_5_observe_headers_records_everything_the_server_reports_spent() -> None:
    gov = Governor()
    for _ in range(10):
        await (await gov.acquire("create")).complete()
    await gov.observe_headers(
        "segments", {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "5"}
    )
    assert (await gov.remaining())["segments"][3600.0] == 5
    await anyio.sleep(61)
    assert await burst(gov, 50, "create") == 5


# 6 -- no busy loop ------------------------------------------------------------------------------


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        self.asked += 1
        return await super().admit(lease_id, demand, lease_seconds)


SPIN = QuotaPolicy(
    [
        QuotaGroup("X", (Window(2, 10), Window(1000, 1000))),
        QuotaGroup("Y", (Window(1, 100),)),
    ],
    {"xy": {"X": 1, "Y": 1}, "x": {"X": 1}, "y": {"Y": 1}},
)


async def spin_scenario(gov: Governor, scale: float) -> None:
    """The reproducer's schedule: B waits behind A, whose group is then paused."""
    await (await gov.acquire("y")).complete()  # Y full until 100
    await (await gov.acquire("x")).complete()  # X: 1 of 2 used until 10
    async with anyio.create_task_group() as tg:
        tg.start_soon(gov.acquire, "xy")  # A: blocked by Y
        await anyio.sleep(0.01 * scale)
        tg.start_soon(gov.acquire, "x")  # B: behind A in X
        await anyio.sleep(0.01 * scale)
        await gov.report_rate_limited("X", 60 * scale)  # X paused: A blocked by X too
        await anyio.sleep(70 * scale)
        tg.cancel_scope.cancel()


@pytest.mark.virtual_time
async def test_6_a_waiter_sleeps_until_something_can_change_for_it() -> None:
    store = CountingStore()
    gov = Governor(SPIN, store=store)
    with anyio.fail_after(1000):  # virtual time advances: no spin can freeze it
        await spin_scenario(gov, 1.0)
    assert store.asked <= 8


@pytest.mark.slow  # real time against a shared store
async def test_6_a_waiter_on_a_shared_store_rechecks_at_a_bounded_interval(
    tmp_path: Path,
) -> None:
    class Counting(SQLiteStore):
        asked = 0

        async def admit(
            self, lease_id: str, demand: Demand, lease_seconds: float
        ) -> Granted | Denied:
            type(self).asked += 1
            return await super().admit(lease_id, demand, lease_seconds)

    store = Counting(tmp_path / "q.sqlite3", workspace="w", recheck=0.2)
    gov = Governor(SPIN.scaled(0.02), store=store)
    await spin_scenario(gov, 0.02)  # 1.4 s of real time, two waiters
    assert Counting.asked <= 2 + 2 * (1.4 / 0.2 + 2)
    await store.aclose()


# 7 -- cancellation and max_wait with Redis stalled ----------------------------------------------


@pytest.mark.slow  # real time against a shared store
@pytest.mark.redis
async def test_7_max_wait_and_cancellation_hold_with_redis_stalled() -> None:
    try:
        proc, url = start_redis_server()
    except FileNotFoundError:
        if os.environ.get("MOESEG_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed and MOESEG_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed")
    try:
        store = RedisStore(url, workspace=f"ws-{uuid.uuid4().hex[:8]}", timeout=5.0)
        gov = Governor(store=store)
        await (await gov.acquire("create")).complete()  # connected, scripts loaded
        os.kill(proc.pid, signal.SIGSTOP)  # the server stops answering
        try:
            started = time.monotonic()
            with anyio.move_on_after(1.0):
                with pytest.raises(QuotaWaitTooLong):
                    await gov.acquire("create", max_wait=0.5)
            assert time.monotonic() - started < 2.0
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        await anyio.sleep(1.0)  # the abandoned admission and its refund reach the server
        left = await gov.remaining()
        assert left["segments"][60.0] == 49  # only the first create counts
        await store.aclose()
    finally:
        proc.kill()
        proc.wait()


# 8 -- a burst of 429s is one event ---------------------------------------------------------------


@pytest.mark.virtual_time
async def test_8_a_burst_of_429s_pauses_once() -> None:
    gov = Governor()
    leases = [await gov.acquire("create") for _ in range(3)]  # all sent before any 429
    pauses: list[float] = []

    async def rate_limited(i: int) -> None:
        await leases[i].complete()
        pauses.append(await gov.report_rate_limited("segments", lease=leases[i]))

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(rate_limited, i)
    assert max(pauses) <= 60
    assert (await gov.next_free("create")).seconds <= 60
    # without lease=, the same: nothing was admitted since the pause began
    assert await gov.report_rate_limited("segments") <= 60


# 9 -- complete() and refund() never raise; odd header values are ignored -------------------------


class BrokenStore(MemoryStore):
    async def end(self, lease_id: str, groups: Sequence[str]) -> float:
        raise ConnectionError("store down")

    async def refund(self, lease_id: str, groups: Sequence[str]) -> float:
        raise ConnectionError("store down")


@pytest.mark.virtual_time
async def test_9_complete_and_refund_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    gov = Governor(store=BrokenStore())
    with caplog.at_level(logging.ERROR, "moeseg.governor"):
        await (await gov.acquire("create")).complete()
        await (await gov.acquire("create")).refund()
    assert [r.getMessage().split("(")[0] for r in caplog.records] == [
        "quota store: end",
        "quota store: refund",
    ]
    assert gov.in_flight == 0


async def test_9_complete_survives_a_locked_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = SQLiteStore(path, workspace="w", timeout=0.2)
    gov = Governor(store=store)
    lease = await gov.acquire("create")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        await lease.complete()  # the lock wait times out: logged, not raised
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert lease.state == "completed"
    await store.aclose()


@pytest.mark.virtual_time
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-5", "1e400", "junk", ""])
async def test_9_odd_header_values_are_ignored(value: str) -> None:
    gov = Governor()
    await gov.observe_headers("segments", {"x-ratelimit-remaining": value})
    await gov.observe_headers(
        "segments", {"x-ratelimit-limit": value, "x-ratelimit-remaining": "7"}
    )
    await gov.observe_headers(
        "segments", {"x-ratelimit-remaining": "0", "x-ratelimit-reset": value}
    )
    # nothing left and no usable reset: paused for the (shortest) window, not dropped
    assert (await gov.next_free("create")).seconds == 60
    assert math.isfinite((await gov.eta("create", 60)).seconds)
