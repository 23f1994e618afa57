"""``moeseg quota --watch`` (moeseg.cli._quota_watch): the view of one refresh, rendered
directly; the command on a shared SQLite store, its options, and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from rich.console import Console
from typer.testing import CliRunner

from moeseg.cli._app import app
from moeseg.cli._quota_watch import OTHER_QUEUES, read_state, render
from moeseg.governor import Governor, QuotaPolicy, RedisStore, SQLiteStore
from tests.governor.stores._redis_server import start_redis_server

runner = CliRunner()
CONN = ["--workspace-id", "WS"]  # no API key: the watch sends nothing


def _group_rows(text: str) -> list[list[str]]:
    """The cells of each group's first row (the one naming the group), in order."""
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines()]
    return [r for r in rows if r and r[0]]


def _text(state: object) -> str:
    console = Console(record=True, width=140)
    console.print(render(state))  # type: ignore[arg-type]
    return console.export_text()


@pytest.mark.anyio
@pytest.mark.virtual_time
async def test_the_view_shows_windows_leases_pauses_and_next_free_slot() -> None:
    gov = Governor(QuotaPolicy.moengage())
    for _ in range(3):
        await (await gov.acquire("create")).complete()
    await gov.acquire("create")  # in flight
    await gov.report_rate_limited("segment_reads", 60)
    state = await read_state(gov)
    segments = next(g for g in state.groups if g.name == "segments")
    assert [(w.seconds, w.used, w.limit) for w in segments.windows] == [
        (60.0, 4, 50),
        (3600.0, 4, 200),
        (86400.0, 4, 1000),
    ]
    assert segments.in_flight == 1
    assert segments.paused_for == 0
    assert segments.next_free == 0
    reads = next(g for g in state.groups if g.name == "segment_reads")
    assert reads.paused_for == 60
    assert reads.next_free == 60
    assert (state.waiting, state.in_flight) == (0, 1)
    text = _text(state)
    rows = _group_rows(text)
    assert rows[0] == ["segments", "1 min", "4", "50", "46", "1", "-", "now"]
    assert rows[1] == ["segment_reads", "1 min", "0", "100", "100", "0", "1 min", "in 1 min"]
    assert "This process: 0 waiting, 1 in flight." in text
    assert " ".join(OTHER_QUEUES.split()) in " ".join(text.split())


def test_watch_on_a_shared_sqlite_store_shows_another_process_lease(tmp_path: Path) -> None:
    db = tmp_path / "quota.sqlite3"

    async def another_process() -> None:
        async with SQLiteStore(db, workspace="WS") as store:
            gov = Governor(QuotaPolicy.moengage(), store=store)
            await (await gov.acquire("create")).complete()
            await gov.acquire("get")  # still in flight when the watch reads

    anyio.run(another_process)
    result = runner.invoke(
        app,
        [
            "quota",
            "--watch",
            "--iterations",
            "2",
            "--interval",
            "0.1",
            "--quota-db",
            str(db),
            *CONN,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    segments, reads = _group_rows(result.stdout)[:2]
    assert segments[2] == "1"  # used in the minute window
    assert reads[5] == "1"  # the lease in flight
    assert "Other processes' queues are not visible" in result.stdout


@pytest.mark.redis
def test_watch_on_redis_shows_another_process_lease() -> None:
    try:
        proc, url = start_redis_server()
    except FileNotFoundError:
        if os.environ.get("MOESEG_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed and MOESEG_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed")

    async def another_process() -> None:
        async with RedisStore(url, workspace="WS") as store:
            gov = Governor(QuotaPolicy.moengage(), store=store)
            await gov.acquire("create")  # in flight

    try:
        anyio.run(another_process)
        result = runner.invoke(
            app, ["quota", "--watch", "--iterations", "1", "--quota-redis", url, *CONN]
        )
    finally:
        proc.kill()
        proc.wait()
    assert result.exit_code == 0, result.output
    segments = _group_rows(result.stdout)[0]
    assert (segments[2], segments[5]) == ("1", "1")  # used, in flight
    assert "RedisStore" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--iterations", "2"], "need --watch"),
        (["--quota-redis", "redis://127.0.0.1:1/0"], "need --watch"),
        (["--watch", "--json"], "exclude each other"),
        (["--watch", "--sandbox"], "not with --sandbox"),
        (["--watch", "--quota-db", "memory"], "not with --sandbox or --quota-db memory"),
    ],
)
def test_watch_options_need_watch_and_a_shared_store(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["quota", *args, *CONN], catch_exceptions=False)
    assert result.exit_code == 2
    assert needle in " ".join(result.stderr.split())


def test_watch_needs_the_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOENGAGE_WORKSPACE_ID", raising=False)
    result = runner.invoke(app, ["quota", "--watch"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "--watch needs the workspace" in result.stderr


@pytest.mark.slow
def test_ctrl_c_ends_the_watch_with_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moeseg", "quota", "--watch", "--interval", "0.2",
         "--quota-db", str(tmp_path / "q.sqlite3"), *CONN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "Quota now" in proc.stdout.readline()  # started and refreshing (piped: printed)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "interrupted"
