"""Fixtures of the sandbox tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from moeseg.sandbox import serve_app

from ._helpers import Loopback


@pytest.fixture
async def loopback() -> AsyncIterator[tuple[Loopback, str]]:
    """A file server + callback receiver on 127.0.0.1 (real sockets, real time)."""
    server = Loopback()
    async with serve_app(server) as url:
        yield server, url
