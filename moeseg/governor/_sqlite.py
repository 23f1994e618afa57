"""The SQLite store: admissions in one file, shared by every process of a machine.

Layout: one row per admitted request and group in ``moeseg_entries`` (keyed by workspace, group
and lease id), one row per paused group in ``moeseg_pauses`` and, per workspace, the latest time
any caller has given in ``moeseg_clock`` (time never goes backwards for a workspace).
``end_at`` is the pessimistic end of a lease (its bound while in flight, its end once ended): an
entry occupies a window of ``W`` seconds at ``now`` exactly when ``end_at + W > now``, so the
admission check is one indexed aggregate per group. Check-and-record runs in one
``BEGIN IMMEDIATE`` transaction, which SQLite serializes across processes (WAL journal: readers
never wait for it).

Blocking calls: an uncontended transaction on a WAL database takes tens of microseconds, so each
call first runs inline on the event loop with a zero busy timeout; if the database is locked by
another process (or this store's connection is busy in a worker thread), it runs in a worker
thread instead (``anyio.to_thread.run_sync``), waiting up to ``timeout`` seconds for the lock.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

import anyio.to_thread
import attrs

from .._exceptions import ConfigurationError
from ._clock import Clock, WallClock
from ._policy import QuotaGroup
from ._store import Admission, Denied, EntryState, GroupState, decide

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
CREATE INDEX IF NOT EXISTS moeseg_entries_by_lease ON moeseg_entries (workspace, lease_id);
CREATE TABLE IF NOT EXISTS moeseg_clock (
    workspace TEXT NOT NULL PRIMARY KEY,
    latest REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS moeseg_pauses (
    workspace TEXT NOT NULL,
    grp TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (workspace, grp)
) WITHOUT ROWID;
"""

# A caller whose ``now`` is further than this from the store's clock uses another time base.
_MAX_SKEW = 3600.0

# Index ranges are widened by this much so that float rounding in ``now - W`` can never exclude
# a row that the exact test ``end_at + W > now`` (the reference arithmetic) would include.
_SLACK = 1.0


def default_sqlite_path() -> Path:
    """``$XDG_CACHE_HOME/moeseg/quota.sqlite3``, or ``~/.cache/moeseg/quota.sqlite3``."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "moeseg" / "quota.sqlite3"


class _Busy(Exception):
    """The database (or this store's inline connection) is locked: go to a worker thread."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _usage_sql(windows: int) -> str:
    cases = ", ".join(
        "COALESCE(SUM(CASE WHEN end_at + ? > ? THEN weight END), 0)" for _ in range(windows)
    )
    return f"SELECT {cases} FROM moeseg_entries WHERE workspace = ? AND grp = ? AND end_at > ?"


class SQLiteStore:
    """Admissions of one workspace in a SQLite file, shared by processes on one machine.

    >>> store = SQLiteStore(workspace="ws1")  # ~/.cache/moeseg/quota.sqlite3
    >>> gov = Governor(policy, store=store)  # doctest: +SKIP

    ``path=None`` means :func:`default_sqlite_path`; one file holds any number of workspaces
    (one store object each). Admissions survive restarts: a request admitted this morning
    occupies its day window after a restart. Every user of a file must use the same quota groups
    (by name) for a workspace.

    Times are stored as the governor passes them, so the governor must read the file's time
    base, ``clock`` (default :class:`WallClock`: every process, and a restarted one, agree); a
    ``Governor(store=SQLiteStore())`` does (``shared = True``). A ``now`` more than an hour away
    from ``clock.now()`` (a governor given a loop clock, say) raises
    :class:`moeseg.ConfigurationError` rather than silently sharing nothing. Tests may pass the
    governor's virtual clock as ``clock`` (and to the governor).
    """

    shared: ClassVar[bool] = True
    """Shared between processes: a governor built on it reads wall-clock time by default."""

    __slots__ = (
        "_inline",
        "_inline_lock",
        "_ready",
        "_setup_lock",
        "_sql",
        "_worker",
        "_worker_lock",
        "clock",
        "path",
        "timeout",
        "workspace",
    )

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        workspace: str = "default",
        clock: Clock | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.path = Path(path) if path is not None else default_sqlite_path()
        self.workspace = workspace
        self.clock: Clock = clock if clock is not None else WallClock()
        self.timeout = timeout
        self._inline: sqlite3.Connection | None = None
        self._worker: sqlite3.Connection | None = None
        self._inline_lock = threading.Lock()
        self._worker_lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._ready = False
        self._sql: dict[int, str] = {}

    # -- connections -----------------------------------------------------------------------

    def _connect(self, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def open(self) -> None:
        """Open the file now (creating its directory, WAL mode and tables), blocking; otherwise
        the first call does it in a worker thread. Useful to fail early on a bad path."""
        self._setup()

    def _setup(self) -> None:
        with self._setup_lock:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            worker = self._connect(self.timeout)
            # Switching to WAL takes an exclusive lock for which SQLite does not always call
            # the busy handler (another process may be opening the file too): retry until
            # ``timeout``. Once the file is in WAL mode, the switch is skipped.
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    if worker.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        worker.execute("PRAGMA journal_mode=WAL")
                    worker.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
                    break
                except sqlite3.OperationalError as exc:
                    if worker.in_transaction:
                        worker.execute("ROLLBACK")
                    if not _is_busy(exc) or time.monotonic() > deadline:
                        worker.close()
                        raise
                    time.sleep(0.01)
            self._worker = worker
            self._inline = self._connect(0.0)
            self._ready = True

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if not self._ready:
            await anyio.to_thread.run_sync(self._setup)
        if self._inline_lock.acquire(blocking=False):
            try:
                assert self._inline is not None
                return self._attempt(self._inline, fn)
            except _Busy:
                pass
            finally:
                self._inline_lock.release()
        return await anyio.to_thread.run_sync(self._in_worker, fn)

    def _in_worker(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._worker_lock:
            assert self._worker is not None
            return self._attempt(self._worker, fn, busy_ok=False)

    @staticmethod
    def _attempt(
        conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], *, busy_ok: bool = True
    ) -> T:
        try:
            return fn(conn)
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if busy_ok and _is_busy(exc):
                raise _Busy from exc
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connections (the store reopens them if used again)."""
        with self._setup_lock, self._inline_lock, self._worker_lock:
            for conn in (self._inline, self._worker):
                if conn is not None:
                    conn.close()
            self._inline = self._worker = None
            self._ready = False

    async def aclose(self) -> None:
        """Close the connections."""
        await anyio.to_thread.run_sync(self.close)

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- transactions (run in one connection, inline or in a worker thread) -------------------

    def _usage(self, conn: sqlite3.Connection, group: QuotaGroup, now: float) -> list[int]:
        windows = group.windows
        sql = self._sql.get(len(windows))
        if sql is None:
            sql = self._sql[len(windows)] = _usage_sql(len(windows))
        params: list[object] = []
        for w in windows:
            params += (w.seconds, now)
        params += (self.workspace, group.name, now - group.longest - _SLACK)
        row = conn.execute(sql, params).fetchone()
        return [int(x) for x in row]

    def _paused_until(self, conn: sqlite3.Connection, group: str) -> float:
        row = conn.execute(
            "SELECT until FROM moeseg_pauses WHERE workspace = ? AND grp = ?",
            (self.workspace, group),
        ).fetchone()
        return float(row[0]) if row is not None else -math.inf

    def _state(self, conn: sqlite3.Connection, group: QuotaGroup, now: float) -> GroupState:
        rows = conn.execute(
            "SELECT lease_id, weight, admitted_at, expires_at, ended_at, end_at "
            "FROM moeseg_entries WHERE workspace = ? AND grp = ? AND end_at > ? "
            "ORDER BY admitted_at",
            (self.workspace, group.name, now - group.longest - _SLACK),
        ).fetchall()
        longest = group.longest
        entries = tuple(
            EntryState(lease_id, weight, admitted, expires, ended)
            for lease_id, weight, admitted, expires, ended, end_at in rows
            if end_at + longest > now
        )
        return GroupState(group.name, entries, self._paused_until(conn, group.name))

    def _tick(self, conn: sqlite3.Connection, now: float) -> float:
        """``max(now, latest time seen)``, recorded (inside a write transaction)."""
        conn.execute(
            "INSERT INTO moeseg_clock (workspace, latest) VALUES (?, ?) ON CONFLICT (workspace) "
            "DO UPDATE SET latest = MAX(latest, excluded.latest)",
            (self.workspace, now),
        )
        return self._latest(conn)

    def _latest(self, conn: sqlite3.Connection) -> float:
        row = conn.execute(
            "SELECT latest FROM moeseg_clock WHERE workspace = ?", (self.workspace,)
        ).fetchone()
        return float(row[0]) if row is not None else -math.inf

    def _admit(self, conn: sqlite3.Connection, request: Admission) -> Denied | None:
        ws = self.workspace
        conn.execute("BEGIN IMMEDIATE")
        now = self._tick(conn, request.now)
        if now != request.now:
            request = attrs.evolve(request, now=now)
        fits = True
        for group, weight in request.demand:
            conn.execute(
                "DELETE FROM moeseg_entries WHERE workspace = ? AND grp = ? AND end_at < ? "
                "AND end_at + ? <= ?",
                (ws, group.name, now - group.longest, group.longest, now),
            )
            if not fits:
                continue
            if self._paused_until(conn, group.name) > now:
                fits = False
                continue
            need = weight + request.reserve.get(group.name, 0)
            usage = self._usage(conn, group, now)
            if any(u + need > w.limit for u, w in zip(usage, group.windows, strict=True)):
                fits = False
        if not fits:
            states = {g.name: self._state(conn, g, now) for g, _ in request.demand}
            denied = decide(states, request)
            if denied is not None:
                conn.execute("COMMIT")  # only pruning happened
                return denied
            # Unreachable while the aggregate above matches decide() (the reference; tested):
            # should they ever differ, the reference wins and the admission is recorded.
        conn.executemany(
            "INSERT OR REPLACE INTO moeseg_entries (workspace, grp, lease_id, weight, "
            "admitted_at, expires_at, ended_at, end_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
            [
                (ws, g.name, request.lease_id, weight, now, request.expires_at, request.expires_at)
                for g, weight in request.demand
            ],
        )
        conn.execute("COMMIT")
        return None

    def _end(
        self, conn: sqlite3.Connection, lease_id: str, groups: Sequence[str], at: float
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        at = self._tick(conn, at)
        conn.executemany(
            "UPDATE moeseg_entries SET ended_at = MIN(?, expires_at), end_at = MIN(?, expires_at) "
            "WHERE workspace = ? AND grp = ? AND lease_id = ? AND ended_at IS NULL",
            [(at, at, self.workspace, g, lease_id) for g in groups],
        )
        conn.execute("COMMIT")

    def _refund(self, conn: sqlite3.Connection, lease_id: str, groups: Sequence[str]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        latest = self._latest(conn)
        conn.executemany(
            "DELETE FROM moeseg_entries WHERE workspace = ? AND grp = ? AND lease_id = ? "
            "AND ended_at IS NULL AND expires_at > ?",
            [(self.workspace, g, lease_id, latest) for g in groups],
        )
        conn.execute("COMMIT")

    def _pause(self, conn: sqlite3.Connection, group: str, until: float) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO moeseg_pauses (workspace, grp, until) VALUES (?, ?, ?) "
            "ON CONFLICT (workspace, grp) DO UPDATE SET until = MAX(until, excluded.until)",
            (self.workspace, group, until),
        )
        conn.execute("COMMIT")

    def _snapshot(
        self, conn: sqlite3.Connection, groups: Sequence[QuotaGroup], now: float
    ) -> dict[str, GroupState]:
        conn.execute("BEGIN")
        try:
            return {g.name: self._state(conn, g, now) for g in groups}
        finally:
            conn.execute("COMMIT")

    def _check_time(self, now: float) -> None:
        if abs(now - self.clock.now()) > _MAX_SKEW:
            raise ConfigurationError(
                f"SQLiteStore keeps time by {self.clock!r} but was given now={now!r}: create "
                "the Governor with the same clock (e.g. Governor(store=..., clock=WallClock()))"
            )

    # -- the Store protocol ---------------------------------------------------------------------

    async def admit(self, request: Admission) -> Denied | None:
        """Record the admission in every group of the demand, or say when it could succeed."""
        self._check_time(request.now)
        return await self._run(lambda conn: self._admit(conn, request))

    async def end(self, lease_id: str, groups: Sequence[str], at: float) -> None:
        """The lease's request finished at ``at`` (its bound, if that is earlier)."""
        self._check_time(at)
        await self._run(lambda conn: self._end(conn, lease_id, groups, at))

    async def refund(self, lease_id: str, groups: Sequence[str]) -> None:
        """The lease's request was never sent: delete its entries if still in flight (not
        ended, bound not passed at the latest time any user of the workspace has given)."""
        await self._run(lambda conn: self._refund(conn, lease_id, groups))

    async def pause(self, group: str, until: float) -> None:
        """Admit nothing in ``group`` before ``until`` (never shortens a pause)."""
        await self._run(lambda conn: self._pause(conn, group, until))

    async def snapshot(self, groups: Sequence[QuotaGroup], now: float) -> dict[str, GroupState]:
        """Entries still occupying a window of their group at ``now``, and pauses."""
        self._check_time(now)
        return await self._run(lambda conn: self._snapshot(conn, groups, now))

    def __repr__(self) -> str:
        return f"SQLiteStore(path={str(self.path)!r}, workspace={self.workspace!r})"
