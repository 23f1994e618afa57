"""Shared stores: admissions per second and latency, next to pyrate-limiter and limits.

One run, one machine, one throwaway ``redis-server`` on loopback (started here). Each system
admits ``N`` requests into one sliding window whose limit is never reached (the cost of the
check-and-record itself), sequentially (latency) and from 16 concurrent tasks (throughput).
moeseg's figure is per admission *with* its end (``admit`` + ``end``: the lease is what makes
the in-flight time count); the peers record a timestamp only and have nothing to end.

Round trips to Redis are counted on the wire (a counting connection class).
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
from typing import Any

import redis.asyncio

from moeseg.governor import Admission, QuotaGroup, QuotaPolicy, RedisStore, SQLiteStore, Window

N = 2000
TASKS = 16
WINDOW = Window(10**9, 3600.0)
SENT: list[int] = []


class Counting(redis.asyncio.Connection):
    """Counts commands sent (round trips; nothing here pipelines)."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        SENT.append(1)
        await super().send_packed_command(command, check_health)


def counting_client(url: str) -> redis.asyncio.Redis:
    pool = redis.asyncio.ConnectionPool.from_url(url, connection_class=Counting)
    return redis.asyncio.Redis(connection_pool=pool)


Op = Callable[[], Awaitable[Any]]


async def measure(op: Op, n: int = N) -> dict[str, float]:
    for _ in range(50):
        await op()
    lat = []
    SENT.clear()
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        await op()
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    trips = len(SENT) / n
    lat.sort()
    start = time.perf_counter()

    async def worker() -> None:
        for _ in range(n // TASKS):
            await op()

    await asyncio.gather(*(worker() for _ in range(TASKS)))
    conc = (n // TASKS * TASKS) / (time.perf_counter() - start)
    return {
        "seq_per_s": n / total,
        "p50_us": statistics.median(lat) * 1e6,
        "p99_us": lat[int(len(lat) * 0.99)] * 1e6,
        "conc_per_s": conc,
        "trips": trips,
    }


def moeseg_op(store: Any, groups: tuple[QuotaGroup, ...]) -> Op:
    demand = tuple((g, 1) for g in groups)
    names = [g.name for g in groups]

    async def op() -> None:
        now = time.time()
        lease_id = uuid.uuid4().hex
        denied = await store.admit(Admission(lease_id, demand, now, now + 120.0))
        assert denied is None
        await store.end(lease_id, names, time.time())

    return op


async def run(url: str, tmp: Path) -> list[tuple[str, dict[str, float]]]:
    from limits import RateLimitItemPerHour
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter
    from pyrate_limiter import Duration, Limiter, Rate, RedisBucket, SQLiteBucket

    one = (QuotaGroup("g", (WINDOW,)),)
    big = QuotaPolicy.moengage().groups[0]  # minute/hour/day, limits raised out of the way
    three = (QuotaGroup("segments", tuple(Window(10**9, w.seconds) for w in big.windows)),)
    rows: list[tuple[str, dict[str, float]]] = []

    sqlite = SQLiteStore(tmp / "moeseg.sqlite3", workspace="bench")
    rows.append(("moeseg SQLiteStore (admit+end)", await measure(moeseg_op(sqlite, one))))
    rows.append(("moeseg SQLiteStore, 3 windows", await measure(moeseg_op(sqlite, three))))
    await sqlite.aclose()

    rate = Rate(10**9, Duration.HOUR)
    bucket = SQLiteBucket.init_from_file([rate], db_path=str(tmp / "pyrate.sqlite3"))
    limiter = Limiter(bucket)

    async def pyrate_sqlite() -> None:
        assert limiter.try_acquire("k", blocking=False)

    rows.append(("pyrate-limiter SQLiteBucket", await measure(pyrate_sqlite)))

    client = counting_client(url)
    store = RedisStore(workspace="bench", client=client)
    rows.append(("moeseg RedisStore (admit+end)", await measure(moeseg_op(store, one))))
    rows.append(("moeseg RedisStore, 3 windows", await measure(moeseg_op(store, three))))

    async def admit_only() -> None:
        now = time.time()
        request = Admission(uuid.uuid4().hex, ((one[0], 1),), now, now)  # bound = now: ended
        assert await store.admit(request) is None

    rows.append(("moeseg RedisStore admit only", await measure(admit_only)))

    rbucket = await RedisBucket.init([rate], counting_client(url), "pyrate-bench")
    rlimiter = Limiter(rbucket)

    async def pyrate_redis() -> None:
        assert await rlimiter.try_acquire_async("k", blocking=False)

    rows.append(("pyrate-limiter RedisBucket", await measure(pyrate_redis)))

    storage = RedisStorage(
        url.replace("redis://", "async+redis://"),
        implementation="redispy",
        connection_class=Counting,  # type: ignore[arg-type]
    )
    moving = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerHour(10**9)

    async def limits_moving() -> None:
        assert await moving.hit(item, "bench")

    rows.append(("limits MovingWindow (redis)", await measure(limits_moving)))
    await client.aclose()
    return rows


def main() -> None:
    from tests.stores._redis_server import start_redis_server

    proc, url = start_redis_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = asyncio.run(run(url, Path(tmp)))
    finally:
        proc.kill()
        proc.wait()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(f"N={N} sequential, then {TASKS} concurrent tasks; one window {WINDOW}")
    header = f"| {'system':34} | seq/s | p50 µs | p99 µs | 16 tasks/s | round trips |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, r in rows:
        trips = f"{r['trips']:.2f}" if "Redis" in name or "redis" in name else "-"
        print(
            f"| {name:34} | {r['seq_per_s']:5.0f} | {r['p50_us']:6.0f} | {r['p99_us']:6.0f} "
            f"| {r['conc_per_s']:10.0f} | {trips:>11} |"
        )


if __name__ == "__main__":
    main()
