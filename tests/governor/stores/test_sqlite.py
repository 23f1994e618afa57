"""SQLiteStore specifics: where the file lives, its layout, locks, workspaces, pruning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from moeseg.governor import Granted, QuotaGroup, SQLiteStore, Window, default_sqlite_path
from tests.governor._support import ManualClock

pytestmark = pytest.mark.anyio

G = QuotaGroup("segments", (Window(1, 60.0),))


def test_default_path_follows_xdg_cache_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_sqlite_path() == tmp_path / "moeseg" / "quota.sqlite3"
    assert SQLiteStore().path == tmp_path / "moeseg" / "quota.sqlite3"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec wants absolute paths
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_sqlite_path() == tmp_path / "home" / ".cache" / "moeseg" / "quota.sqlite3"


async def test_sqlite_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "q.sqlite3"
    async with SQLiteStore(path, clock=ManualClock()) as store:
        assert isinstance(await store.admit("a", ((G, 1),), 10.0), Granted)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM moeseg_entries").fetchone()[0] == 1


async def test_sqlite_keeps_workspaces_apart_in_one_file(tmp_path: Path) -> None:
    clock = ManualClock()
    one = SQLiteStore(tmp_path / "q.sqlite3", workspace="one", clock=clock)
    two = SQLiteStore(tmp_path / "q.sqlite3", workspace="two", clock=clock)
    assert isinstance(await one.admit("a", ((G, 1),), 10.0), Granted)
    assert not isinstance(await one.admit("b", ((G, 1),), 10.0), Granted)
    assert isinstance(await two.admit("c", ((G, 1),), 10.0), Granted)
    await one.aclose()
    await two.aclose()


async def test_sqlite_drops_rows_that_occupy_no_window(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    group = QuotaGroup("segments", (Window(100, 1.0), Window(200, 10.0)))
    clock = ManualClock()
    async with SQLiteStore(path, clock=clock) as store:
        for i in range(20):
            assert isinstance(await store.admit(f"l{i}", ((group, 1),), 10.0), Granted)
            await store.end(f"l{i}", ["segments"])
            clock.advance(0.5)
        clock.advance(2.0)  # now 12: only the 15 that ended after 2 still occupy a window
        assert isinstance(await store.admit("last", ((group, 1),), 10.0), Granted)
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM moeseg_entries").fetchone()[0] == 16


async def test_sqlite_waits_for_another_process_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    async with SQLiteStore(path) as store:
        store.open()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        results: list[object] = []
        async with anyio.create_task_group() as tg:

            async def admit() -> None:
                results.append(await store.admit("a", ((G, 1),), 10.0))

            tg.start_soon(admit)
            for _ in range(5):
                await anyio.sleep(0.01)  # the loop keeps running meanwhile
            assert results == []  # still waiting for the lock
            other.execute("COMMIT")
        other.close()
        assert isinstance(results[0], Granted)
