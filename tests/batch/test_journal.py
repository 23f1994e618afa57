"""The SQLite resume journal: states, durability across connections, no credentials."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from moeseg.batch._journal import Journal, JournalState


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
