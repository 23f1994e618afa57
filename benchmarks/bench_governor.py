"""The quota governor's cost against the size of its queue and of its log (issue 13's targets).

In-memory store on a real asyncio loop (wall-clock time), one run; ratios are same-run.

(a) enqueue, grant and cancel CPU per waiter: one-group demands at 1,000 waiters against
    two-group (file-upload-shaped) demands at 10,000 waiters; target: within 2x.
(b) every snapshot-shaped call with 100,000 entries in the log against 100 entries: remaining,
    next_free, eta, observe_headers, a max_wait rejection, repr; target: within 2x.
(c) a 10,000-task burst on a 10,000/s quota: the rate of two-group demands against one-group
    demands; target: at least 0.8.
(d) for reference: microseconds per uncontended admission + lease end.

``python -m benchmarks bench_governor`` (``BENCH_QUICK=1`` for a short smoke run).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from moeseg import QuotaWaitTooLong
from moeseg.governor import Governor, MemoryStore, MonotonicClock, QuotaGroup, QuotaPolicy, Window

QUICK = bool(os.environ.get("BENCH_QUICK"))
REPEATS = 1 if QUICK else 3
ONE = {"a": 1}
TWO = {"b": 1, "c": 1}


def policy(limit: int, seconds: float) -> QuotaPolicy:
    groups = [QuotaGroup(n, (Window(limit, seconds),)) for n in "abc"]
    return QuotaPolicy(groups, {"one": ONE, "two": TWO})


def governor(limit: int, seconds: float) -> Governor:
    return Governor(policy(limit, seconds), store=MemoryStore(clock=MonotonicClock()))


async def cpu(fn: Callable[[], Awaitable[Any]]) -> float:
    gc.collect()
    start = time.process_time()
    await fn()
    return time.process_time() - start


# -- (a) queue ----------------------------------------------------------------------------------


async def queue_costs(demand: dict[str, int], n: int) -> tuple[float, float, float]:
    """CPU µs per waiter to enqueue, to be granted, and to be cancelled, ``n`` waiters."""
    window = 0.5
    gov = governor(n, window)
    for g in demand:  # the window is full: everyone must wait until it frees
        await gov.store.spend(gov._group(g), n)
    done = anyio.Event()
    granted = 0

    async def waiter() -> None:
        nonlocal granted
        await gov.acquire(demand)
        granted += 1
        if granted == n:
            done.set()

    async with anyio.create_task_group() as tg:

        async def enqueue() -> None:
            for _ in range(n):
                tg.start_soon(waiter)
            while gov.waiting < n:
                await anyio.sleep(0)

        t_enqueue = await cpu(enqueue)
        t_grant = await cpu(done.wait)  # idle until the window frees, then the cascade
    # cancel: n more waiters behind a full window, then all cancelled
    gov = governor(n, 1000.0)
    for g in demand:
        await gov.store.spend(gov._group(g), n)
    scopes: list[anyio.CancelScope] = []

    async def cancelled_waiter() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await gov.acquire(demand)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(cancelled_waiter)
        while gov.waiting < n:
            await anyio.sleep(0)

        async def cancel() -> None:
            for scope in scopes:
                scope.cancel()
            while gov.waiting:
                await anyio.sleep(0)

        t_cancel = await cpu(cancel)
    return t_enqueue / n * 1e6, t_grant / n * 1e6, t_cancel / n * 1e6


# -- (b) snapshots ------------------------------------------------------------------------------


async def snapshot_costs(entries: int, calls: int = 200) -> dict[str, float]:
    """Wall µs per call with ``entries`` ended entries in every window of the group."""
    gov = Governor(
        QuotaPolicy(
            [QuotaGroup("g", (Window(entries, 3600.0), Window(entries, 86400.0)))],
            {"op": {"g": 1}},
        ),
        store=MemoryStore(clock=MonotonicClock()),
    )
    for _ in range(entries):
        await (await gov.acquire("op")).complete()
    headers = {"x-ratelimit-limit": str(entries), "x-ratelimit-remaining": "1"}

    async def reject() -> None:
        with contextlib.suppress(QuotaWaitTooLong):
            await gov.acquire("op", max_wait=0)

    ops: dict[str, Callable[[], Awaitable[Any]]] = {
        "remaining": gov.remaining,
        "next_free": lambda: gov.next_free("op"),
        "eta(10)": lambda: gov.eta("op", 10),
        "observe_headers": lambda: gov.observe_headers("g", headers),
        "max_wait rejection": reject,
    }
    # The log's objects are moved out of the collector's way: a gen-2 collection walks every
    # live object, so without this the figures would grow with the heap, not with our work.
    gc.collect()
    gc.freeze()
    out = {}
    for name, op in ops.items():
        start = time.perf_counter()
        for _ in range(calls):
            await op()
        out[name] = (time.perf_counter() - start) / calls * 1e6
    start = time.perf_counter()
    for _ in range(calls):
        repr(gov)
    out["repr"] = (time.perf_counter() - start) / calls * 1e6
    gc.unfreeze()
    return out


# -- (c) burst ----------------------------------------------------------------------------------


async def burst_rate(demand: dict[str, int], tasks: int = 10_000) -> float:
    """Admissions per second of ``tasks`` tasks started at once on a 10,000/s quota, each
    holding its lease 1 ms; twice as many tasks as one window admits."""
    gov = governor(10_000, 1.0)
    admitted: list[float] = []

    async def one() -> None:
        async with gov.lease(demand):
            admitted.append(time.perf_counter())
            await anyio.sleep(0.001)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(2 * tasks):
            tg.start_soon(one)
    return len(admitted) / (max(admitted) - start)


async def uncontended(n: int = 20_000) -> float:
    gov = governor(10**9, 3600.0)
    start = time.perf_counter()
    for _ in range(n):
        await (await gov.acquire(ONE)).complete()
    return (time.perf_counter() - start) / n * 1e6


def out(*args: object) -> None:
    print(*args, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


async def run() -> None:
    small, big = (100, 1_000) if QUICK else (1_000, 10_000)
    rows: list[tuple[str, float, float]] = []
    one = [await queue_costs(ONE, small) for _ in range(REPEATS)]
    two = [await queue_costs(TWO, big) for _ in range(REPEATS)]
    out(f"(a) CPU µs per waiter: one-group at {small:,} vs two-group at {big:,}")
    for i, what in enumerate(("enqueue", "grant", "cancel")):
        a, b = median([x[i] for x in one]), median([x[i] for x in two])
        rows.append((what, a, b))
        out(f"    {what:8} {a:8.1f} {b:8.1f}   ratio {b / a:.2f} (target <= 2)")
    few, many = 100, 10_000 if QUICK else 100_000
    s_few, s_many = [], []
    for _ in range(REPEATS):  # interleaved: the machine's load hits both alike
        s_few.append(await snapshot_costs(few))
        s_many.append(await snapshot_costs(many))
    out(f"(b) wall µs per call: {few:,} entries vs {many:,} entries")
    for name in s_few[0]:
        a, b = median([x[name] for x in s_few]), median([x[name] for x in s_many])
        out(f"    {name:20} {a:8.1f} {b:8.1f}   ratio {b / a:.2f} (target <= 2)")
    tasks = 1_000 if QUICK else 10_000
    r1 = median([await burst_rate(ONE, tasks) for _ in range(REPEATS)])
    r2 = median([await burst_rate(TWO, tasks) for _ in range(REPEATS)])
    out(f"(c) {2 * tasks:,}-task burst on 10,000/s: one-group {r1:,.0f}/s, two-group {r2:,.0f}/s")
    out(f"    ratio {r2 / r1:.2f} (target >= 0.8)")
    out(
        f"(d) uncontended µs per admission + end: {median([await uncontended() for _ in range(REPEATS)]):.2f}"
    )


def main() -> None:
    out(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    asyncio.run(run())


if __name__ == "__main__":
    main()
