"""Fixtures for the store tests: a throwaway ``redis-server`` on loopback, and stores to test.

The Redis server is real (no mock, no fake): started once per session on a free loopback port
without persistence, killed at the end. Without the ``redis-server`` binary the Redis cases are
skipped, unless ``MOESEG_REQUIRE_REDIS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from moeseg.governor import QuotaGroup, Window
from tests.stores._cases import StoreCase, make_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_redis_server() -> tuple[subprocess.Popen[bytes], str]:
    """Start a throwaway ``redis-server`` on loopback; return the process and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server")
    import redis

    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if client.ping():
                        return proc, url
                except redis.ConnectionError:
                    time.sleep(0.02)
        finally:
            client.close()
        proc.kill()
        proc.wait()
    raise RuntimeError("could not start redis-server")


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
    c = StoreCase(kind, make_store(kind, tmp_path, url), real=real, unit=0.2 if real else 1.0)
    await c.store.snapshot([QuotaGroup("warm-up", (Window(1, 1),))], c.now())  # connect
    try:
        yield c
    finally:
        await c.aclose()
