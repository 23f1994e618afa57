"""Several OS processes share one workspace's quota through SQLite or Redis, for real: a
recording HTTP server on loopback counts arrivals per window; a process killed while holding
leases frees its slots after the lease bound."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest

from moeseg.governor import Governor, RedisStore, SQLiteStore, WallClock
from tests.governor._support import sliding_max
from tests.governor.stores._worker import POLICY, open_store

# Starts processes: outside `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
KINDS = ["sqlite", "redis"]


class Recorder(ThreadingHTTPServer):
    """Records (arrival time, id) of every POST."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arrivals: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        arrived = time.time()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.arrivals.append((arrived, body["id"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def where(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return str(tmp_path / "quota.sqlite3")
    url: str = request.getfixturevalue("redis_url")
    return url


def spawn(*args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.governor.stores._worker", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_four_processes_share_one_quota(
    kind: str, recorder: Recorder, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    location = where(kind, request, tmp_path)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    procs = [spawn("run", kind, location, workspace, 6, recorder.url, f"p{i}") for i in range(4)]
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        assert out.strip() == "done"
    times = [t for t, _ in recorder.arrivals]
    ids = [i for _, i in recorder.arrivals]
    assert len(ids) == 24
    assert len(set(ids)) == 24  # nothing sent twice
    for window in POLICY.groups[0].windows:
        assert sliding_max(times, window.seconds) <= window.limit, window
    # And the quota was used, not wasted: the long window filled up.
    assert sliding_max(times, 1.2) == 12


@pytest.mark.parametrize("kind", KINDS)
def test_a_killed_holder_frees_its_slots_after_the_lease_bound(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    location = where(kind, request, tmp_path)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    bound = 0.6
    holder = spawn("hold", kind, location, workspace, 5, bound)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline().split()
        assert line[0] == "held"
        held_at = float(line[1])
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    async def survivor() -> tuple[float, dict[str, dict[float, int]]]:
        store = open_store(kind, location, workspace)
        try:
            gov = Governor(POLICY, store=store, clock=WallClock())
            async with gov.lease("create") as lease:
                pass
            return lease.admitted_at, await gov.remaining()
        finally:
            assert isinstance(store, (RedisStore, SQLiteStore))
            await store.aclose()

    admitted, left = anyio.run(survivor)
    # Its five leases never ended: each counts as ended at its bound and frees a short window
    # (0.3 s) later; the long window (1.2 s) still holds them all.
    assert admitted >= held_at + bound + 0.3 - 0.02
    assert admitted <= held_at + bound + 0.3 + 0.5
    assert left["segments"][1.2] == 12 - 6
