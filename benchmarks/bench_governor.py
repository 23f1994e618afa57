"""The quota governor against aiolimiter, pyrate-limiter and limits, in the same run.

(a) uncontended overhead: microseconds per admission + lease end (one loop, nothing waits);
(b) 10,000 concurrent tasks on a 10,000/s quota: achieved/configured rate, CPU seconds;
(c) exactness and utilization with two windows at once (5 per 1 s and 12 per 3 s);
(d) FIFO inversions among waiters; (e) slots lost to cancelled waiters; (f) runs on trio.

Real time, asyncio unless said. Repeated; medians reported. ``python -m benchmarks
bench_governor`` (``BENCH_QUICK=1`` for a short smoke run).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import platform
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiolimiter
import anyio
import limits
import limits.aio.storage
import limits.aio.strategies
import pyrate_limiter
from pyrate_limiter import Duration, Limiter, Rate

from moeseg.governor import Governor, Plan, QuotaGroup, QuotaPolicy, Window

QUICK = bool(os.environ.get("BENCH_QUICK"))
REPEATS = 1 if QUICK else 5

Acquire = Callable[[], Awaitable[Any]]


# -- adapters: "acquire one slot, then end it" for every limiter --------------------------------


def governor_factory(windows: list[tuple[int, float]]) -> tuple[Acquire, Any]:
    policy = QuotaPolicy((QuotaGroup("g", [Window(n, s) for n, s in windows]),), {"op": {"g": 1}})
    gov = Governor(policy)
    demand = {"g": 1}

    async def acquire() -> None:
        lease = await gov.acquire(demand)
        await lease.complete()

    return acquire, gov


def aiolimiter_factory(windows: list[tuple[int, float]]) -> tuple[Acquire, Any]:
    limiters = [aiolimiter.AsyncLimiter(n, s) for n, s in windows]

    async def acquire() -> None:
        for lim in limiters:
            await lim.acquire()

    return acquire, limiters


def pyrate_factory(windows: list[tuple[int, float]]) -> tuple[Acquire, Any]:
    limiter = Limiter([Rate(n, int(s * Duration.SECOND)) for n, s in windows])

    async def acquire() -> None:
        await limiter.try_acquire_async("g")

    return acquire, limiter


def limits_factory(windows: list[tuple[int, float]]) -> tuple[Acquire, Any]:
    storage = limits.aio.storage.MemoryStorage()
    strategy = limits.aio.strategies.MovingWindowRateLimiter(storage)
    items = [limits.RateLimitItemPerSecond(n, int(s)) if s >= 1 else None for n, s in windows]
    if any(i is None for i in items):  # sub-second windows: limits counts whole seconds
        items = [limits.RateLimitItemPerSecond(n, 1) for n, _ in windows]

    async def acquire() -> None:
        # limits has no waiting API: test every window, hit them all, or sleep until a reset.
        while True:
            if all([await strategy.test(i, "g") for i in items]):  # type: ignore[arg-type]
                for i in items:
                    await strategy.hit(i, "g")  # type: ignore[arg-type]
                return
            stats = [await strategy.get_window_stats(i, "g") for i in items]  # type: ignore[arg-type]
            wait = max((s.reset_time for s in stats if s.remaining == 0), default=0) - time.time()
            await asyncio.sleep(max(wait, 0.001))

    return acquire, strategy


PEERS: dict[str, Callable[[list[tuple[int, float]]], tuple[Acquire, Any]]] = {
    "moeseg": governor_factory,
    "aiolimiter": aiolimiter_factory,
    "pyrate-limiter": pyrate_factory,
    "limits": limits_factory,
}


# -- (a) uncontended overhead ------------------------------------------------------------------


async def uncontended(factory: Callable[..., tuple[Acquire, Any]], n: int) -> float:
    acquire, _ = factory([(10**9, 1.0)])
    for _ in range(1000):  # warm up
        await acquire()
    t = time.perf_counter()
    for _ in range(n):
        await acquire()
    return (time.perf_counter() - t) / n * 1e6


# -- (b) 10,000 tasks, 10,000/s ---------------------------------------------------------------


async def contended(
    factory: Callable[..., tuple[Acquire, Any]], tasks: int, rate: int, duration: float
) -> tuple[float, float]:
    """``tasks`` tasks (all started first) acquire in a loop for ``duration`` s; the rate is
    measured after the first window (once the initial burst of ``rate`` is spent)."""
    acquire, _ = factory([(rate, 1.0)])
    stamps: list[float] = []
    go = anyio.Event()
    stop = 0.0
    ready = 0

    async def worker() -> None:
        nonlocal ready
        ready += 1
        await go.wait()
        while True:
            await acquire()
            now = time.monotonic()
            if now >= stop:
                return
            stamps.append(now)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
        while ready < tasks:  # every task started and waiting: measure from here
            await anyio.sleep(0.01)
        cpu = time.process_time()
        t0 = time.monotonic()
        stop = t0 + duration
        go.set()
    cpu = time.process_time() - cpu
    start = t0 + 1.0
    steady = sum(1 for t in stamps if t >= start)
    return steady / (stop - start) / rate, cpu


# -- (c) two windows: exactness and utilization ------------------------------------------------

TWO = [(5, 1.0), (12, 3.0)]


def violations(stamps: list[float], windows: list[tuple[int, float]], slack: float) -> int:
    """Admissions that made some interval of W - slack seconds hold more than its limit."""
    bad = 0
    for k, t in enumerate(stamps):
        for n, w in windows:
            inside = sum(1 for s in stamps[: k + 1] if s > t - (w - slack))
            if inside > n:
                bad += 1
                break
    return bad


def optimum(windows: list[tuple[int, float]], duration: float) -> int:
    group = QuotaGroup("g", [Window(n, s) for n, s in windows])
    plan = Plan([group], {}, 0.0)
    count = 0
    while plan.admit(((group, 1),)) < duration:
        count += 1
    return count


async def two_windows(
    factory: Callable[..., tuple[Acquire, Any]], duration: float
) -> tuple[int, float]:
    acquire, _ = factory(TWO)
    stamps: list[float] = []
    t0 = time.monotonic()

    async def worker() -> None:
        while True:
            await acquire()
            now = time.monotonic()
            if now - t0 >= duration:
                return
            stamps.append(now)

    with anyio.move_on_after(duration + 1):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(worker)
    return violations(stamps, TWO, 0.005), len(stamps) / optimum(TWO, duration)


# -- (d) FIFO inversions -----------------------------------------------------------------------


async def fifo(factory: Callable[..., tuple[Acquire, Any]], n: int) -> int:
    acquire, _ = factory([(10, 0.2)])
    served: list[int] = []

    async def one(i: int) -> None:
        await acquire()
        served.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
            await asyncio.sleep(0.001)
    return sum(1 for a, b in itertools.pairwise(served) if b < a)


# -- (e) slots lost to cancellation ------------------------------------------------------------


async def lost_to_cancellation(name: str, seed: int) -> int:
    limit, window = 10, 0.2
    acquire, state = PEERS[name]([(limit, window)])
    rng = random.Random(seed)

    async def one() -> None:
        with anyio.move_on_after(rng.uniform(0, 1.0)):
            await acquire()

    async with anyio.create_task_group() as tg:
        for _ in range(80):
            tg.start_soon(one)
    await asyncio.sleep(3 * window + 0.05)  # every slot must be free again by now
    return limit - await free_now(name, state, limit)


async def free_now(name: str, state: Any, limit: int) -> int:
    """How many slots can be taken at once, without waiting."""
    if name == "moeseg":
        return (await state.remaining())["g"][0.2]  # type: ignore[no-any-return]
    if name == "aiolimiter":
        got = 0
        while got < limit and state[0].has_capacity():
            await state[0].acquire()
            got += 1
        return got
    if name == "pyrate-limiter":
        got = 0
        while got < limit and await state.try_acquire_async("g", blocking=False):
            got += 1
        return got
    got = 0
    item = limits.RateLimitItemPerSecond(limit, 1)
    while got < limit and await state.hit(item, "g"):
        got += 1
    return got


# -- (f) trio ---------------------------------------------------------------------------------


def runs_on_trio(factory: Callable[..., tuple[Acquire, Any]]) -> bool:
    async def main() -> None:
        acquire, _ = factory([(3, 0.05)])
        with anyio.fail_after(2):
            for _ in range(7):  # has to wait twice
                await acquire()

    try:
        anyio.run(main, backend="trio")
    except Exception:
        return False
    return True


# -- driver -----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, {platform.platform()}")
    print(
        f"python {platform.python_version()}, aiolimiter {aiolimiter.__version__ if hasattr(aiolimiter, '__version__') else '?'}, pyrate-limiter {pyrate_limiter.__version__}, limits {limits.__version__}"
    )
    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; repeats: {REPEATS}, medians"
    )

    # Repeats are interleaved (peer after peer, round after round): the machine is shared and
    # its load drifts, so every peer sees the same conditions.
    n = 20_000 if QUICK else 100_000
    print("\n(a) uncontended: us per admission + lease end (lower is better)")
    a_runs: dict[str, list[float]] = {name: [] for name in PEERS}
    for _ in range(REPEATS):
        for name, factory in PEERS.items():
            a_runs[name].append(
                anyio.run(uncontended, factory, n // (10 if name == "limits" else 1))
            )
    a = {name: median(runs) for name, runs in a_runs.items()}
    for name, us in a.items():
        print(f"  {name:15} {us:8.2f} us   moeseg/{name} = {a['moeseg'] / us:.2f}")

    tasks, rate, span = (2000, 2000, 3.0) if QUICK else (10_000, 10_000, 5.0)
    print(f"\n(b) {tasks} tasks looping {span:g} s on {rate}/s: steady rate/configured, CPU s")
    b_runs: dict[str, list[tuple[float, float]]] = {name: [] for name in PEERS}
    scale = {name: 10 if name == "limits" and not QUICK else 1 for name in PEERS}  # limits polls
    for _ in range(REPEATS):
        for name, factory in PEERS.items():
            k = scale[name]
            b_runs[name].append(anyio.run(contended, factory, tasks // k, rate // k, span))
    b = {
        name: (median([r[0] for r in runs]), median([r[1] for r in runs]))
        for name, runs in b_runs.items()
    }
    for name, (ratio, cpu) in b.items():
        label = f"{name} (1/{scale[name]} scale)" if scale[name] > 1 else name
        print(f"  {label:24} rate {ratio:.3f}  cpu {cpu:.2f} s")
    print(f"  CPU ratio aiolimiter/moeseg: {b['aiolimiter'][1] / b['moeseg'][1]:.2f}")

    duration = 6.0 if QUICK else 9.0
    print(f"\n(c) 5/1s + 12/3s for {duration:g}s, 20 tasks: violating admissions, utilization")
    for name, factory in PEERS.items():
        bad, util = anyio.run(two_windows, factory, duration)
        print(f"  {name:15} violations {bad:4d}  utilization {util:.2f}")

    print("\n(d) FIFO inversions, 100 waiters on 10/0.2s")
    for name, factory in PEERS.items():
        print(f"  {name:15} inversions {anyio.run(fifo, factory, 100)}")

    print("\n(e) slots lost to cancelled waiters (80 waiters cancelled at random moments)")
    for name in PEERS:
        lost = [anyio.run(lost_to_cancellation, name, seed) for seed in range(3)]
        print(f"  {name:15} lost {max(lost)} (worst of 3 seeds)")

    print("\n(f) runs on trio")
    for name, factory in PEERS.items():
        print(f"  {name:15} {'yes' if runs_on_trio(factory) else 'no'}")


if __name__ == "__main__":
    main()
