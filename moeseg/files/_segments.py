"""``FileSegments``: send a file-segment operation and get a handle that awaits its callback."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import httpx

from ..client import Client, FileKw, FileOptions
from ..governor import Clock
from ..segments import LegacyCsvResponse, V2AcceptedBody
from ._csv import CsvReport, check_csv, check_csv_url
from ._handles import HandleRecord, HandleStoreError, SQLiteHandles
from ._receiver import CallbackReceiver
from ._results import CallbackTimeout, FileSegmentFailed, FileSegmentHandle

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["FileSegments"]

StrPath = str | os.PathLike[str]


class FileSegments:
    """File-segment operations whose outcome you ``await`` instead of handling webhooks.

    Each method checks the CSV first when you pass ``csv_path`` (the local copy of the file at
    ``file_url``: every rule, before anything is sent or any quota spent), counts its users for
    the 2,000,000-users-a-day quota (or takes ``users=``), registers a single-use callback URL
    with the ``receiver``, sends the request through the ``client`` (governed, retried), and
    returns a :class:`FileSegmentHandle` (the example is in :mod:`moeseg.files`).

    ``check_size=True``: a HEAD request to ``file_url`` (through ``http_client`` if given)
    refuses a file announced above 150 MB. ``handles=``: a SQLite file that keeps the handles
    across restarts (default: memory; a receiver keeps its handles in one store); a restarted
    process makes a ``FileSegments`` on the same file and receiver URL *before* serving the
    receiver, and :meth:`pending`, :meth:`handle` and :meth:`wait_all` reopen its handles. A
    callback for an id the store never issued is answered 200 and kept as an *orphan* (the
    oldest dropped past 1,000). ``callback_timeout=``: seconds after which a handle expires for
    good (:class:`CallbackTimeout`, ``handle.expired``), read on the wall clock ``clock=``
    (:class:`moeseg.governor.WallClock` by default). For other per-call settings, pass
    ``client.with_options(...)`` as the client. The guide's "File segments" page has the
    details (what the file holds, orphans, expiry).
    """

    def __init__(
        self,
        client: Client,
        receiver: CallbackReceiver,
        *,
        check_size: bool = False,
        http_client: httpx.AsyncClient | None = None,
        handles: str | os.PathLike[str] | SQLiteHandles | None = None,
        callback_timeout: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.receiver = receiver
        self.check_size = check_size
        self.callback_timeout = callback_timeout
        self._http = http_client
        self._store = receiver._attach(handles, clock)

    def __repr__(self) -> str:
        return f"<FileSegments {self.client!r} {self.receiver!r} {self._store!r}>"

    async def __aenter__(self) -> FileSegments:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the handle store's file (reopened if used again)."""
        with anyio.CancelScope(shield=True):
            await self._store.aclose()

    async def pending(self) -> list[FileSegmentHandle]:
        """The store's pending handles, oldest first, also those of an earlier process (those
        past their deadline are expired on the way, and not listed)."""
        handles = [await self.receiver._reopen(record) for record in await self._store.pending()]
        return [handle for handle in handles if not handle.expired]

    async def handle(self, handle_id: str) -> FileSegmentHandle | None:
        """The handle with this id, in whatever state the store has it (pending, resolved,
        expired, or an orphan callback), or None when the store knows no such id."""
        record = await self._store.get(handle_id)
        return None if record is None else await self.receiver._reopen(record)

    async def wait_all(self, timeout: float | None = None) -> list[FileSegmentHandle]:  # noqa: ASYNC109
        """Wait until every pending handle is done (callback or expiry) or ``timeout`` passed;
        return them (look at ``done()``, ``outcome``, ``expired``)."""
        handles = await self.pending()

        async def one(handle: FileSegmentHandle) -> None:
            with suppress(CallbackTimeout, FileSegmentFailed):
                await handle.wait(timeout)

        async with anyio.create_task_group() as tg:
            for handle in handles:
                tg.start_soon(one, handle)
        return handles

    async def create(
        self,
        name: str,
        file_url: str,
        file: FileOptions | None = None,
        *,
        expiry_time: int,
        users: int | None = None,
        csv_path: StrPath | None = None,
        **deprecated: Unpack[FileKw],
    ) -> FileSegmentHandle:
        """Create file segment ``name`` from the CSV at ``file_url``, archived after
        ``expiry_time`` days."""
        count = await self._users(file_url, users, csv_path)
        call = partial(
            self.client.create_file_segment,
            name,
            file_url,
            file=file,
            users=count,
            expiry_time=expiry_time,
            **deprecated,
        )
        return await self._send("create", name, call)

    async def add_users(
        self,
        name: str,
        file_url: str,
        file: FileOptions | None = None,
        *,
        users: int | None = None,
        csv_path: StrPath | None = None,
        segment_id: str | None = None,
        **deprecated: Unpack[FileKw],
    ) -> FileSegmentHandle:
        """Add the CSV's users to file segment ``name`` (``segment_id`` wins on the server)."""
        count = await self._users(file_url, users, csv_path)
        call = partial(self.client.add_users, name, file_url, file=file, users=count,
                       segment_id=segment_id, **deprecated)  # fmt: skip
        return await self._send("add_users", name, call)

    async def remove_users(
        self,
        name: str,
        file_url: str,
        file: FileOptions | None = None,
        *,
        users: int | None = None,
        csv_path: StrPath | None = None,
        segment_id: str | None = None,
        **deprecated: Unpack[FileKw],
    ) -> FileSegmentHandle:
        """Remove the CSV's users from file segment ``name``."""
        count = await self._users(file_url, users, csv_path)
        call = partial(self.client.remove_users, name, file_url, file=file, users=count,
                       segment_id=segment_id, **deprecated)  # fmt: skip
        return await self._send("remove_users", name, call)

    async def replace_users(
        self,
        name: str,
        file_url: str,
        file: FileOptions | None = None,
        *,
        users: int | None = None,
        new_users: int | None = None,
        csv_path: StrPath | None = None,
        segment_id: str | None = None,
        **deprecated: Unpack[FileKw],
    ) -> FileSegmentHandle:
        """Replace every user of file segment ``name`` with the CSV's.

        MoEngage counts only the newly added users against the daily users quota: pass
        ``new_users=`` when you know how many of the file's users are not in the segment yet;
        otherwise the whole file is counted (safe, never over the quota).
        """
        count = await self._users(file_url, users, csv_path, new_users)
        call = partial(self.client.replace_users, name, file_url, file=file, users=count,
                       segment_id=segment_id, **deprecated)  # fmt: skip
        return await self._send("replace_users", name, call)

    async def legacy_csv_segment(
        self,
        name: str,
        csv_url: str,
        file: FileOptions | None = None,
        *,
        csv_path: StrPath | None = None,
        **deprecated: Unpack[FileKw],
    ) -> FileSegmentHandle:
        """Create a segment with MoEngage's deprecated CSV API (it spends file ops only).

        Deprecated by MoEngage (the client warns): prefer :meth:`create`.
        """
        if csv_path is not None:
            await self._check_local(csv_path)
        if self.check_size:
            await check_csv_url(csv_url, http_client=self._http)
        call = partial(self.client.legacy_csv_segment, name, csv_url, file=file, **deprecated)
        return await self._send("legacy_csv", name, call)

    async def _users(
        self,
        file_url: str,
        users: int | None,
        csv_path: StrPath | None,
        new_users: int | None = None,
    ) -> int:
        """The users quota weight: the checked CSV's users, or as given, or ``new_users`` when
        replacing. Raises before any send."""
        if csv_path is not None:
            report = await self._check_local(csv_path)
            if users is not None and users != report.users:
                raise ValueError(f"users={users}, but {report.source} holds {report.users}")
            users = report.users
        elif users is None:
            raise TypeError("pass csv_path= (checked and counted) or users= (rows in the file)")
        if self.check_size:
            await check_csv_url(file_url, http_client=self._http)
        if new_users is None:
            return users
        if not 0 <= new_users <= users:
            raise ValueError(f"new_users={new_users} must lie between 0 and {users} (users)")
        return new_users

    @staticmethod
    async def _check_local(csv_path: StrPath) -> CsvReport:
        return (await anyio.to_thread.run_sync(check_csv, csv_path)).raise_for_violations()

    async def _send(
        self,
        operation: str,
        name: str,
        call: Callable[[str], Awaitable[V2AcceptedBody | LegacyCsvResponse]],
    ) -> FileSegmentHandle:
        """Register the callback first (it may arrive before the answer), then send."""
        handle = self.receiver.expect(operation, name)
        assert handle.callback_url is not None
        handle.created_at = self.receiver._clock.now()
        if self.callback_timeout is not None:
            handle.deadline = handle.created_at + self.callback_timeout
        record = HandleRecord(
            handle.id, handle._digest, operation, name, handle.created_at,
            handle.deadline,
        )  # fmt: skip
        try:
            await self._store.add(record)
        except BaseException:
            self.receiver.discard(handle)
            raise
        try:
            handle.accepted = await call(handle.callback_url)
        except BaseException:
            self.receiver.discard(handle)
            with anyio.CancelScope(shield=True), suppress(HandleStoreError):
                await self._store.remove(handle.id)  # the request's own error counts
            raise
        segment_id = getattr(handle.accepted, "cs_id", None)
        if segment_id:
            await self._store.set_segment_id(handle.id, segment_id)
        return handle


FileSegments.__module__ = "moeseg.files"  # reprs and tracebacks name the public place
