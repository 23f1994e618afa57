"""The workspace state: which segment each desired key manages, and what moeseg did to it.

MoEngage keeps no tags or owner on a segment, so ownership lives here: per key, the segment id,
its name, the fingerprint last applied or verified (with that definition's payload, for diffs),
when it was last verified (wall-clock seconds), whether moeseg archived it (and when), and
whether the server refuses updates to it (read-only: made in the dashboard).

:class:`StateStore` is the protocol every backend implements (a Redis one can follow);
:class:`SQLiteState` keeps it in a file, by default ``.moeseg/state.sqlite`` in the current
directory (as Terraform keeps state in its working directory); :class:`MemoryState` in memory.

The API is synchronous and blocking: async callers run each call in a worker thread
(``anyio.to_thread.run_sync``), never on the event loop. Each call opens its own connection, so
calls from different threads never share one.

The apply lock is a row (owner, expiry) written inside a ``BEGIN IMMEDIATE`` transaction, not a
transaction held for the whole apply: an apply waits on quota for hours, and a held write
transaction would block every other writer (``plan`` recording verifications) for as long, while
a crashed apply would leave nothing to inspect. The row names its owner, expires by itself if
the owner dies (the applier renews it while it runs), and maps onto a Redis ``SET NX PX``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import attrs

from ._errors import StateError, StateLocked, StateSchemaError

__all__ = [
    "DEFAULT_STATE_PATH",
    "SCHEMA_VERSION",
    "MemoryState",
    "SQLiteState",
    "StateRow",
    "StateSnapshot",
    "StateStore",
]

DEFAULT_STATE_PATH: Final = Path(".moeseg") / "state.sqlite"
SCHEMA_VERSION: Final = 1
_APP: Final = "moeseg-workspace"
_COLUMNS: Final = (
    "key",
    "segment_id",
    "name",
    "fingerprint",
    "payload",
    "verified_at",
    "archived_at",
    "read_only",
)


@attrs.frozen(slots=True)
class StateRow:
    """What the state knows of one key.

    ``fingerprint``/``payload``: the definition last applied or verified (``payload`` is its
    JSON text, for diffs; may be ``None``). ``verified_at``: wall-clock seconds of the last
    GET or apply that saw it. ``archived_at``: set while moeseg's archive of it stands.
    """

    key: str
    segment_id: str
    name: str
    fingerprint: str | None = None
    payload: str | None = None
    verified_at: float | None = None
    archived_at: float | None = None
    read_only: bool = False


@attrs.frozen(slots=True)
class StateSnapshot:
    """Every row at one moment, by key (what the planner reads)."""

    rows: Mapping[str, StateRow] = attrs.field(factory=dict, eq=False, hash=False)

    def by_segment_id(self) -> dict[str, StateRow]:
        """Rows by segment id."""
        return {r.segment_id: r for r in self.rows.values()}


@runtime_checkable
class StateStore(Protocol):
    """A state backend. Blocking calls: async code runs them in a worker thread."""

    @property
    def location(self) -> str:
        """The file path or URL, for messages."""
        ...

    def snapshot(self) -> StateSnapshot:
        """Every row, read in one transaction."""
        ...

    def put(self, row: StateRow) -> None:
        """Insert or replace the row of ``row.key``."""
        ...

    def forget(self, key: str) -> None:
        """Remove the row of ``key`` (no error if there is none)."""
        ...

    def acquire(self, owner: str, *, ttl: float, now: float) -> None:
        """Take (or renew, for the same owner) the apply lock until ``now + ttl``.

        Raises :class:`StateLocked` when another owner holds an unexpired lock.
        """
        ...

    def release(self, owner: str) -> None:
        """Drop the lock if ``owner`` holds it."""
        ...


class MemoryState:
    """A :class:`StateStore` in memory (tests, services that keep state elsewhere)."""

    def __init__(self, rows: Mapping[str, StateRow] | None = None) -> None:
        self._rows: dict[str, StateRow] = dict(rows or {})
        self._lock: tuple[str, float] | None = None
        self._mutex = threading.Lock()

    @property
    def location(self) -> str:
        return "<memory>"

    def snapshot(self) -> StateSnapshot:
        with self._mutex:
            return StateSnapshot(dict(sorted(self._rows.items())))

    def put(self, row: StateRow) -> None:
        with self._mutex:
            self._rows[row.key] = row

    def forget(self, key: str) -> None:
        with self._mutex:
            self._rows.pop(key, None)

    def acquire(self, owner: str, *, ttl: float, now: float) -> None:
        with self._mutex:
            if self._lock is not None and self._lock[0] != owner and self._lock[1] > now:
                raise StateLocked(self.location, *self._lock)
            self._lock = (owner, now + ttl)

    def release(self, owner: str) -> None:
        with self._mutex:
            if self._lock is not None and self._lock[0] == owner:
                self._lock = None


_SCHEMA: Final = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE segments (
    key TEXT PRIMARY KEY,
    segment_id TEXT NOT NULL,
    name TEXT NOT NULL,
    fingerprint TEXT,
    payload TEXT,
    verified_at REAL,
    archived_at REAL,
    read_only INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE lock (id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL,
                   expires_at REAL NOT NULL);
"""


class SQLiteState:
    """A :class:`StateStore` in a SQLite file (created with its folder on first use).

    Opening checks the file: a file that is not SQLite, not moeseg's state, of another schema
    version, or whose columns differ raises :class:`StateSchemaError` naming it.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STATE_PATH) -> None:
        self._path = Path(path)
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(str(self._path), f"cannot create its folder: {exc}") from None
        with self._transaction() as db:
            self._check_or_create(db)

    @property
    def location(self) -> str:
        return str(self._path)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self._path, timeout=10.0, isolation_level=None)) as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StateError(self.location, f"database busy: {exc}") from None
            raise StateSchemaError(self.location, f"not a usable SQLite file: {exc}") from None

    def _check_or_create(self, db: sqlite3.Connection) -> None:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            # one by one: executescript would commit the transaction half way
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.execute(
                "INSERT INTO meta VALUES ('app', ?), ('schema_version', ?)",
                (_APP, str(SCHEMA_VERSION)),
            )
            return
        if "meta" not in tables:
            raise StateSchemaError(self.location, "not a moeseg workspace state (no meta table)")
        meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("app") != _APP:
            raise StateSchemaError(
                self.location, f"not a moeseg workspace state (app {meta.get('app')!r})"
            )
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise StateSchemaError(
                self.location,
                f"schema version {meta.get('schema_version')!r}, this moeseg reads "
                f"{SCHEMA_VERSION}",
            )
        columns = tuple(r[1] for r in db.execute("PRAGMA table_info(segments)"))
        if columns != _COLUMNS or "lock" not in tables:
            raise StateSchemaError(
                self.location,
                f"schema drifted: segments columns {list(columns)}, expected {list(_COLUMNS)}",
            )

    def snapshot(self) -> StateSnapshot:
        with self._transaction() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM segments ORDER BY key")
            out = {
                r[0]: StateRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]))
                for r in rows.fetchall()
            }
        return StateSnapshot(out)

    def put(self, row: StateRow) -> None:
        values = (
            row.key,
            row.segment_id,
            row.name,
            row.fingerprint,
            row.payload,
            row.verified_at,
            row.archived_at,
            int(row.read_only),
        )
        with self._transaction() as db:
            db.execute(f"INSERT OR REPLACE INTO segments VALUES ({', '.join('?' * 8)})", values)

    def forget(self, key: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM segments WHERE key = ?", (key,))

    def acquire(self, owner: str, *, ttl: float, now: float) -> None:
        with self._transaction() as db:
            held = db.execute("SELECT owner, expires_at FROM lock").fetchone()
            if held is not None and held[0] != owner and held[1] > now:
                raise StateLocked(self.location, held[0], held[1])
            db.execute("INSERT OR REPLACE INTO lock VALUES (1, ?, ?)", (owner, now + ttl))

    def release(self, owner: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM lock WHERE owner = ?", (owner,))
