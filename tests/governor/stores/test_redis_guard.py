"""Without a ``redis-server`` binary the Redis tests skip, unless MOESEG_REQUIRE_REDIS=1 (CI)
turns that into a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Starts processes: outside `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
ONE_REDIS_TEST = "tests/governor/stores/test_redis.py::test_redis_reads_the_server_clock"


def run_without_redis_server(require: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MOESEG_REQUIRE_REDIS"}
    env["PATH"] = str(ROOT / "no-such-dir")  # no redis-server to be found
    if require:
        env["MOESEG_REQUIRE_REDIS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:hypothesispytest", ONE_REDIS_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("require", [False, True])
def test_missing_redis_server_skips_locally_and_fails_in_ci(require: bool) -> None:
    result = run_without_redis_server(require)
    if require:
        assert result.returncode != 0, result.stdout
        assert "MOESEG_REQUIRE_REDIS=1" in result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "2 skipped" in result.stdout
