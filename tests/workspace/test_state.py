"""The workspace state: SQLite file and memory stores, schema checks, the apply lock."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from moeseg._workspace import (
    DEFAULT_STATE_PATH,
    MemoryState,
    SQLiteState,
    StateError,
    StateLocked,
    StateRow,
    StateSchemaError,
    StateStore,
)

ROW = StateRow("buyers", "id1", "Buyers", "f" * 64, '{"included_filters": {}}', 10.5, None, False)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    if request.param == "sqlite":
        return SQLiteState(tmp_path / "state.sqlite")
    return MemoryState()


def test_rows_round_trip_sorted_by_key(store: StateStore) -> None:
    assert isinstance(store, StateStore)
    store.put(StateRow("z", "id9", "Z", archived_at=3.0, read_only=True))
    store.put(ROW)
    rows = store.snapshot().rows
    assert list(rows) == ["buyers", "z"]
    assert rows["buyers"] == ROW
    assert rows["z"].archived_at == 3.0
    assert rows["z"].read_only
    store.put(StateRow("buyers", "id1", "Buyers renamed"))
    assert store.snapshot().rows["buyers"].name == "Buyers renamed"
    store.forget("buyers")
    store.forget("absent")
    assert list(store.snapshot().rows) == ["z"]
    assert store.snapshot().by_segment_id()["id9"].key == "z"


def test_lock_excludes_other_owners_until_it_expires(store: StateStore) -> None:
    store.acquire("apply-1", ttl=60, now=1000)
    store.acquire("apply-1", ttl=60, now=1030)  # the owner renews
    with pytest.raises(StateLocked) as info:
        store.acquire("apply-2", ttl=60, now=1080)
    assert info.value.owner == "apply-1"
    assert info.value.expires_at == 1090
    assert store.location in str(info.value)
    store.acquire("apply-2", ttl=60, now=1091)  # expired: taken over
    store.release("apply-1")  # not the owner any more: nothing happens
    with pytest.raises(StateLocked):
        store.acquire("apply-1", ttl=60, now=1092)
    store.release("apply-2")
    store.acquire("apply-1", ttl=60, now=1093)


def test_the_sqlite_file_persists_and_is_shared(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.sqlite"
    SQLiteState(path).put(ROW)
    other = SQLiteState(path)
    assert other.snapshot().rows["buyers"] == ROW
    other.acquire("one", ttl=10, now=0)
    with pytest.raises(StateLocked):
        SQLiteState(path).acquire("two", ttl=10, now=5)


def test_default_path_is_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    SQLiteState()
    assert (tmp_path / DEFAULT_STATE_PATH).is_file()
    assert Path(".moeseg") / "state.sqlite" == DEFAULT_STATE_PATH


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(StateSchemaError, match="not a usable SQLite file") as info:
        SQLiteState(path)
    assert info.value.path == str(path)


def test_another_application_s_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(StateSchemaError, match="not a moeseg workspace state"):
        SQLiteState(path)


def _edit(path: Path, sql: str) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    SQLiteState(path)
    _edit(path, "UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(StateSchemaError, match="schema version '99', this moeseg reads 1"):
        SQLiteState(path)


def test_a_drifted_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    SQLiteState(path)
    _edit(path, "ALTER TABLE segments ADD COLUMN extra TEXT")
    with pytest.raises(StateSchemaError, match="schema drifted") as info:
        SQLiteState(path)
    assert str(path) in str(info.value)


def test_a_folder_that_cannot_be_made_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StateError, match="cannot create its folder") as info:
        SQLiteState(tmp_path / "file" / "state.sqlite")
    assert not isinstance(info.value, StateSchemaError)


def test_concurrent_applies_one_takes_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    SQLiteState(path)
    barrier = threading.Barrier(6)
    won: list[str] = []
    refused: list[str] = []

    def apply(owner: str) -> None:
        store = SQLiteState(path)
        barrier.wait()
        try:
            store.acquire(owner, ttl=60, now=100)
            won.append(owner)
        except StateLocked:
            refused.append(owner)

    threads = [threading.Thread(target=apply, args=(f"apply-{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(won) == 1
    assert len(refused) == 5
