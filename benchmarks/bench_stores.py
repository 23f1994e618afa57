"""Shared stores: admissions per second and latency, next to pyrate-limiter and limits.

One run, one machine, one throwaway ``redis-server`` on loopback (started here). Each system
admits ``N`` requests into one sliding window whose limit is never reached (the cost of the
check-and-record itself), sequentially (latency) and from 16 concurrent tasks (throughput).
moeseg's figure is per admission *with* its end (``admit`` + ``end``: the lease is what makes
the in-flight time count); the peers record a timestamp only and have nothing to end. The Redis
store buffers ends and sends each with the next admission (one round trip for both); the row
``end_delay=0`` sends each end at once (two round trips), as the store did before.

Round trips to Redis are counted on the wire (a counting connection class). Besides wall-clock
figures (noisy on a shared machine) it reports the client's CPU time per operation (this
process, threads included: SQLite's work is in it) and the Redis server's time in scripts per
operation (INFO commandstats): both barely move with the load of other processes.
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

N = 1000
ROUNDS = 3
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


def script_usec(probe: redis.Redis | None) -> float:
    """Server time spent in scripts so far (every Redis system here runs one per call)."""
    if probe is None:
        return 0.0
    stats = probe.info("commandstats")
    return float(sum(stats.get(k, {}).get("usec", 0) for k in ("cmdstat_evalsha", "cmdstat_eval")))


async def measure(op: Op, probe: redis.Redis | None, n: int = N) -> dict[str, float]:
    for _ in range(50):
        await op()
    lat = []
    SENT.clear()
    server = script_usec(probe)
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        await op()
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    cpu = (time.process_time() - cpu) / n
    server = (script_usec(probe) - server) / n
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
        "cpu_us": cpu * 1e6,
        "server_us": server,
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


Factory = Callable[[str], Awaitable[tuple[Op, Callable[[], Awaitable[None]]]]]


async def systems(url: str, tmp: Path) -> list[tuple[str, Factory]]:
    """(name, factory): a factory makes a fresh op (new key, file or workspace) and a closer."""
    from limits import RateLimitItemPerHour
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter
    from pyrate_limiter import Duration, Limiter, Rate, RedisBucket, SQLiteBucket

    one = (QuotaGroup("g", (WINDOW,)),)
    big = QuotaPolicy.moengage().groups[0]  # minute/hour/day, limits raised out of the way
    three = (QuotaGroup("segments", tuple(Window(10**9, w.seconds) for w in big.windows)),)
    rate = Rate(10**9, Duration.HOUR)
    item = RateLimitItemPerHour(10**9)

    def sqlite(groups: tuple[QuotaGroup, ...]) -> Factory:
        async def make(key: str) -> tuple[Op, Callable[[], Awaitable[None]]]:
            store = SQLiteStore(tmp / "moeseg.sqlite3", workspace=key)
            return moeseg_op(store, groups), store.aclose

        return make

    def redis_store(
        groups: tuple[QuotaGroup, ...], *, admit_only: bool = False, end_delay: float = 0.05
    ) -> Factory:
        async def make(key: str) -> tuple[Op, Callable[[], Awaitable[None]]]:
            client = counting_client(url)
            store = RedisStore(workspace=key, client=client, end_delay=end_delay)

            async def close() -> None:
                await store.aclose()
                await client.aclose()

            if not admit_only:
                return moeseg_op(store, groups), close

            async def op() -> None:
                now = time.time()
                request = Admission(uuid.uuid4().hex, ((groups[0], 1),), now, now)  # ended
                assert await store.admit(request) is None

            return op, close

        return make

    async def pyrate_sqlite(key: str) -> tuple[Op, Callable[[], Awaitable[None]]]:
        bucket = SQLiteBucket.init_from_file([rate], db_path=str(tmp / f"pyrate-{key}.sqlite3"))
        limiter = Limiter(bucket)

        async def op() -> None:
            assert limiter.try_acquire("k", blocking=False)

        async def close() -> None:
            limiter.close()

        return op, close

    async def pyrate_redis(key: str) -> tuple[Op, Callable[[], Awaitable[None]]]:
        client = counting_client(url)
        limiter = Limiter(await RedisBucket.init([rate], client, f"pyrate-{key}"))

        async def op() -> None:
            assert await limiter.try_acquire_async("k", blocking=False)

        async def close() -> None:
            limiter.close()
            await client.aclose()

        return op, close

    async def limits_moving(key: str) -> tuple[Op, Callable[[], Awaitable[None]]]:
        storage = RedisStorage(
            url.replace("redis://", "async+redis://"),
            implementation="redispy",
            connection_class=Counting,  # type: ignore[arg-type]
        )
        moving = MovingWindowRateLimiter(storage)

        async def op() -> None:
            assert await moving.hit(item, key)

        async def close() -> None:
            pass

        return op, close

    return [
        ("moeseg SQLiteStore (admit+end)", sqlite(one)),
        ("moeseg SQLiteStore, 3 windows", sqlite(three)),
        ("pyrate-limiter SQLiteBucket", pyrate_sqlite),
        ("moeseg RedisStore (admit+end)", redis_store(one)),
        ("moeseg RedisStore, end_delay=0", redis_store(one, end_delay=0)),
        ("moeseg RedisStore, 3 windows", redis_store(three)),
        ("moeseg RedisStore admit only", redis_store(one, admit_only=True)),
        ("pyrate-limiter RedisBucket", pyrate_redis),
        ("limits MovingWindow (redis)", limits_moving),
    ]


async def run(url: str, tmp: Path) -> list[tuple[str, dict[str, float]]]:
    """ROUNDS interleaved rounds (a noisy machine hits every system alike); best round kept
    for throughput, median of the rounds' medians for latency."""
    entries = await systems(url, tmp)
    probe = redis.Redis.from_url(url)
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in entries}
    for r in range(ROUNDS):
        for name, factory in entries:
            op, close = await factory(f"bench-{r}-{uuid.uuid4().hex[:6]}")
            on_redis = "Redis" in name or "redis" in name
            results[name].append(await measure(op, probe if on_redis else None))
            await close()
    out = []
    for name, rounds in results.items():
        out.append(
            (
                name,
                {
                    "seq_per_s": max(x["seq_per_s"] for x in rounds),
                    "p50_us": statistics.median(x["p50_us"] for x in rounds),
                    "p99_us": statistics.median(x["p99_us"] for x in rounds),
                    "conc_per_s": max(x["conc_per_s"] for x in rounds),
                    "trips": rounds[-1]["trips"],
                    "cpu_us": min(x["cpu_us"] for x in rounds),
                    "server_us": min(x["server_us"] for x in rounds),
                },
            )
        )
    probe.close()
    return out


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
    print(
        f"N={N} sequential, then {TASKS} concurrent tasks, best of {ROUNDS} interleaved rounds; "
        f"one window {WINDOW}"
    )
    header = (
        f"| {'system':34} | seq/s | p50 µs | p99 µs | 16 tasks/s | round trips "
        "| client CPU µs | server µs |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, r in rows:
        on_redis = "Redis" in name or "redis" in name
        trips = f"{r['trips']:.2f}" if on_redis else "-"
        server = f"{r['server_us']:.0f}" if on_redis else "-"
        print(
            f"| {name:34} | {r['seq_per_s']:5.0f} | {r['p50_us']:6.0f} | {r['p99_us']:6.0f} "
            f"| {r['conc_per_s']:10.0f} | {trips:>11} | {r['cpu_us']:13.0f} | {server:>9} |"
        )


if __name__ == "__main__":
    main()
