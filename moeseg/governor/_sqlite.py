"""The SQLite store: admissions in one file, shared by every process of a machine.

One row per admitted request and group in ``moeseg_entries``; ``end_at`` is the pessimistic end
of a lease (its bound while in flight, its end once ended), so an entry occupies a window of
``W`` at ``now`` exactly when ``end_at + W > now``. Every call is one ``BEGIN IMMEDIATE``
transaction (SQLite serializes them across processes) that reads the time inside the lock, in a
worker thread: nothing blocks the event loop, and a caller that leaves abandons the thread.

Time (``moeseg_time``, per workspace): the latest time any process recorded, never going back,
and the clock's ``now() - monotonic()`` at that moment with the machine's boot id. The monotonic
clock is one per machine and never steps, so a change of that difference is a step of the wall
clock (NTP, a VM resume) since the last call by any process; every time in the file is then moved
by the step, so no window frees early or late. Across a reboot the difference means nothing: a
backward step is still caught (time never goes back: the group waits), a forward one is not.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from ._clock import Clock, WallClock
from ._policy import QuotaGroup
from ._store import Demand, Denied, Granted, GroupView, Row, denied, fits_from_rows, view_from_rows

__all__ = ["SQLiteStore", "default_sqlite_path"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS moeseg_entries (
    workspace TEXT NOT NULL,
    grp TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    weight INTEGER NOT NULL,
    admitted_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL,
    end_at REAL NOT NULL,
    PRIMARY KEY (workspace, grp, lease_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS moeseg_entries_by_end ON moeseg_entries (workspace, grp, end_at, weight);
CREATE TABLE IF NOT EXISTS moeseg_time (
    workspace TEXT NOT NULL PRIMARY KEY,
    latest REAL NOT NULL,
    offset REAL NOT NULL,
    boot TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS moeseg_pauses (
    workspace TEXT NOT NULL,
    grp TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (workspace, grp)
) WITHOUT ROWID;
"""

_STEP = 0.001
"""A change of ``now() - monotonic()`` larger than this (seconds) is a clock step (smaller
steps are not corrected: a window may free up to this much early)."""
_SLACK = 1.0
"""Index ranges are widened by this much: float rounding in ``now - W`` never drops a row."""


def default_sqlite_path() -> Path:
    """``$XDG_CACHE_HOME/moeseg/quota.sqlite3``, or ``~/.cache/moeseg/quota.sqlite3``."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "moeseg" / "quota.sqlite3"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class SQLiteStore:
    """Admissions of one workspace in a SQLite file, shared by processes on one machine.

    >>> store = SQLiteStore(workspace="ws1")  # ~/.cache/moeseg/quota.sqlite3
    >>> gov = Governor(policy, store=store)  # doctest: +SKIP

    ``path=None`` means :func:`default_sqlite_path`; one file holds any number of workspaces.
    Admissions survive restarts. Every user of a file must use the same quota groups (by name)
    for a workspace. ``timeout``: how long a call waits for another process's lock.
    ``recheck``: how often a waiting governor re-asks (another process may end a lease early).
    ``clock``: :class:`WallClock` unless testing.
    """

    __slots__ = (
        "_boot", "_conn", "_lock", "_refunded", "clock", "path", "recheck", "timeout", "workspace"
    )  # fmt: skip

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        workspace: str = "default",
        clock: Clock | None = None,
        timeout: float = 30.0,
        recheck: float = 1.0,
    ) -> None:
        self.path = Path(path) if path is not None else default_sqlite_path()
        self.workspace = workspace
        self.clock: Clock = clock if clock is not None else WallClock()
        self.timeout = timeout
        self.recheck = recheck
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._boot = _boot_id()
        # Lease ids refunded before their admission ran (the caller left): never admitted.
        self._refunded: deque[str] = deque(maxlen=4096)

    # -- plumbing ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open the file now (creating its directory, WAL mode and tables), blocking."""
        with self._lock:
            self._connection()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _locked(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                out = fn(conn)
                conn.execute("COMMIT")
                return out
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._locked, fn, abandon_on_cancel=True)

    def close(self) -> None:
        """Close the connection (reopened if used again)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aclose(self) -> None:
        """Close the connection."""
        await anyio.to_thread.run_sync(self.close)

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- inside a transaction -----------------------------------------------------------------

    def _now(self, conn: sqlite3.Connection) -> float:
        """The store's time, read inside the lock; re-bases the file after a clock step."""
        ws = self.workspace
        for _ in range(3):  # a read pre-empted between the two clocks would look like a step
            before = self.clock.monotonic()
            wall = self.clock.now()
            after = self.clock.monotonic()
            if after - before <= _STEP / 2:
                break
        offset = wall - (before + after) / 2
        row = conn.execute(
            "SELECT latest, offset, boot FROM moeseg_time WHERE workspace = ?", (ws,)
        ).fetchone()
        now = wall
        if row is not None:
            latest, old, boot = row
            shift = offset - old
            if boot == self._boot and abs(shift) > _STEP:
                conn.execute(
                    "UPDATE moeseg_entries SET admitted_at = admitted_at + ?1, expires_at = "
                    "expires_at + ?1, ended_at = ended_at + ?1, end_at = end_at + ?1 "
                    "WHERE workspace = ?2",
                    (shift, ws),
                )
                conn.execute(
                    "UPDATE moeseg_pauses SET until = until + ? WHERE workspace = ?", (shift, ws)
                )
                latest += shift
            now = max(wall, latest)
        conn.execute(
            "INSERT OR REPLACE INTO moeseg_time (workspace, latest, offset, boot) "
            "VALUES (?, ?, ?, ?)",
            (ws, now, offset, self._boot),
        )
        return now

    def _group(
        self, conn: sqlite3.Connection, group: QuotaGroup, now: float
    ) -> tuple[float, list[Row]]:
        """The group's pause and entries (by end), once those that occupy no window are dropped."""
        ws, name, longest = self.workspace, group.name, group.longest
        conn.execute(
            "DELETE FROM moeseg_entries WHERE workspace = ? AND grp = ? AND end_at < ? "
            "AND end_at + ? <= ?",
            (ws, name, now - longest + _SLACK, longest, now),
        )
        rows = conn.execute(
            "SELECT end_at, weight, ended_at IS NULL AND expires_at > ? FROM moeseg_entries "
            "WHERE workspace = ? AND grp = ? ORDER BY end_at",
            (now, ws, name),
        ).fetchall()
        pause = conn.execute(
            "SELECT until FROM moeseg_pauses WHERE workspace = ? AND grp = ?", (ws, name)
        ).fetchone()
        return (pause[0] if pause else -math.inf), [(e, w, bool(f)) for e, w, f in rows]

    def _admit(
        self, conn: sqlite3.Connection, lease_id: str, demand: Demand, lease_seconds: float
    ) -> Granted | Denied:
        now = self._now(conn)
        if lease_id in self._refunded:
            return Denied(math.inf, math.inf, demand[0][0].name, now)
        fits = {g.name: fits_from_rows(g, w, now, *self._group(conn, g, now)) for g, w in demand}
        if any(at > now for at, _ in fits.values()):
            return denied(now, fits)
        bound = now + lease_seconds
        conn.executemany(
            "INSERT OR REPLACE INTO moeseg_entries (workspace, grp, lease_id, weight, "
            "admitted_at, expires_at, ended_at, end_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
            [(self.workspace, g.name, lease_id, w, now, bound, bound) for g, w in demand],
        )
        return Granted(now, bound)

    def _end(self, conn: sqlite3.Connection, lease_id: str, groups: Sequence[str]) -> float:
        now = self._now(conn)
        conn.executemany(
            "UPDATE moeseg_entries SET ended_at = MIN(?1, expires_at), end_at = MIN(?1, "
            "expires_at) WHERE workspace = ?2 AND grp = ?3 AND lease_id = ?4 AND ended_at IS NULL",
            [(now, self.workspace, g, lease_id) for g in groups],
        )
        return now

    def _refund(self, conn: sqlite3.Connection, lease_id: str, groups: Sequence[str]) -> float:
        now = self._now(conn)
        found = conn.execute(
            "SELECT COUNT(*) FROM moeseg_entries WHERE workspace = ? AND lease_id = ?",
            (self.workspace, lease_id),
        ).fetchone()[0]
        if not found:
            self._refunded.append(lease_id)
        conn.executemany(
            "DELETE FROM moeseg_entries WHERE workspace = ? AND grp = ? AND lease_id = ? "
            "AND ended_at IS NULL AND expires_at > ?",
            [(self.workspace, g, lease_id, now) for g in groups],
        )
        return now

    def _pause(self, conn: sqlite3.Connection, group: str, seconds: float) -> float:
        now = self._now(conn)
        until = now + seconds
        conn.execute(
            "INSERT INTO moeseg_pauses (workspace, grp, until) VALUES (?, ?, ?) "
            "ON CONFLICT (workspace, grp) DO UPDATE SET until = MAX(until, excluded.until)",
            (self.workspace, group, until),
        )
        return now

    def _spend(self, conn: sqlite3.Connection, group: QuotaGroup, units: int) -> float:
        now = self._now(conn)
        conn.execute(
            "INSERT INTO moeseg_entries (workspace, grp, lease_id, weight, admitted_at, "
            "expires_at, ended_at, end_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.workspace, group.name, f"spent-{uuid.uuid4().hex}", units, now, now, now, now),
        )
        return now

    def _view(self, conn: sqlite3.Connection, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        now = self._now(conn)
        return {g.name: view_from_rows(g, now, *self._group(conn, g, now)) for g in groups}

    # -- the Store protocol ---------------------------------------------------------------------

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        """Record the admission (its times read inside the lock), or say how long to wait."""
        return await self._run(lambda c: self._admit(c, lease_id, demand, lease_seconds))

    async def end(self, lease_id: str, groups: Sequence[str]) -> float:
        """The lease's request finished now (its bound, if that is earlier)."""
        return await self._run(lambda c: self._end(c, lease_id, groups))

    async def refund(self, lease_id: str, groups: Sequence[str]) -> float:
        """The request was never sent: delete its entries if still in flight (or, if its
        admission has not run yet, make sure it never does)."""
        return await self._run(lambda c: self._refund(c, lease_id, groups))

    async def pause(self, group: str, seconds: float) -> float:
        """Admit nothing in ``group`` for ``seconds`` (never shortens a pause)."""
        return await self._run(lambda c: self._pause(c, group, seconds))

    async def spend(self, group: QuotaGroup, units: int) -> float:
        """Record ``units`` spent elsewhere just now."""
        return await self._run(lambda c: self._spend(c, group, units))

    async def view(self, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        """Occupancy now, per group and window."""
        return await self._run(lambda c: self._view(c, groups))

    def __repr__(self) -> str:
        return f"SQLiteStore(path={str(self.path)!r}, workspace={self.workspace!r})"
