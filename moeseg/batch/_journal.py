"""A resume journal for batch creation, in one SQLite file (stdlib ``sqlite3``).

Every item of a batch is keyed by ``(workspace, name, fingerprint)``. The batch writes:

- ``intent`` ("sent") the moment a create is admitted by the quota governor, just before its
  request may leave: from then on the segment *may* exist on the server. An item still waiting
  for quota is not recorded, so a stopped or killed batch leaves nothing to look up for it;
- ``done`` with the segment id after a success (created, recovered, or already there with an
  identical definition): a later run sends nothing for this item;
- ``rejected`` after an error that proves nothing was created (validation, a 4xx answer, a
  connect failure, a quota wait beyond the caller's limit): a later run may send it again.

An item left at ``intent`` (the process was killed, the batch cancelled, or the last error left
the outcome unknown: a timeout or a 5xx) is never resent blindly: the next run first looks the
segment up (one list call for the whole batch, then a get per matching name) and compares
fingerprints.

Each write is one committed transaction, so a kill at any moment leaves every item either fully
recorded in one state or in the previous one, never half-written. The file holds names, ids and
fingerprints only: never a credential.

A file that is not such a journal (not SQLite, another program's SQLite file, an ``items``
table whose columns drifted) is refused when it is opened, with a :class:`JournalError` naming
the file and what is wrong; nothing is written to it.
"""

from __future__ import annotations

import enum
import os
import sqlite3
import threading
import time
from collections.abc import Sequence

import anyio.to_thread
import attrs

from .._exceptions import ConfigurationError
from ._prepare import BatchItem

__all__ = ["Journal", "JournalEntry", "JournalError", "JournalState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    workspace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL,
    kind        TEXT,
    segment_id  TEXT,
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (workspace, name, fingerprint)
)
"""


class JournalError(ConfigurationError):
    """The journal file cannot be used: not SQLite, not a moeseg journal, or unreadable.

    The message names the file and what is wrong; ``path`` is the file.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"journal {path}: {problem}")
        self.path = path


class JournalState(str, enum.Enum):
    """Where an item stands in the journal."""

    INTENT = "intent"
    """A create was admitted and may have been sent; its outcome is unknown."""
    DONE = "done"
    """The segment exists with this definition; ``segment_id`` says which."""
    REJECTED = "rejected"
    """The last attempt provably created nothing; sending again is safe."""


@attrs.frozen(slots=True)
class JournalEntry:
    """One recorded item."""

    workspace: str
    name: str
    fingerprint: str
    state: JournalState
    kind: str | None = None
    segment_id: str | None = None
    error: str | None = None
    attempts: int = 0
    updated_at: float = 0.0


class Journal:
    """Durable record of a batch's intents and results, so a killed batch can resume.

    Usage::

        with Journal("batch.sqlite") as journal:
            outcomes = await moeseg.create_many(client, definitions, journal=journal)

    Safe to share between tasks of one event loop and between threads (one lock); several
    processes may open the same file (SQLite's own locking, WAL mode).
    """

    __slots__ = ("_conn", "_lock", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise JournalError(self.path, f"cannot open: {exc}") from None
        try:
            self._check_schema(self._conn)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(_SCHEMA)
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.Error):
                raise JournalError(self.path, f"cannot set up: {exc}") from None
            raise

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """Refuse, before writing anything, a file that is not (or no longer) a journal."""
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            columns = {r[1] for r in conn.execute("PRAGMA table_info(items)")}
        except sqlite3.DatabaseError as exc:
            raise JournalError(self.path, f"not a SQLite journal ({exc})") from None
        if not tables:
            return  # a new file
        if "items" not in tables:
            found = ", ".join(sorted(tables))
            raise JournalError(
                self.path, f"not a moeseg journal (an SQLite file with tables: {found})"
            )
        if not columns >= set(_COLUMNS):
            missing = ", ".join(sorted(set(_COLUMNS) - columns))
            extra = ", ".join(sorted(columns - set(_COLUMNS))) or "none"
            raise JournalError(
                self.path,
                f"its items table lacks columns {missing} (unexpected: {extra}); "
                "it was written by something else or altered",
            )

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file; further calls raise ``sqlite3.ProgrammingError``."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Execute under the lock; SQLite's failures become a JournalError naming the file."""
        with self._lock:
            if self._conn is None:
                raise sqlite3.ProgrammingError("journal is closed")
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.ProgrammingError:
                raise
            except sqlite3.Error as exc:
                raise JournalError(self.path, f"{type(exc).__name__}: {exc}") from None

    def get(self, workspace: str, name: str, fingerprint: str) -> JournalEntry | None:
        """The entry for this item, or ``None`` if it was never recorded."""
        rows = self._run(
            _SELECT + " WHERE workspace = ? AND name = ? AND fingerprint = ?",
            (workspace, name, fingerprint),
        )
        return _entry(self.path, rows[0]) if rows else None

    def entries(self) -> list[JournalEntry]:
        """Every entry, oldest update first."""
        rows = self._run(_SELECT + " ORDER BY updated_at, rowid")
        return [_entry(self.path, r) for r in rows]

    def record_intent(self, workspace: str, name: str, fingerprint: str) -> None:
        """Commit that a create for this item may now leave (it was admitted by the governor)."""
        self._run(_INTENT, (workspace, name, fingerprint, JournalState.INTENT.value, time.time()))

    def record_done(
        self, workspace: str, name: str, fingerprint: str, *, kind: str, segment_id: str
    ) -> None:
        """Commit that the segment exists with this definition (created, recovered, existing)."""
        done = JournalState.DONE.value
        self._run(
            _RESULT, (workspace, name, fingerprint, done, kind, segment_id, None, time.time())
        )

    def record_rejected(
        self, workspace: str, name: str, fingerprint: str, *, kind: str, error: str
    ) -> None:
        """Commit that the last attempt provably created nothing (safe to send again)."""
        rejected = JournalState.REJECTED.value
        self._run(_RESULT, (workspace, name, fingerprint, rejected, kind, None, error, time.time()))


_INTENT = (
    "INSERT INTO items (workspace, name, fingerprint, state, attempts, updated_at) "
    "VALUES (?, ?, ?, ?, 1, ?) "
    "ON CONFLICT (workspace, name, fingerprint) DO UPDATE SET "
    "state = excluded.state, kind = NULL, error = NULL, "
    "attempts = attempts + 1, updated_at = excluded.updated_at"
)
_RESULT = (
    "INSERT INTO items (workspace, name, fingerprint, state, kind, segment_id, "
    "error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (workspace, name, fingerprint) DO UPDATE SET "
    "state = excluded.state, kind = excluded.kind, "
    "segment_id = excluded.segment_id, error = excluded.error, "
    "updated_at = excluded.updated_at"
)
# The items table's columns are JournalEntry's fields, in its order (_entry unpacks them).
_COLUMNS = tuple(f.name for f in attrs.fields(JournalEntry))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM items"


def _entry(path: str, row: tuple[object, ...]) -> JournalEntry:
    ws, name, fp, state, kind, seg_id, error, attempts, updated = row
    try:
        return JournalEntry(
            workspace=str(ws),
            name=str(name),
            fingerprint=str(fp),
            state=JournalState(state),
            kind=None if kind is None else str(kind),
            segment_id=None if seg_id is None else str(seg_id),
            error=None if error is None else str(error),
            attempts=int(attempts),  # type: ignore[call-overload]
            updated_at=float(updated),  # type: ignore[arg-type]
        )
    except (TypeError, ValueError) as exc:
        raise JournalError(path, f"unreadable entry {row[:3]!r}: {exc}") from None


async def journal_entries(
    journal: Journal | None, workspace: str, items: Sequence[BatchItem]
) -> list[JournalEntry | None]:
    """Each item's entry (``None``: never recorded), read in a worker thread, off the loop."""
    if journal is None:
        return [None] * len(items)
    return await anyio.to_thread.run_sync(
        lambda: [journal.get(workspace, i.name, i.fingerprint) for i in items]
    )
