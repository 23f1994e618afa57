"""What is particular to each shared store: files, paths, keys, round trips, memory."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest
import redis

from moeseg import ConfigurationError
from moeseg.governor import (
    Admission,
    AnyioClock,
    Governor,
    QuotaGroup,
    QuotaPolicy,
    RedisStore,
    SQLiteStore,
    WallClock,
    Window,
    default_sqlite_path,
)
from tests.stores._cases import ManualClock

pytestmark = pytest.mark.anyio


def g(name: str = "segments", *windows: tuple[int, float]) -> QuotaGroup:
    return QuotaGroup(name, tuple(Window(n, s) for n, s in windows or ((5, 60.0),)))


def request(group: QuotaGroup, now: float, weight: int = 1, bound: float = 10.0) -> Admission:
    return Admission(uuid.uuid4().hex, ((group, weight),), now, now + bound)


# -- SQLite ---------------------------------------------------------------------------------------


def test_default_path_follows_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_sqlite_path() == tmp_path / "moeseg" / "quota.sqlite3"
    assert SQLiteStore().path == tmp_path / "moeseg" / "quota.sqlite3"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec wants absolute paths
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_sqlite_path() == tmp_path / "home" / ".cache" / "moeseg" / "quota.sqlite3"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_sqlite_path() == tmp_path / "home" / ".cache" / "moeseg" / "quota.sqlite3"


async def test_sqlite_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "q.sqlite3"
    async with SQLiteStore(path, clock=ManualClock(100.0)) as store:
        assert await store.admit(request(g(), 100.0)) is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM moeseg_entries").fetchone()[0] == 1


async def test_sqlite_keeps_workspaces_apart_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    clock = ManualClock(100.0)
    one = SQLiteStore(path, workspace="one", clock=clock)
    two = SQLiteStore(path, workspace="two", clock=clock)
    group = g("segments", (1, 60.0))
    assert await one.admit(request(group, 100.0)) is None
    assert await one.admit(request(group, 100.0)) is not None
    assert await two.admit(request(group, 100.0)) is None
    assert len((await two.snapshot([group], 100.0))["segments"].entries) == 1
    await one.aclose()
    await two.aclose()


async def test_sqlite_drops_rows_that_occupy_no_window(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    group = g("segments", (100, 1.0), (200, 10.0))
    async with SQLiteStore(path, clock=ManualClock(100.0)) as store:
        for i in range(20):
            req = request(group, 100.0 + i * 0.1)
            assert await store.admit(req) is None
            await store.end(req.lease_id, ["segments"], req.now)
        assert await store.admit(request(group, 111.85)) is None  # all but the last are gone
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM moeseg_entries").fetchone()[0] == 2


async def test_sqlite_waits_for_another_process_lock_in_a_thread(tmp_path: Path) -> None:
    """While another connection holds the write lock, the store does not fail (nor block the
    loop): it retries in a worker thread with a busy timeout, and succeeds once released."""
    path = tmp_path / "q.sqlite3"
    async with SQLiteStore(path, clock=ManualClock(100.0)) as store:
        assert await store.admit(request(g(), 100.0)) is None
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        import anyio

        async with anyio.create_task_group() as tg:
            results: list[object] = []

            async def admit() -> None:
                results.append(await store.admit(request(g(), 100.5)))

            tg.start_soon(admit)
            await anyio.sleep(0.05)
            assert results == []  # waiting for the lock, loop still running
            other.execute("COMMIT")
        other.close()
        assert results == [None]


async def test_a_governor_on_a_shared_store_reads_wall_clock_time(
    tmp_path: Path, redis_url: str
) -> None:
    for store in (SQLiteStore(tmp_path / "q.sqlite3"), RedisStore(redis_url, workspace="wall")):
        gov = Governor(QuotaPolicy.moengage(), store=store)
        assert isinstance(gov.clock, WallClock)
        async with gov.lease("create") as lease:
            assert abs(lease.admitted_at - time.time()) < 1.0
        await store.aclose()


async def test_sqlite_refuses_times_from_another_clock(tmp_path: Path) -> None:
    """A governor given the loop clock would share nothing through a wall-clock file, and forget
    everything at a reboot: the store says so at the first call."""
    async with SQLiteStore(tmp_path / "q.sqlite3") as store:
        gov = Governor(QuotaPolicy.moengage(), store=store, clock=AnyioClock())
        with pytest.raises(ConfigurationError, match="WallClock"):
            await gov.acquire("create")


# -- Redis ----------------------------------------------------------------------------------------


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(v["calls"]) for name, v in stats.items()}


async def test_redis_admission_is_one_script_call(redis_url: str) -> None:
    store = RedisStore(redis_url, workspace=uuid.uuid4().hex)
    probe = redis.Redis.from_url(redis_url)
    group = g("segments", (50, 60.0), (200, 3600.0), (1000, 86400.0))
    try:
        await store.admit(request(group, time.time()))  # connect, load the script
        connections = int(probe.info("stats")["total_connections_received"])
        before = _calls(probe)
        for _ in range(10):
            assert await store.admit(request(group, time.time())) is None
        after = _calls(probe)
        assert after["cmdstat_evalsha"] - before["cmdstat_evalsha"] == 10
        for name in ("cmdstat_eval", "cmdstat_script|load", "cmdstat_script"):
            assert after.get(name, 0) == before.get(name, 0)
        assert int(probe.info("stats")["total_connections_received"]) == connections
    finally:
        await store.aclose()
        probe.close()


def _counting_client(redis_url: str, sent: list[int]) -> redis.asyncio.Redis:
    import redis.asyncio

    class Counting(redis.asyncio.Connection):
        async def send_packed_command(self, command: object, check_health: bool = True) -> None:
            sent.append(1)
            await super().send_packed_command(command, check_health)  # type: ignore[arg-type]

    pool = redis.asyncio.ConnectionPool.from_url(redis_url, connection_class=Counting)
    return redis.asyncio.Redis(connection_pool=pool)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_round_trips_per_call(redis_url: str) -> None:
    """Counted on the wire: one command sent per admit, refund, pause and snapshot; none per
    end (buffered, carried by the next call), one per flush of buffered ends."""
    sent: list[int] = []
    client = _counting_client(redis_url, sent)
    store = RedisStore(workspace=uuid.uuid4().hex, client=client, end_delay=60.0)
    group = g("segments", (1, 60.0))
    try:
        await store.snapshot([group], time.time())  # connect, load a script
        first = request(group, time.time())
        await store.admit(first)  # loads the admit script (NOSCRIPT, SCRIPT LOAD, EVALSHA)
        await store.refund(first.lease_id, ["segments"])
        await store.end("x", ["segments"], time.time())
        await store.flush()  # loads the end script
        await store.pause("other", time.time())
        sent.clear()
        req = request(group, time.time())
        assert await store.admit(req) is None
        assert len(sent) == 1
        assert await store.admit(request(group, time.time())) is not None  # denied: also one
        assert len(sent) == 2
        await store.end(req.lease_id, ["segments"], time.time())
        assert len(sent) == 2  # buffered
        await store.refund(req.lease_id, ["segments"])  # ended (buffered): nothing to do
        assert len(sent) == 2
        await store.pause("segments", time.time() + 1)
        await store.snapshot([group], time.time())  # carries the end
        assert len(sent) == 4
        assert (await store.snapshot([group], time.time()))["segments"].entries[0].ended_at
        other = request(g("reads", (10, 60.0)), time.time())
        assert await store.admit(other) is None
        await store.refund(other.lease_id, ["reads"])  # in flight: one round trip
        assert len(sent) == 7
        await store.flush()  # nothing buffered: nothing sent
        assert len(sent) == 7
    finally:
        await store.aclose()
        await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_admission_and_end_take_one_round_trip(redis_url: str) -> None:
    """The goal of the buffered end: admit + end, over and over, costs one round trip each
    (the end rides with the next admission); with ``end_delay=0`` an end is sent at once."""
    sent: list[int] = []
    client = _counting_client(redis_url, sent)
    group = g("segments", (10**6, 60.0), (10**6, 3600.0))
    hold = RedisStore(workspace=uuid.uuid4().hex, client=client, end_delay=60.0)
    at_once = RedisStore(workspace=uuid.uuid4().hex, client=client, end_delay=0)
    try:
        for store in (hold, at_once):
            warm = request(group, time.time())
            await store.admit(warm)
            await store.end(warm.lease_id, ["segments"], time.time())
            await store.flush()
        sent.clear()
        for _ in range(20):
            req = request(group, time.time())
            assert await hold.admit(req) is None
            await hold.end(req.lease_id, ["segments"], time.time())
        assert len(sent) == 20
        sent.clear()
        for _ in range(5):
            req = request(group, time.time())
            assert await at_once.admit(req) is None
            await at_once.end(req.lease_id, ["segments"], time.time())
        assert len(sent) == 10
        state = (await hold.snapshot([group], time.time()))["segments"]
        assert len(state.entries) == 21
        assert all(e.ended_at is not None for e in state.entries)
    finally:
        await hold.aclose()
        await at_once.aclose()
        await client.aclose()


async def test_redis_keys_are_per_workspace_and_bounded(redis_url: str) -> None:
    ws = uuid.uuid4().hex
    store = RedisStore(redis_url, workspace=ws, prefix="t")
    probe = redis.Redis.from_url(redis_url, decode_responses=True)
    group = g("segments", (100, 0.2), (200, 0.4))
    try:
        first = request(group, time.time(), bound=5.0)
        assert await store.admit(first) is None
        keys = sorted(probe.keys(f"t:{{{ws}}}:*"))
        assert keys == [f"t:{{{ws}}}:segments:h", f"t:{{{ws}}}:segments:u"]
        ttl = probe.pttl(f"t:{{{ws}}}:segments:u")
        # bound + longest window + 1 s margin, rounded up by at most two steps of 1 s
        assert 5000 + 400 + 1000 <= ttl <= 5000 + 400 + 1000 + 2000
        await store.end(first.lease_id, ["segments"], time.time())
        assert probe.zscore(f"t:{{{ws}}}:segments:u", first.lease_id) is not None
        time.sleep(0.45)
        assert await store.admit(request(group, time.time())) is None
        assert probe.zcard(f"t:{{{ws}}}:segments:u") == 1  # the first one was dropped
        assert probe.hlen(f"t:{{{ws}}}:segments:h") == 1
        heavy = QuotaGroup("users", (Window(2_000_000, 0.2),), weighted=True)
        assert await store.admit(request(heavy, time.time(), 1_999_999, bound=0.1)) is None
        assert probe.zcard(f"t:{{{ws}}}:users:w") == 1  # one member, not 1,999,999
        await store.pause("users", time.time() + 0.3)
        assert 0 < probe.pttl(f"t:{{{ws}}}:users:p") <= 1400
        other = RedisStore(redis_url, workspace=ws + "-other", prefix="t")
        assert (await other.snapshot([group], time.time()))["segments"].entries == ()
        await other.aclose()
    finally:
        await store.aclose()
        probe.close()


async def test_redis_uses_the_server_clock(redis_url: str) -> None:
    """A caller whose clock is an hour off still agrees with everyone on the server's time:
    its times come back in its own base, shifted by its own offset."""
    ws = uuid.uuid4().hex
    skewed, right = RedisStore(redis_url, workspace=ws), RedisStore(redis_url, workspace=ws)
    group = g("segments", (1, 0.3))
    try:
        first = request(group, time.time() + 3600.0)  # clock an hour fast
        assert await skewed.admit(first) is None
        await skewed.end(first.lease_id, ["segments"], first.now)
        await skewed.flush()  # for the other store to see it now (not within end_delay)
        now = time.time()
        denied = await right.admit(request(group, now))
        assert denied is not None
        assert now < denied.frees_at < now + 0.35  # the server's view: ended just now
        snapshot = await skewed.snapshot([group], time.time() + 3600.0)
        ended = snapshot["segments"].entries[0].ended_at
        assert ended is not None
        assert abs(ended - (now + 3600.0)) < 0.05
    finally:
        await skewed.aclose()
        await right.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_accepts_a_client_and_leaves_it_open(redis_url: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    store = RedisStore(workspace=uuid.uuid4().hex, client=client)
    try:
        assert await store.admit(request(g(), time.time())) is None
        await store.aclose()
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_redis_refuses_an_asyncio_client_on_trio(redis_url: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    store = RedisStore(workspace=uuid.uuid4().hex, client=client)
    with pytest.raises(ConfigurationError, match="asyncio"):
        await store.admit(request(g(), time.time()))
