"""Fixtures of the governor tests: a throwaway ``redis-server`` on loopback and one
``store_kind`` parametrization (memory, SQLite, Redis) for tests that hold for every store.

The Redis server is real: started once per session on a free loopback port without
persistence, killed at the end. Without the ``redis-server`` binary the Redis cases skip, unless
``MOESEG_REQUIRE_REDIS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.governor.stores._redis_server import start_redis_server


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


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of store; ``redis`` comes with the session's server (see ``redis_url``)."""
    kind = str(request.param)
    if kind == "redis":
        request.getfixturevalue("redis_url")
    return kind
