"""Where file-segment handles are kept: a SQLite file that outlives the process (a service
restarted between an upload and MoEngage's callback still resolves it), or a private in-memory
SQLite database (the default). One implementation serves both, so both follow the same rules.

A record (:class:`HandleRecord`) keeps the SHA-256 digest of the callback URL's secret, never
the secret, a callback URL or a credential. Statuses: ``pending``; ``done`` (the callback's
outcome); ``expired`` (no callback before the deadline); ``orphan`` (a callback for an id this
store never issued, kept so it is not lost). A record leaves ``pending`` once, in one atomic
step (:meth:`SQLiteHandles.settle`): the callback or the expiry, whichever comes first.

Every call runs in a worker thread, one at a time, in a transaction of its own: no I/O on the
event loop. The file carries an application id and a schema version; a file that is not SQLite,
belongs to something else, comes from a newer moeseg, or stays locked longer than ``timeout``
raises :class:`HandleStoreError` naming the path, never a raw ``sqlite3`` error.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import anyio.to_thread
import attrs

from .._exceptions import ConfigurationError
from ._results import FileSegmentOutcome

__all__ = ["HandleRecord", "HandleStoreError", "MemoryHandles", "SQLiteHandles"]

T = TypeVar("T")
Status = Literal["pending", "done", "expired", "orphan"]
Row = tuple[object, ...]

MAX_ORPHANS = 1000
"""Orphan records kept (the oldest go first): unverifiable callbacks cannot grow a store."""


class HandleStoreError(ConfigurationError):
    """The handle store's file cannot be used: not SQLite, another program's file, written by a
    newer moeseg, locked, or unreadable. ``path`` is the file; the message says what is wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"file-segment handle store {path}: {problem}")
        self.path = path


@attrs.frozen(slots=True)
class HandleRecord:
    """One operation as the store keeps it (times are wall-clock Unix seconds)."""

    id: str
    digest: bytes
    operation: str
    segment_name: str
    created_at: float
    deadline: float | None = None
    segment_id: str | None = None
    status: Status = "pending"
    outcome: FileSegmentOutcome | None = None


_APPLICATION_ID = 0x6D6F6668  # "mofh": moeseg file-segment handles
_VERSION = 1
_SCHEMA = (
    """CREATE TABLE handles (
    id TEXT NOT NULL PRIMARY KEY,
    digest BLOB NOT NULL,
    operation TEXT NOT NULL,
    segment_name TEXT NOT NULL,
    segment_id TEXT,
    created_at REAL NOT NULL,
    deadline REAL,
    status TEXT NOT NULL,
    outcome TEXT
)""",
    "CREATE INDEX handles_by_status ON handles (status, created_at)",
)
_COLUMNS = ", ".join(field.name for field in attrs.fields(HandleRecord))  # in the record's order
_INSERT = f"INSERT INTO handles ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT = f"SELECT {_COLUMNS} FROM handles WHERE id = ?"


class SQLiteHandles:
    """Handles in a SQLite file: a restarted process (or another one on the same machine) finds
    its pending handles there. ``timeout``: how long a call waits for another process's lock."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteHandles({str(self.path)!r})"

    # -- plumbing: every call runs in a worker thread, under one lock -------------------------

    def _error(self, problem: str) -> HandleStoreError:
        return HandleStoreError(str(self.path), problem)

    def _open(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._error(f"cannot open: {exc}") from None
        try:
            self._set_up(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """Check the file is ours (or new) before writing anything, then create the table."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id == 0 and version == 0 and tables == 0:
                # One statement at a time: executescript() would commit the transaction first.
                for statement in (*_SCHEMA, f"PRAGMA application_id = {_APPLICATION_ID}",
                                  f"PRAGMA user_version = {_VERSION}"):  # fmt: skip
                    conn.execute(statement)
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise self._error(_operational(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise self._error(f"not a SQLite file ({exc})") from None
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        if app_id not in (0, _APPLICATION_ID) or (app_id == 0 and tables):
            raise self._error("not a moeseg handle store (another program's SQLite file)")
        if version > _VERSION:
            raise self._error(
                f"written by a newer moeseg (schema {version}; this one reads {_VERSION})"
            )
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise self._error(_operational(exc)) from None

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._open()
            try:
                conn.execute("BEGIN IMMEDIATE")
                out = fn(conn)
                conn.execute("COMMIT")
                return out
            except sqlite3.Error as exc:
                raise self._error(_operational(exc)) from None
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._locked, fn)

    def _record(self, row: Row | None) -> HandleRecord | None:
        if row is None:
            return None
        hid, digest, op, name, created, deadline, seg_id, status, outcome = row
        try:
            if status not in ("pending", "done", "expired", "orphan"):
                raise ValueError(f"unknown status {status!r}")
            if not isinstance(digest, bytes):
                raise TypeError("digest is not bytes")
            return HandleRecord(
                id=str(hid),
                digest=digest,
                operation=str(op),
                segment_name=str(name),
                created_at=float(created),  # type: ignore[arg-type]
                deadline=None if deadline is None else float(deadline),  # type: ignore[arg-type]
                segment_id=None if seg_id is None else str(seg_id),
                status=status,
                outcome=None if outcome is None else FileSegmentOutcome(**json.loads(str(outcome))),
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise self._error(f"unreadable record {hid!r}: {exc}") from None

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- the store: each method one short atomic step ------------------------------------------

    async def aclose(self) -> None:
        """Release the store (the file is reopened if used again)."""
        await anyio.to_thread.run_sync(self._close)

    async def add(self, record: HandleRecord) -> None:
        """Record a new pending operation (before its request is sent)."""
        await self._run(lambda db: db.execute(_INSERT, _pack(record)))

    async def set_segment_id(self, handle_id: str, segment_id: str) -> None:
        sql = "UPDATE handles SET segment_id = ? WHERE id = ?"
        await self._run(lambda db: db.execute(sql, (segment_id, handle_id)))

    async def remove(self, handle_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM handles WHERE id = ?", (handle_id,)))

    async def get(self, handle_id: str) -> HandleRecord | None:
        return self._record(
            await self._run(lambda db: db.execute(_SELECT, (handle_id,)).fetchone())
        )

    async def pending(self) -> list[HandleRecord]:
        """Every pending record, oldest first."""
        sql = f"SELECT {_COLUMNS} FROM handles WHERE status = 'pending' ORDER BY created_at, rowid"
        rows = await self._run(lambda db: db.execute(sql).fetchall())
        return [r for r in map(self._record, rows) if r is not None]

    async def settle(
        self, handle_id: str, status: Status, outcome: FileSegmentOutcome | None
    ) -> tuple[HandleRecord | None, bool]:
        """Move a pending record to ``status`` (``done`` or ``expired``): the record as it now
        is, and whether this call moved it (when it had already left ``pending``, the first
        decision stands). ``(None, False)`` when there is no such record."""

        def settle(db: sqlite3.Connection) -> tuple[Row | None, bool]:
            moved = db.execute(
                "UPDATE handles SET status = ?, outcome = ? WHERE id = ? AND status = 'pending'",
                (status, _dump(outcome), handle_id),
            ).rowcount
            return db.execute(_SELECT, (handle_id,)).fetchone(), moved == 1

        row, moved = await self._run(settle)
        return self._record(row), moved

    async def add_orphan(self, record: HandleRecord) -> HandleRecord:
        """Keep a callback for an unknown id; return the record now under that id (an earlier
        one wins)."""

        def add(db: sqlite3.Connection) -> Row:
            db.execute(_INSERT.replace("INSERT", "INSERT OR IGNORE"), _pack(record))
            db.execute(
                "DELETE FROM handles WHERE status = 'orphan' AND id NOT IN (SELECT id FROM "
                "handles WHERE status = 'orphan' ORDER BY created_at DESC, rowid DESC LIMIT ?)",
                (MAX_ORPHANS,),
            )
            found: Row | None = db.execute(_SELECT, (record.id,)).fetchone()
            return found or _pack(record)

        return self._record(await self._run(add)) or record


class MemoryHandles(SQLiteHandles):
    """Handles in this process's memory: lost when it exits (the default)."""

    def __init__(self) -> None:
        super().__init__(":memory:")

    def __repr__(self) -> str:
        return "MemoryHandles()"

    def _close(self) -> None:
        pass  # closing an in-memory database would lose its records: it lives as long as we do


def _operational(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"locked by another process ({text})"
    if isinstance(exc, sqlite3.OperationalError) and "no such table" in text:
        return f"not a moeseg handle store ({text})"
    return f"{type(exc).__name__}: {text}"


def _dump(outcome: FileSegmentOutcome | None) -> str | None:
    return None if outcome is None else json.dumps(attrs.asdict(outcome))


def _pack(r: HandleRecord) -> Row:
    return (*attrs.astuple(r, recurse=False)[:-1], _dump(r.outcome))
