"""Four OS processes, each a moeseg.Client with many concurrent creates, share one workspace's
quota through SQLite or Redis against one sandbox served on loopback (scaled-down windows): the
sandbox never sees a window over its limit, answers no 429, and holds every segment once.
Two workers run on asyncio and two on trio: the store is shared whatever the event loop."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from moeseg.governor import QuotaPolicy
from moeseg.sandbox import Sandbox, SandboxConfig

# Starts processes: outside `make test-fast`.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
SCALE = 0.05  # minute -> 3 s (holds the whole burst), hour -> 180 s, day -> 72 min
PROCESSES, PER_PROCESS = 4, 20


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the workers cover both backends
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_four_client_processes_share_one_quota_against_the_sandbox(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    where = (
        str(tmp_path / "quota.sqlite3")
        if kind == "sqlite"
        else request.getfixturevalue("redis_url")
    )
    store_workspace = f"ws-{uuid.uuid4().hex[:8]}"
    box = Sandbox(SandboxConfig(time_scale=SCALE))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MOENGAGE_WORKSPACE_ID": box.workspace_id,
        "MOENGAGE_API_KEY": box.api_key,
    }
    outputs: list[str] = []
    async with box.serve(port=0) as url:
        procs = []
        for i in range(PROCESSES):
            backend = "trio" if i % 2 else "asyncio"
            worker = "tests.governor.stores._sandbox_worker"
            cmd = [sys.executable, "-m", worker, backend, kind, where,
                   store_workspace, url, str(SCALE), f"p{i}", str(PER_PROCESS)]  # fmt: skip
            procs.append(await anyio.open_process(cmd, cwd=ROOT, env=env))
        try:
            with anyio.fail_after(60):
                lines = [BufferedByteReceiveStream(p.stdout) for p in procs if p.stdout]
                for line in lines:  # every worker imported and connected
                    assert await line.receive_until(b"\n", 1000) == b"ready"
                for proc in procs:
                    assert proc.stdin is not None
                    await proc.stdin.send(b"go\n")
                for proc, line in zip(procs, lines, strict=True):
                    outputs.append((await line.receive_until(b"\n", 1000)).decode())
                    if await proc.wait() != 0:
                        assert proc.stderr is not None
                        pytest.fail((await proc.stderr.receive(100_000)).decode()[-3000:])
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                await proc.aclose()

    assert outputs == ["done"] * PROCESSES
    names = sorted(s.name for s in box.segments())
    expected = sorted(f"p{i}-{j}" for i in range(PROCESSES) for j in range(PER_PROCESS))
    assert names == expected  # every segment exactly once
    assert sum(box.too_many_requests.values()) == 0
    windows = QuotaPolicy.moengage().scaled(SCALE).group("segments").windows
    for window in windows:
        assert box.max_in_window("segments", window.seconds) <= window.limit, window
    # Full speed is proven in virtual time (tests/governor, tests/sandbox); with real processes
    # on a shared machine how many arrive in the first 3 s is a matter of CPU, not quota.
