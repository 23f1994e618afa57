"""What every client call shares (options, reading answers) and the v2 calls: file segments,
archive/unarchive, and MoEngage's deprecated CSV API."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from .._exceptions import ConfigurationError, NameConflict
from .._telemetry import Observer, observed
from ..segments import (
    ArchiveRequest,
    FileSegmentRequest,
    LegacyCsvRequest,
    LegacyCsvResponse,
    Segment,
    V2AcceptedBody,
    unstructure,
)
from ._answers import read_success
from ._config import ArchiveKw, CallOptions, FileKw, Options, PerCall, merged
from ._file_options import FileOptions
from ._send import CallKw, Endpoint, Sender, Unknown

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

logger = logging.getLogger("moeseg")

T = TypeVar("T")

_V2_FILE: Final = "/v2/custom-segments/file-segment"
_FILE_CREATE = Endpoint("file_create", "POST", "v2", _V2_FILE)
_ADD = Endpoint("file_add", "PUT", "v2", f"{_V2_FILE}/add-users")
_REMOVE = Endpoint("file_remove", "PUT", "v2", f"{_V2_FILE}/remove-users")
_REPLACE = Endpoint("file_replace", "PUT", "v2", f"{_V2_FILE}/replace")
_ARCHIVE = Endpoint("archive", "PATCH", "v2", "/v2/custom-segments/archive")
_UNARCHIVE = Endpoint("unarchive", "PATCH", "v2", "/v2/custom-segments/unarchive")
# A duplicate legacy upload cannot be told from someone else's: retry only known outcomes.
_LEGACY = Endpoint("legacy_csv", "POST", "legacy", "/csv_segment", retry_unknown=False)
_OLD_FILE_KEYS: Final = ("attribute_name", "attribute", "attribute_type", "emails", "cs_id")


class Calls:
    """The base of :class:`moeseg.Client`: per-call options and the v2 endpoints."""

    __slots__ = ("_opts", "_sender")

    _opts: Options
    _sender: Sender

    def with_options(self, **changes: Unpack[CallOptions]) -> Self:
        """A copy of this client with other per-call settings (``timeout``, ``max_retries``,
        ``max_wait``, ``max_response_bytes``), sharing its connections, credentials and governor.

        ``client.with_options(max_wait=60).create_segment(d)``; the copy is cheap, use it for
        one call or keep it. Closing either closes the shared connection pool.
        """
        copy = object.__new__(type(self))
        copy._sender = self._sender
        copy._opts = merged(self._opts, changes)
        return copy

    @property
    def _observer(self) -> Observer | None:
        return self._sender.observer

    def _using(self, kw: PerCall, stacklevel: int = 3) -> Self:
        """The client a call with the deprecated per-call keywords runs on."""
        if not kw:
            return self
        changes = {k: v for k, v in kw.items() if v is not None}
        _deprecated(kw, "use client.with_options(...)", stacklevel + 1, "per-call ")
        return self.with_options(**cast(CallOptions, changes))

    def _file_call(
        self, file: FileOptions | None, segment_id: str | None, kw: FileKw
    ) -> tuple[Self, FileOptions, str | None]:
        """The client, file options and segment id of a file call given the old keywords."""
        given = cast(dict[str, Any], kw)
        old = {k: given.pop(k) for k in _OLD_FILE_KEYS if k in given}
        if old:
            _deprecated(old, "pass moeseg.FileOptions(attribute_name, ...) and segment_id=", 4)
            segment_id = segment_id or old.get("cs_id")
            column = old.get("attribute_name") or old.get("attribute")
            if file is None and column is not None:
                file = FileOptions(column, old.get("attribute_type", "string"), old.get("emails"))
        if file is None:
            raise TypeError("file calls need file=moeseg.FileOptions(attribute_name, ...)")
        return self._using(kw, stacklevel=4), file, segment_id

    if TYPE_CHECKING:  # the Client's v3 calls, which the v2 calls use

        async def list_segments(self, name: str | None = None) -> list[Segment]: ...

        async def get_segment(self, segment_id: str) -> Segment: ...

    # -- v2 file segments -----------------------------------------------------------------------

    @observed("create_file_segment")
    async def create_file_segment(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions | None = None,
        *,
        users: int,
        expiry_time: int,
        **deprecated: Unpack[FileKw],
    ) -> V2AcceptedBody:
        """Create a file segment from a CSV at ``file_url`` (``POST .../file-segment``).

        ``file`` says how MoEngage reads the CSV. ``users`` is the number of users in the file:
        it is spent from the daily users quota. ``expiry_time`` is in days (the segment is
        archived then); MoEngage requires it. Exactly once like :meth:`create_segment`: a 409
        "Name already exists" on a retry after an unknown outcome is resolved by listing the
        name (a file segment has no definition to compare, so a segment with that name counts
        as ours); the result then has ``cs_id``/``cs_name`` from the listing.
        """
        client, file, _ = self._file_call(file, None, deprecated)
        outcome = Unknown()
        try:
            return await client._file_op(
                _FILE_CREATE, name, file_url, callback_url, file, users, None, expiry_time, outcome
            )
        except NameConflict:
            if not outcome.unknown:
                raise
            found = next((s for s in await client.list_segments(name) if s.name == name), None)
            if found is None:
                raise
            logger.info("file segment %r: recovered after an unknown outcome", name)
            return V2AcceptedBody(
                message="recovered: the segment exists after an unknown outcome",
                success=True,
                cs_name=found.name,
                cs_id=found.id,
                recovered=True,
            )

    @observed("add_users")
    async def add_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions | None = None,
        *,
        users: int,
        segment_id: str | None = None,
        **deprecated: Unpack[FileKw],
    ) -> V2AcceptedBody:
        """Add the users of a CSV to a file segment (``PUT .../file-segment/add-users``).

        The segment is named by ``name``; ``segment_id`` takes priority on the server when given.
        """
        client, file, segment_id = self._file_call(file, segment_id, deprecated)
        return await client._file_op(_ADD, name, file_url, callback_url, file, users, segment_id)

    @observed("remove_users")
    async def remove_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions | None = None,
        *,
        users: int,
        segment_id: str | None = None,
        **deprecated: Unpack[FileKw],
    ) -> V2AcceptedBody:
        """Remove the users of a CSV from a file segment (``PUT .../file-segment/remove-users``)."""
        client, file, segment_id = self._file_call(file, segment_id, deprecated)
        return await client._file_op(_REMOVE, name, file_url, callback_url, file, users, segment_id)

    @observed("replace_users")
    async def replace_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions | None = None,
        *,
        users: int,
        segment_id: str | None = None,
        **deprecated: Unpack[FileKw],
    ) -> V2AcceptedBody:
        """Replace every user of a file segment with a CSV's (``PUT .../file-segment/replace``)."""
        client, file, segment_id = self._file_call(file, segment_id, deprecated)
        return await client._file_op(
            _REPLACE, name, file_url, callback_url, file, users, segment_id
        )

    async def _file_op(
        self,
        endpoint: Endpoint,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions,
        users: int,
        segment_id: str | None,
        expiry_time: int | None = None,
        outcome: Unknown | None = None,
    ) -> V2AcceptedBody:
        request = FileSegmentRequest(
            name=name,
            file_url=file_url,
            callback_url=callback_url,
            attribute_name=file.attribute_name,
            attribute_type=file.attribute_type,
            cs_id=segment_id,
            emails=file.emails,
            expiry_time=expiry_time,
        )
        body = unstructure(request)
        return await self._send(endpoint, V2AcceptedBody, json=body, users=users, outcome=outcome)

    # -- archive --------------------------------------------------------------------------------

    @observed("archive")
    async def archive(
        self,
        *,
        name: str | None = None,
        segment_id: str | None = None,
        **deprecated: Unpack[ArchiveKw],
    ) -> V2AcceptedBody:
        """Archive a segment of any kind, by ``name`` or ``segment_id``
        (``PATCH /v2/custom-segments/archive``).

        MoEngage's spec requires ``name`` in the body: given ``segment_id`` alone, the client
        first looks the name up (one ``get_segment`` call, charged to the get quota).
        """
        return await self._archive(_ARCHIVE, name, segment_id, deprecated)

    @observed("unarchive")
    async def unarchive(
        self,
        *,
        name: str | None = None,
        segment_id: str | None = None,
        **deprecated: Unpack[ArchiveKw],
    ) -> V2AcceptedBody:
        """Make an archived segment active again (``PATCH /v2/custom-segments/unarchive``).

        As with :meth:`archive`, ``segment_id`` alone costs one ``get_segment`` call first to
        learn the name MoEngage's spec requires.
        """
        return await self._archive(_UNARCHIVE, name, segment_id, deprecated)

    async def _archive(
        self, endpoint: Endpoint, name: str | None, segment_id: str | None, kw: ArchiveKw
    ) -> V2AcceptedBody:
        if "cs_id" in kw:
            _deprecated(["cs_id"], "use segment_id=", 4)
            segment_id = segment_id or kw.pop("cs_id")
        client = self._using(kw, stacklevel=4)
        if not name and not segment_id:
            raise TypeError(f"{endpoint.operation}() needs name= or segment_id=")
        if not name:
            assert segment_id is not None
            name = (await client.get_segment(segment_id)).name
        body = unstructure(ArchiveRequest(name=name, cs_id=segment_id or None))
        return await client._send(endpoint, V2AcceptedBody, json=body)

    # -- legacy CSV API -------------------------------------------------------------------------

    @observed("legacy_csv_segment")
    async def legacy_csv_segment(
        self,
        seg_name: str,
        csv_url: str,
        callback: str,
        file: FileOptions | None = None,
        **deprecated: Unpack[FileKw],
    ) -> LegacyCsvResponse:
        """Create a segment with MoEngage's deprecated CSV API (``POST {legacy}/csv_segment``).

        Deprecated by MoEngage: use :meth:`create_file_segment`. Needs ``legacy_api_secret``;
        only the signature sha256(``appId|segName|apiSecret``) is sent. Failures whose outcome
        is unknown are not retried (a duplicate could not be told from a conflict).
        """
        warnings.warn(
            "MoEngage's CSV segment API is deprecated; use Client.create_file_segment() "
            "(file segments) instead",
            DeprecationWarning,
            stacklevel=3,
        )
        client, file, _ = self._file_call(file, None, deprecated)
        credentials = client._sender.credentials
        signature = credentials.sign(seg_name)
        if signature is None:
            raise ConfigurationError("the legacy CSV API needs legacy_api_secret=")
        request = LegacyCsvRequest(
            app_id=credentials.legacy_app_id,
            seg_name=seg_name,
            attribute=file.attribute_name,
            attribute_type=file.attribute_type,
            csv_url=csv_url,
            callback=callback,
            signature=signature,
            emails=file.emails,
        )
        return await client._send(_LEGACY, LegacyCsvResponse, json=unstructure(request))

    async def _send(
        self, endpoint: Endpoint, cls: type[T], path: str = "", **kw: Unpack[CallKw]
    ) -> T:
        """Send one call with this client's options; its 2xx body structured as ``cls``."""
        answer = await self._sender.call(endpoint, path or endpoint.path, self._opts, **kw)
        return read_success(answer, cls, self._sender.credentials.redact)


def _deprecated(names: Iterable[str], hint: str, stacklevel: int, what: str = "") -> None:
    """Warn at the caller's line (``stacklevel`` counts from the caller, past ``@observed``)."""
    warnings.warn(
        f"{what}{', '.join(sorted(names))}= are deprecated and will be removed in 0.2: {hint}",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
