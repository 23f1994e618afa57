"""The SQLite resume journal: states, durability across connections, no credentials."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import anyio
import pytest

import moeseg
from moeseg.batch import Journal, JournalError, JournalState


def test_intent_then_done_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        assert j.get("ws", "a", "fp1") is None
        j.record_intent("ws", "a", "fp1")
        entry = j.get("ws", "a", "fp1")
        assert entry is not None
        assert entry.state is JournalState.INTENT
        assert entry.attempts == 1
        j.record_done("ws", "a", "fp1", kind="created", segment_id="s1")
    with Journal(path) as j:
        entry = j.get("ws", "a", "fp1")
        assert entry is not None
        assert entry.state is JournalState.DONE
        assert (entry.kind, entry.segment_id, entry.error) == ("created", "s1", None)


def test_rejected_then_retried_counts_attempts(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_intent("ws", "a", "fp")
        j.record_rejected("ws", "a", "fp", kind="failed", error="quota wait too long")
        entry = j.get("ws", "a", "fp")
        assert entry is not None
        assert entry.state is JournalState.REJECTED
        assert entry.error == "quota wait too long"
        j.record_intent("ws", "a", "fp")
        entry = j.get("ws", "a", "fp")
        assert entry is not None
        assert entry.state is JournalState.INTENT
        assert entry.attempts == 2
        assert entry.error is None


def test_keys_are_workspace_name_and_fingerprint(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_done("ws", "a", "fp", kind="created", segment_id="1")
        assert j.get("ws", "a", "other") is None
        assert j.get("other-ws", "a", "fp") is None
        j.record_intent("ws", "b", "fp")
        assert [(e.name, e.state) for e in j.entries()] == [
            ("a", JournalState.DONE),
            ("b", JournalState.INTENT),
        ]


def test_closed_journal_refuses_use(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.close()
    j.close()
    with pytest.raises(sqlite3.ProgrammingError):
        j.get("ws", "a", "fp")
    assert "j.sqlite" in repr(j)


def _sqlite(path: Path, *statements: str) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as db:
        for sql in statements:
            db.execute(sql)
        db.commit()
    return path


def test_a_renamed_column_is_one_typed_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.record_intent("ws", "a", "fp")
    _sqlite(path, "ALTER TABLE items RENAME COLUMN segment_id TO cs_id")
    with pytest.raises(JournalError) as caught:
        Journal(path)
    message = str(caught.value)
    assert str(path) in message
    assert "lacks columns segment_id (unexpected: cs_id)" in message
    assert caught.value.path == str(path)
    assert isinstance(caught.value, moeseg.ConfigurationError)


def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = _sqlite(tmp_path / "quota.sqlite3", "CREATE TABLE requests (t REAL)")
    with pytest.raises(
        JournalError, match=r"not a moeseg journal \(an SQLite file with tables: requests\)"
    ):
        Journal(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master")]
    assert tables == ["requests"]  # no items table was added


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the rows you are looking for\n" * 100)
    with pytest.raises(JournalError, match="not a SQLite journal") as caught:
        Journal(path)
    assert str(path) in str(caught.value)


def test_an_unreadable_state_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.record_intent("ws", "a", "fp")
    _sqlite(path, "UPDATE items SET state = 'maybe'")
    with Journal(path) as j, pytest.raises(JournalError, match="unreadable entry"):
        j.get("ws", "a", "fp")


def test_a_missing_directory_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open: unable to open database file"):
        Journal(tmp_path / "no" / "j.sqlite")


@pytest.mark.anyio
async def test_journal_writes_never_block_the_event_loop(tmp_path: Path) -> None:
    """Each journal write (an fsync'd SQLite commit) runs in a worker thread: here a write
    that only finishes once another task of the loop has run. On the loop, it waited in vain
    (the loop was blocked) and the batch failed with this assertion."""
    from tests.cli._helpers import client_for, payload, sandbox

    released = threading.Event()

    class WaitsForTheLoop(Journal):
        def record_intent(self, workspace: str, name: str, fingerprint: str) -> None:
            assert released.wait(5), "the journal write blocked the event loop"
            super().record_intent(workspace, name, fingerprint)

    async def release() -> None:
        await anyio.sleep(0.01)
        released.set()

    with WaitsForTheLoop(tmp_path / "j.sqlite") as journal:
        async with client_for(sandbox()) as client, anyio.create_task_group() as tg:
            tg.start_soon(release)
            outcomes = await moeseg.create_many(client, [payload("a", "c1")], journal=journal)
    assert [o.kind for o in outcomes] == [moeseg.OutcomeKind.CREATED]
