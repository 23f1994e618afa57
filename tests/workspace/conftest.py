"""Fixtures of the segments-as-code tests: the governor tests' throwaway redis-server."""

from __future__ import annotations

from tests.governor.conftest import redis_url

__all__ = ["redis_url"]
