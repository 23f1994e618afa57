"""The governor in virtual time: full speed, exact windows, leases, waiting, deadlines, 429s."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from moeseg import ConfigurationError, QuotaWaitTooLong
from moeseg.governor import (
    AnyioClock,
    Demand,
    Denied,
    Governor,
    Granted,
    GroupView,
    Lease,
    MemoryStore,
    MonotonicClock,
    QuotaGroup,
    QuotaPolicy,
    SQLiteStore,
    WallClock,
    Window,
    get_governor,
)

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

ONE = QuotaPolicy(
    (
        QuotaGroup("a", (Window(1, 10),)),
        QuotaGroup("b", (Window(2, 10),)),
        QuotaGroup("w", (Window(10, 10),), weighted=True),
    ),
    {"a": {"a": 1}, "b": {"b": 1}, "ab": {"a": 1, "b": 1}},
)


class YieldingStore:
    """A store that is not the in-memory one and yields on every call, like a remote store."""

    recheck = math.inf

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.clock = self.inner.clock

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        await anyio.sleep(0)
        return await self.inner.admit(lease_id, demand, lease_seconds)

    async def end(self, lease_id: str, groups: Sequence[str]) -> float:
        await anyio.sleep(0)
        return await self.inner.end(lease_id, groups)

    async def refund(self, lease_id: str, groups: Sequence[str]) -> float:
        await anyio.sleep(0)
        return await self.inner.refund(lease_id, groups)

    async def pause(self, group: str, seconds: float) -> float:
        await anyio.sleep(0)
        return await self.inner.pause(group, seconds)

    async def spend(self, group: QuotaGroup, units: int) -> float:
        await anyio.sleep(0)
        return await self.inner.spend(group, units)

    async def view(self, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        await anyio.sleep(0)
        return await self.inner.view(groups)


@pytest.fixture(params=["memory", "yielding"])
def local_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(policy: QuotaPolicy | None = None, kind: str = "memory") -> Governor:
    return Governor(policy, store=YieldingStore() if kind == "yielding" else None)


async def burst(gov: Governor, n: int, demand: str = "create", latency: float = 0.0) -> list[float]:
    """Start ``n`` requests at once; return their admission times (relative), in order."""
    t0 = anyio.current_time()
    times: list[float] = []

    async def one() -> None:
        async with gov.lease(demand):
            times.append(anyio.current_time() - t0)
            await anyio.sleep(latency)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return times


# -- full speed, exactly ------------------------------------------------------------------


async def test_50_creates_go_at_once_and_the_51st_waits_a_minute(local_kind: str) -> None:
    times = await burst(make(kind=local_kind), 51)
    assert times[:50] == [0.0] * 50
    assert times[50] == 60.0


async def test_200_creates_within_180_seconds() -> None:
    times = await burst(make(), 200)
    assert times == [60.0 * (i // 50) for i in range(200)]


@pytest.mark.parametrize("latency", [0.0, 2.0])
async def test_1000_creates_finish_at_the_greedy_optimum(latency: float) -> None:
    """1000 creates on a fresh workspace (50/60 s, 200/3600 s, 1000/86400 s).

    The minute window lets 50 go at 0, 60, 120, 180 (200 in the first 3 minutes); the hour
    window then holds until the first of them is an hour old: 3600, 3660, 3720, 3780; and so on
    for five hours. The 1000th request is admitted at 4*3600 + 3*60 = 14,580 s. With a latency
    L every slot frees L later (it occupies until W after the response): each of the 4 hour
    steps and the 3 minute steps of the last hour add L: 14,580 + 7L, the last response at
    14,580 + 8L. This is the issue's "14,580 s plus latency".
    """
    gov = make()
    assert (await gov.eta("create", 1000)).seconds == 14580.0
    times = await burst(gov, 1000, latency=latency)
    expected = [
        (i // 200) * (3600.0 + latency) + ((i % 200) // 50) * (60.0 + latency) for i in range(1000)
    ]
    assert times == expected
    assert times[-1] == pytest.approx(14580.0 + 7 * latency, rel=1e-3)


async def test_the_1001st_create_waits_for_the_day_window() -> None:
    gov = make()
    assert (await gov.eta("create", 1001)).seconds == 86400.0
    times = await burst(gov, 1001)
    assert times[-2:] == [14580.0, 86400.0]


async def test_eta_and_next_free_match_what_then_happens(local_kind: str) -> None:
    gov = make(kind=local_kind)
    await burst(gov, 30)
    await anyio.sleep(30)
    before = await gov.remaining()
    assert before["segments"] == {60.0: 20, 3600.0: 170, 86400.0: 970}
    assert before["segment_reads"][60.0] == 100
    eta = (await gov.eta("create", 120)).seconds
    assert await gov.remaining() == before  # no side effect
    times = await burst(gov, 120)
    # 20 at once (30 s), then 30, 20, 30, 20 as the earlier ones age out of the minute window.
    assert max(times) == eta == 120.0  # (from 30 s after the start)
    assert (await gov.next_free("create")).seconds == 30.0  # the 30 admitted at 120 age out


async def test_unweighted_and_empty_demands() -> None:
    gov = make()
    lease = await gov.acquire("archive")
    assert lease.state == "completed"
    assert lease.groups == {}
    assert (await gov.eta("archive", 10**6)).seconds == 0
    lease = await gov.acquire({"file_ops": 1, "file_users": 2000})
    assert lease.groups == {"file_ops": 1, "file_users": 2000}
    left = await gov.remaining()
    assert left["file_users"] == {86400.0: 1_998_000}
    assert left["file_ops"] == {3600.0: 9, 86400.0: 99}


@pytest.mark.parametrize(
    "demand",
    [{"file_users": 2_000_001}, {"nope": 1}, {"segments": -1}, "nope", {"segments": 51}],
)
async def test_impossible_demands_fail_at_once(demand: object) -> None:
    with pytest.raises(ConfigurationError):
        await make().acquire(demand)  # type: ignore[arg-type]


async def test_lease_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        await make().acquire("create", lease_timeout=0)


# -- leases ---------------------------------------------------------------------------------


async def test_a_slot_stays_occupied_until_a_window_after_the_lease_ends(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    lease = await gov.acquire("a")
    assert repr(lease).startswith(f"<Lease {lease.lease_id} {{'a': 1}} active")
    await anyio.sleep(5)
    await lease.complete()
    await lease.complete()  # idempotent
    await lease.refund()  # too late: it was sent
    assert lease.state == "completed"
    assert (await gov.next_free("a")).seconds == 10.0  # 15 s after admission
    t = anyio.current_time()
    second = await gov.acquire("a")
    assert second.admitted_at == t + 10.0


async def test_refund_gives_the_slot_back_at_once(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    lease = await gov.acquire("a")
    await lease.refund()
    await lease.refund()
    await lease.complete()  # ignored
    assert lease.state == "refunded"
    again = await gov.acquire("a")
    assert again.admitted_at == lease.admitted_at


async def test_a_lease_never_ended_expires_after_its_bound(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    hung = await gov.acquire("a", lease_timeout=30)
    nxt = await gov.acquire("a")
    assert nxt.admitted_at == hung.admitted_at + 30 + 10  # admitted + lease_timeout + window
    assert hung.state == "active"
    assert gov.in_flight == 2
    await hung.complete()  # late: the store keeps the bound
    assert (await gov.next_free("b")).seconds == 0


async def test_complete_and_refund_work_inside_a_cancelled_scope(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    first, second = await gov.acquire("b"), await gov.acquire("b")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await first.complete()
        await second.refund()
    assert (first.state, second.state) == ("completed", "refunded")
    assert (await gov.remaining())["b"] == {10.0: 1}
    assert gov.in_flight == 0


async def test_lease_context_manager_completes_even_on_error(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    with pytest.raises(RuntimeError):
        async with gov.lease("a") as lease:
            raise RuntimeError("boom")
    assert lease.state == "completed"
    async with gov.lease("b") as refunded:
        await refunded.refund()
    assert refunded.state == "refunded"


# -- waiting --------------------------------------------------------------------------------


async def run_in_order(
    gov: Governor, demands: Sequence[object], *, gap: float = 0.0
) -> list[tuple[int, float]]:
    """Start waiters in order (``gap`` apart); return (index, admission time) in grant order."""
    out: list[tuple[int, float]] = []

    async def one(i: int, demand: object) -> None:
        lease = await gov.acquire(demand)  # type: ignore[arg-type]
        out.append((i, lease.admitted_at))
        await lease.complete()

    async with anyio.create_task_group() as tg:
        for i, d in enumerate(demands):
            tg.start_soon(one, i, d)
            await anyio.sleep(gap)
    return out


async def test_waiters_are_served_in_arrival_order(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    t0 = anyio.current_time()
    order = await run_in_order(gov, ["a"] * 6, gap=0.5)
    assert [i for i, _ in order] == list(range(6))
    assert [t - t0 for _, t in order] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]


async def test_a_large_weight_is_not_starved_by_small_ones(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    t0 = anyio.current_time()
    held = await gov.acquire({"w": 6})
    await held.complete()
    order = await run_in_order(gov, [{"w": 8}] + [{"w": 1}] * 6, gap=1.0)
    # 4 units are free at once, but the 8 came first: the small ones may not take them.
    # At 10 the 6 free: the 8 goes first, then the first two small ones fill the window.
    assert dict(order) == {i: t0 + (10.0 if i < 3 else 20.0) for i in range(7)}


async def test_waiters_are_served_first_come_first_served_per_group(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    t0 = anyio.current_time()
    await (await gov.acquire("a")).complete()  # "a" is now full for 10 s
    times: dict[str, float] = {}

    async def one(name: str, demand: str) -> None:
        async with gov.lease(demand) as lease:
            times[name] = lease.admitted_at - t0

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "ab", "ab")  # waits for "a"
        await anyio.sleep(1)
        tg.start_soon(one, "b1", "b")  # behind "ab" in "b": goes right after it
        await anyio.sleep(1)
        tg.start_soon(one, "b2", "b")  # "b" is full once "ab" and "b1" are in
    assert times == {"ab": 10.0, "b1": 10.0, "b2": 20.0}


async def test_a_cancelled_waiter_takes_nothing_and_delays_no_one(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    t0 = anyio.current_time()
    await (await gov.acquire("a")).complete()
    got: list[tuple[str, float]] = []

    async def waiter(name: str, cancel_at: float | None) -> None:
        with anyio.CancelScope(deadline=t0 + cancel_at if cancel_at else math.inf):
            lease = await gov.acquire("a")
            got.append((name, lease.admitted_at - t0))
            await lease.complete()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "first", 5.0)  # gives up while waiting
        await anyio.sleep(0.5)
        tg.start_soon(waiter, "second", None)
    assert got == [("second", 10.0)]
    assert gov.waiting == 0
    assert gov.in_flight == 0


async def test_a_waiter_cancelled_at_the_instant_of_its_grant_gives_it_back() -> None:
    """The refund wakes "first", which is cancelled before it runs: it takes nothing."""
    gov = make(ONE)
    held = await gov.acquire("a")
    scopes: dict[str, anyio.CancelScope] = {}
    got: list[tuple[str, float]] = []

    async def waiter(name: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            lease = await gov.acquire("a")
            got.append((name, lease.admitted_at))
        if scope.cancelled_caught:
            got.append((name, -1.0))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "first")
        await anyio.sleep(1)
        tg.start_soon(waiter, "second")
        await anyio.sleep(1)
        now = anyio.current_time()
        await held.refund()  # wakes "first"...
        scopes["first"].cancel()  # ...which is cancelled before it runs again
    assert got in ([("first", -1.0), ("second", now)], [("second", now), ("first", -1.0)])
    assert gov.in_flight == 1
    assert gov.waiting == 0


# -- deadlines ------------------------------------------------------------------------------


async def test_max_wait_fails_at_once_with_when_quota_frees(local_kind: str) -> None:
    gov = make(kind=local_kind)
    t0 = anyio.current_time()
    await burst(gov, 50)
    with pytest.raises(QuotaWaitTooLong) as info:
        await gov.acquire("create", max_wait=59.0)
    err = info.value
    assert (err.group, err.frees_at, err.wait, err.max_wait) == ("segments", t0 + 60, 60, 59)
    assert anyio.current_time() == t0  # at once
    assert gov.waiting == 0
    lease = await gov.acquire("create", max_wait=60.0)
    assert lease.admitted_at == t0 + 60


async def test_max_wait_counts_the_waiters_ahead() -> None:
    gov = make()
    t0 = anyio.current_time()
    errors: list[QuotaWaitTooLong] = []
    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(burst, gov, 1)
        while gov.waiting < 50:
            await anyio.sleep(0)
        assert (await gov.next_free("create")).seconds == 120.0
        try:
            await gov.acquire("create", max_wait=100.0)
        except QuotaWaitTooLong as e:
            errors.append(e)
        lease = await gov.acquire("create", max_wait=150.0)
    assert [e.frees_at for e in errors] == [t0 + 120.0]
    assert lease.admitted_at == t0 + 120.0


async def test_max_wait_that_passes_while_waiting_raises_then(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    t0 = anyio.current_time()
    await gov.acquire("a", lease_timeout=100)  # hung: at best it ends now (free at 10)
    with pytest.raises(QuotaWaitTooLong) as info:
        await gov.acquire("a", max_wait=20)
    assert anyio.current_time() == t0 + 20
    assert info.value.group == "a"
    assert gov.waiting == 0


# -- server feedback ------------------------------------------------------------------------


async def test_a_429_pauses_the_group_for_the_named_window(local_kind: str) -> None:
    gov = make(kind=local_kind)
    t0 = anyio.current_time()
    assert await gov.report_rate_limited("segments", 3600) == 3600
    assert (await gov.remaining())["segments"] == {60.0: 0, 3600.0: 0, 86400.0: 0}
    assert (await gov.remaining())["segment_reads"][60.0] == 100  # other groups unaffected
    with pytest.raises(QuotaWaitTooLong) as info:
        await gov.acquire("create", max_wait=60)
    assert info.value.frees_at == t0 + 3600
    assert (await gov.acquire("get")).admitted_at == t0
    assert (await gov.acquire("create")).admitted_at == t0 + 3600
    assert await gov.report_rate_limited("segments", 60) == 60


async def test_unnamed_429s_escalate_window_by_window_then_reset() -> None:
    gov = make()
    assert await gov.report_rate_limited("segments") == 60
    await anyio.sleep(60)
    lease = await gov.acquire("create")  # sent after the pause: its 429 escalates
    assert await gov.report_rate_limited("segments", lease=lease) == 3600
    await anyio.sleep(3600)
    await (await gov.acquire("create")).complete()  # (without lease=: the latest admission)
    assert await gov.report_rate_limited("segments") == 86400
    await anyio.sleep(86400)
    await gov.acquire("create")
    assert await gov.report_rate_limited("segments") == 86400  # bounded
    await anyio.sleep(3 * 86400)
    await gov.acquire("create")
    assert await gov.report_rate_limited("segments") == 60


async def test_a_429_wakes_no_one_early(local_kind: str) -> None:
    gov = make(ONE, local_kind)
    t0 = anyio.current_time()
    await (await gov.acquire("b")).complete()
    await (await gov.acquire("b")).complete()
    async with anyio.create_task_group() as tg:

        async def late() -> None:
            lease = await gov.acquire("b")
            assert lease.admitted_at == t0 + 11  # not at 10, when our own slots free

        tg.start_soon(late)
        await anyio.sleep(1)
        assert await gov.report_rate_limited("b", 10) == 10


async def test_headers_only_make_the_governor_more_conservative(local_kind: str) -> None:
    gov = make(kind=local_kind)
    await burst(gov, 5)
    await gov.observe_headers(
        "segments", {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "40"}
    )
    assert (await gov.remaining())["segments"] == {60.0: 40, 3600.0: 190, 86400.0: 990}
    await gov.observe_headers(
        "segments", {"x-ratelimit-limit": "50", "x-ratelimit-remaining": "49"}
    )
    await gov.observe_headers("segments", {"x-ratelimit-remaining": "junk"})
    await gov.observe_headers("segments", {})
    assert (await gov.remaining())["segments"][60.0] == 40
    await gov.observe_headers(
        "segments",
        {"x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "12"},
    )
    assert (await gov.next_free("create")).seconds == 12
    await gov.observe_headers("segment_reads", {"x-ratelimit-remaining": "0"})
    assert (await gov.next_free("get")).seconds == 60  # no reset: the (shortest) window


# -- registry, repr ---------------------------------------------------------------------------


async def test_one_governor_per_workspace() -> None:
    gov = get_governor("ws-registry-test")
    assert get_governor("ws-registry-test") is gov
    assert get_governor("ws-registry-test", QuotaPolicy.moengage()) is gov
    assert get_governor("ws-registry-other") is not gov
    with pytest.raises(ConfigurationError):
        get_governor("ws-registry-test", QuotaPolicy.moengage().scaled(0.5))
    with pytest.raises(ConfigurationError):
        get_governor("ws-registry-test", store=MemoryStore())


async def test_repr_shows_live_state() -> None:
    gov = make(ONE)
    lease = await gov.acquire("b")
    assert repr(gov) == "<Governor on <MemoryStore b: 1 in flight>: 0 waiting, 1 in flight>"
    await lease.complete()
    assert "0 in flight" in repr(gov)
    assert "YieldingStore object" in repr(make(ONE, "yielding"))


def test_repr_outside_a_loop() -> None:
    assert repr(Governor()) == "<Governor on <MemoryStore empty>: 0 waiting, 0 in flight>"


async def test_leases_are_leases() -> None:
    lease = await make().acquire("get")
    assert isinstance(lease, Lease)
    assert lease.expires_at == lease.admitted_at + 120.0


def test_a_governor_reads_its_store_clock(tmp_path: Path) -> None:
    assert Governor().clock == AnyioClock()
    assert Governor(clock=MonotonicClock()).clock == MonotonicClock()
    assert Governor(store=SQLiteStore(tmp_path / "q.db"), clock=WallClock()).clock == WallClock()
    with pytest.raises(ConfigurationError):
        Governor(store=SQLiteStore(tmp_path / "q.db"), clock=AnyioClock())


async def test_an_infinite_max_wait_is_no_bound() -> None:
    gov = make(ONE)
    t0 = anyio.current_time()
    await (await gov.acquire("a")).complete()
    lease = await gov.acquire("a", max_wait=math.inf)
    assert lease.admitted_at == t0 + 10
    with pytest.raises(QuotaWaitTooLong):
        await gov.acquire("a", max_wait=0)


def test_a_second_thread_is_refused_while_the_first_has_requests_in_flight() -> None:
    # The governor's state is not thread-safe: a second event loop thread must fail loudly
    # instead of racing the first (which could over-admit); once idle, it may take over.
    gov = Governor(QuotaPolicy.moengage(), store=MemoryStore(clock=MonotonicClock()))
    holding, release = threading.Event(), threading.Event()

    async def hold() -> None:
        async with gov.lease("create"):
            holding.set()
            await anyio.to_thread.run_sync(release.wait)

    first = threading.Thread(target=anyio.run, args=(hold,))
    first.start()
    assert holding.wait(5)
    try:
        with pytest.raises(ConfigurationError, match="another thread"):
            anyio.run(gov.acquire, "create")
    finally:
        release.set()
        first.join(5)
    assert gov.in_flight == 0

    async def again() -> None:
        async with gov.lease("create"):
            pass

    anyio.run(again)  # idle now: this thread takes it over
