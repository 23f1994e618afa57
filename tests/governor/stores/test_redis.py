"""RedisStore specifics: the server's clock, one entry per request, keys that expire."""

from __future__ import annotations

import uuid

import pytest
import redis

from moeseg.governor import Granted, QuotaGroup, RedisStore, Window

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


async def test_redis_reads_the_server_clock(redis_url: str) -> None:
    store = RedisStore(redis_url, workspace=uuid.uuid4().hex)
    probe = redis.Redis.from_url(redis_url)
    try:
        group = QuotaGroup("segments", (Window(1, 0.3),))
        out = await store.admit("a", ((group, 1),), 5.0)
        seconds, micros = probe.time()
        assert isinstance(out, Granted)
        assert abs(out.admitted_at - (seconds + micros / 1e6)) < 0.5
        assert out.expires_at == pytest.approx(out.admitted_at + 5.0)
    finally:
        await store.aclose()
        probe.close()


async def test_redis_keys_are_per_workspace_one_per_request_and_expire(redis_url: str) -> None:
    ws = uuid.uuid4().hex
    store = RedisStore(redis_url, workspace=ws, prefix="t")
    probe = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        heavy = QuotaGroup("users", (Window(2_000_000, 0.2),), weighted=True)
        assert isinstance(await store.admit("a", ((heavy, 1_999_999),), 0.1), Granted)
        assert probe.zcard(f"t:{{{ws}}}:users:w") == 1  # one member, not 1,999,999
        ttl = probe.pttl(f"t:{{{ws}}}:users:w")
        assert 0 < ttl <= 0.1 * 1000 + 200 + 1000 + 2000
        await store.pause("users", 0.3)
        assert 0 < probe.pttl(f"t:{{{ws}}}:users:p") <= 1400
        await store.refund("never-admitted", ["users"])  # refunded before it arrives...
        assert not isinstance(await store.admit("never-admitted", ((heavy, 1),), 1.0), Granted)
        other = RedisStore(redis_url, workspace=ws + "-other", prefix="t")
        assert (await other.view([heavy]))["users"].windows[0].used == 0
        await other.aclose()
    finally:
        await store.aclose()
        probe.close()
