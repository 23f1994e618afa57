"""The stores: cost of one admission with its end, and of one view, per store.

One run, one machine, one throwaway ``redis-server`` on loopback (started here). Each store
admits ``N`` requests into one sliding window whose limit is never reached (the cost of the
check-and-record itself), sequentially (latency) and from 16 concurrent tasks (throughput); an
operation is an admission *and its end*. SQLite and Redis run every call in a worker thread
(nothing blocks the event loop), which is part of what is measured. ``view`` is measured with
``N`` entries in the window. ``python -m benchmarks bench_stores``.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from moeseg.governor import (
    Granted,
    MemoryStore,
    MonotonicClock,
    QuotaGroup,
    RedisStore,
    SQLiteStore,
    Store,
    Window,
)

N = 300 if os.environ.get("BENCH_QUICK") else 1000
TASKS = 16
ONE = QuotaGroup("g", (Window(10**9, 3600.0),))
THREE = QuotaGroup("g3", (Window(10**9, 60.0), Window(10**9, 3600.0), Window(10**9, 86400.0)))


async def measure(store: Store, group: QuotaGroup) -> dict[str, float]:
    async def op() -> None:
        lease = uuid.uuid4().hex
        assert isinstance(await store.admit(lease, ((group, 1),), 30.0), Granted)
        await store.end(lease, [group.name])

    lat = []
    for _ in range(N):
        t = time.perf_counter()
        await op()
        lat.append(time.perf_counter() - t)
    start = time.perf_counter()

    async def worker() -> None:
        for _ in range(N // TASKS):
            await op()

    await asyncio.gather(*(worker() for _ in range(TASKS)))
    conc = (N // TASKS) * TASKS / (time.perf_counter() - start)
    t = time.perf_counter()
    for _ in range(20):
        await store.view([group])
    lat.sort()
    return {
        "p50_us": lat[len(lat) // 2] * 1e6,
        "p99_us": lat[int(len(lat) * 0.99)] * 1e6,
        "conc_per_s": conc,
        "view_us": (time.perf_counter() - t) / 20 * 1e6,
    }


async def run(url: str, tmp: Path) -> None:
    makers: list[tuple[str, Callable[[], Store], QuotaGroup]] = [
        ("MemoryStore", lambda: MemoryStore(clock=MonotonicClock()), ONE),
        ("SQLiteStore", lambda: SQLiteStore(tmp / f"{uuid.uuid4().hex}.db"), ONE),
        ("SQLiteStore, 3 windows", lambda: SQLiteStore(tmp / f"{uuid.uuid4().hex}.db"), THREE),
        ("RedisStore", lambda: RedisStore(url, workspace=uuid.uuid4().hex), ONE),
        ("RedisStore, 3 windows", lambda: RedisStore(url, workspace=uuid.uuid4().hex), THREE),
    ]
    print(f"{'store':24} {'p50 µs':>9} {'p99 µs':>9} {'16 tasks/s':>11} {'view µs':>9}")
    for name, make, group in makers:
        rounds = []
        for _ in range(3):
            store = make()
            rounds.append(await measure(store, group))
            close: Callable[[], Awaitable[None]] | None = getattr(store, "aclose", None)
            if close is not None:
                await close()
        p50 = statistics.median(r["p50_us"] for r in rounds)
        p99 = statistics.median(r["p99_us"] for r in rounds)
        conc = max(r["conc_per_s"] for r in rounds)
        view = statistics.median(r["view_us"] for r in rounds)
        print(f"{name:24} {p50:9.0f} {p99:9.0f} {conc:11.0f} {view:9.0f}")


def main() -> None:
    from tests.governor.stores._redis_server import start_redis_server

    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    proc, url = start_redis_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(url, Path(tmp)))
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
