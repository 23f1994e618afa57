"""Fixtures for the store tests: a throwaway ``redis-server`` on loopback, and stores to test.

The Redis server is real (no mock, no fake): started once per session on a free loopback port
without persistence, killed at the end. Without the ``redis-server`` binary the Redis cases are
skipped, unless ``MOESEG_REQUIRE_REDIS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from moeseg.governor import QuotaGroup, Window
from tests.stores._cases import ManualClock, StoreCase, make_store
from tests.stores._redis_server import start_redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a throwaway redis-server on 127.0.0.1 for the whole session."""
    try:
        proc, url = start_redis_server()
    except FileNotFoundError:
        if os.environ.get("MOESEG_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed and MOESEG_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed (set MOESEG_REQUIRE_REDIS=1 to fail instead)")
    try:
        yield url
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreCase]:
    """Each store with its callers' clock (fake for memory/SQLite, real for Redis)."""
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    real = kind == "redis"
    clock = ManualClock(1_000_000.0)
    store = make_store(kind, tmp_path, url, clock=clock)
    c = StoreCase(kind, store, clock, real=real, unit=0.3 if real else 1.0)
    await c.store.snapshot([QuotaGroup("warm-up", (Window(1, 1),))], c.now())  # connect
    try:
        yield c
    finally:
        await c.aclose()
