"""``python -m moeseg create`` as a subprocess, killed mid-way and run again with its journal.

The sandbox runs as a real server on loopback in the test process, so its state (segments,
request log, quota windows) persists across the two runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from moeseg.sandbox import FaultConfig, Latency, LatencyFault, Sandbox, SandboxConfig
from tests.cli._helpers import invalid_payload, payload

SCALE = 0.02  # a 60 s window lasts 1.2 s
N = 120


def _env(box: Sandbox) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MOENGAGE_WORKSPACE_ID=box.workspace_id,
        MOENGAGE_API_KEY=box.api_key,
        MOENGAGE_DB_NAME=box.db_name,
    )
    return env


async def _settle(box: Sandbox) -> None:
    """Wait for requests the killed process had already sent to finish on the server."""
    with anyio.fail_after(10):
        while True:
            seen = (len(box.log), len(box.segments()))
            await anyio.sleep(0.2)
            created = sum(r.cause == "created" for r in box.log)
            if (len(box.log), len(box.segments())) == seen and created == seen[1]:
                return


def _journal_states(path: Path) -> dict[str, str]:
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return dict(db.execute("SELECT name, state FROM items").fetchall())
    except sqlite3.OperationalError:  # not created yet by the process under test
        return {}


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the subprocess is what is under test
async def test_killed_batch_resumes_without_sending_twice(tmp_path: Path) -> None:
    # responses are slow, so requests are in flight (intent journaled, no result) at the kill
    slow = LatencyFault(latency=Latency.fixed(0.05), routes={"create"}, phase="response")
    box = Sandbox(SandboxConfig(time_scale=SCALE, faults=FaultConfig((slow,))))
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([payload(f"seg-{i}", f"city-{i}") for i in range(N)]))
    journal = tmp_path / "journal.sqlite"
    async with box.serve(port=0) as url:
        args = [
            sys.executable, "-m", "moeseg", "create", str(batch), "--base-url", url,
            "--time-scale", str(SCALE), "--journal", str(journal), "--concurrency", "10",
            "--quota-db", str(tmp_path / "quota.sqlite3"), "--json",
        ]  # fmt: skip
        proc = await anyio.open_process(args, env=_env(box))
        try:
            with anyio.fail_after(60):
                while sum(r.cause == "created" for r in box.log) < 60:
                    await anyio.sleep(0.005)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        await _settle(box)
        first_run = len(box.log)
        created_by_first = {s.name for s in box.segments()}
        states = _journal_states(journal)
        assert 60 <= len(created_by_first) < N
        # killed, not finished: some items were journaled done, none is half-written
        assert set(states.values()) <= {"intent", "done"}
        assert {n for n, s in states.items() if s == "done"} <= created_by_first

        second = await anyio.run_process(args, env=_env(box), check=False)
        assert second.returncode == 0, second.stderr.decode()
        data = json.loads(second.stdout)
        rerun_log = box.log[first_run:]

    assert data["ok"] is True
    outcomes = data["outcomes"]
    assert [o["index"] for o in outcomes] == list(range(N))
    # every segment exists exactly once, with the id the rerun reports
    names = [s.name for s in box.segments()]
    assert sorted(names) == sorted(f"seg-{i}" for i in range(N))
    ids = {s.name: s.id for s in box.segments()}
    assert all(ids[o["name"]] == o["segment_id"] for o in outcomes)
    # nothing that had succeeded was sent again: no create of the rerun hit an existing name
    rerun_creates = [r for r in rerun_log if r.route == "create"]
    assert not [r for r in rerun_creates if r.status == 409]
    # the quota state survived the kill (SQLite store): the rerun was never rate-limited
    assert not [r for r in rerun_log if r.status == 429]
    assert sum(r.cause == "created" for r in rerun_creates) == N - len(created_by_first)
    for o in outcomes:
        if o["name"] in created_by_first:
            assert o["from_journal"] or o["kind"] == "recovered", o
        else:
            assert o["kind"] == "created", o
    assert set(_journal_states(journal).values()) == {"done"}


@pytest.mark.slow
def test_subprocess_exit_codes_and_json(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([payload("a", "Pune"), invalid_payload("b")]))
    cmd = [sys.executable, "-m", "moeseg"]
    ok = subprocess.run(
        [*cmd, "create", str(batch), "--sandbox", "--time-scale", "0.01", "--json",
         "--accept", "invalid"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert [o["kind"] for o in json.loads(ok.stdout)["outcomes"]] == ["created", "invalid"]
    failed = subprocess.run(
        [*cmd, "validate", str(batch)], capture_output=True, text=True, check=False, timeout=60
    )
    assert failed.returncode == 1
    usage = subprocess.run(
        [*cmd, "create"], capture_output=True, text=True, check=False, timeout=60
    )
    assert usage.returncode == 2


@pytest.mark.slow  # a subprocess
def test_sigterm_stops_cleanly_with_partial_outcomes(tmp_path: Path) -> None:
    """SIGTERM mid-batch: exit 130, finished items reported and journaled, nothing half-done."""
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([payload(f"seg-{i}", f"city-{i}") for i in range(N)]))
    journal = tmp_path / "journal.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moeseg", "create", str(batch), "--sandbox", "--time-scale",
         "0.2", "--journal", str(journal), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # 50 creates go at once, then the 12 s minute window holds the rest
        while time.monotonic() < deadline:
            if journal.exists() and list(_journal_states(journal).values()).count("done") >= 50:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    data = json.loads(stdout)
    assert data["interrupted"] is True
    assert data["stopped"] == "batch stopped"
    assert data["ok"] is False
    # graceful: what was sent finished, every other item is reported as not sent
    assert [o["index"] for o in data["outcomes"]] == list(range(N))
    finished = [o for o in data["outcomes"] if o["kind"] != "not_sent"]
    assert 50 <= len(finished) < N
    assert data["summary"]["not_sent"] == N - len(finished)
    states = _journal_states(journal)
    for o in data["outcomes"]:
        if o["kind"] == "not_sent":
            assert o["name"] not in states  # never admitted, never journaled
            assert o["attempts"] == 0
        else:
            assert o["kind"] == "created"
            assert states[o["name"]] == "done"
            assert o["attempts"] == 1
