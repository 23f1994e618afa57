"""The async client: every custom-segment endpoint, governed, retried, typed.

Each call takes its slot from the workspace's quota governor before anything is sent, sends one
request on ``httpx.AsyncClient``, settles the lease (complete when an answer or a possible send
happened, refund when nothing left the client) and maps the answer to a model or a typed error.
Retries follow ``_retry``; a create whose outcome is unknown is resolved exactly once (see
:meth:`Client.create_segment`).
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import quote

import anyio
import attrs
import httpx

from .._exceptions import (
    ConfigurationError,
    Conflict,
    ConnectError,
    ConnectionLost,
    DefinitionConflict,
    MoesegError,
    NameConflict,
    RateLimited,
    RequestTimeout,
    TransportError,
)
from ..governor import USERS, QuotaPolicy, get_governor
from ..segments import (
    ArchiveRequest,
    FileSegmentRequest,
    LegacyCsvRequest,
    LegacyCsvResponse,
    Segment,
    SegmentDefinition,
    SegmentListResponse,
    SegmentResponse,
    SegmentUpdate,
    V2AcceptedBody,
    fingerprint,
    structure,
    to_payload,
    unstructure,
)
from ._http import (
    BodyError,
    Credentials,
    Family,
    base_url_for_dc,
    decode_json,
    error_from_response,
    unexpected,
)
from ._retry import Backoff, outcome_unknown, retryable

__all__ = ["Client"]

logger = logging.getLogger("moeseg")

T = TypeVar("T")

DEFAULT_LEGACY_BASE_URL: Final = "https://api.moengage.com"
ENV_WORKSPACE_ID: Final = "MOENGAGE_WORKSPACE_ID"
ENV_API_KEY: Final = "MOENGAGE_API_KEY"
ENV_DC: Final = "MOENGAGE_DC"
ENV_DB_NAME: Final = "MOENGAGE_DB_NAME"
ENV_BASE_URL: Final = "MOENGAGE_BASE_URL"

#: A lease outlives its request timeout by this much before the governor reclaims it.
_LEASE_MARGIN: Final = 5.0
#: A quota wait shorter than this is not worth an info line.
_WAIT_WORTH_LOGGING: Final = 0.001
_RATE_HEADER_PREFIX: Final = b"x-ratelimit-"

# httpx errors raised before any byte of the request left the client.
_NOTHING_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class LeaseLike(Protocol):
    """What the client needs of a governor lease (``moeseg.governor.Lease``)."""

    async def complete(self) -> None: ...

    async def refund(self) -> None: ...

    async def abandon(self) -> None: ...


class GovernorLike(Protocol):
    """What the client needs of a quota governor: ``moeseg.governor.Governor`` (the default,
    shared per workspace) or anything with the same methods."""

    @property
    def policy(self) -> QuotaPolicy: ...

    async def acquire(
        self, demand: Mapping[str, int], *, max_wait: float | None = ..., lease_timeout: float = ...
    ) -> LeaseLike: ...

    async def report_rate_limited(
        self, group: str, window_seconds: float | None = ...
    ) -> object: ...

    async def observe_headers(self, group: str, headers: Mapping[str, str]) -> None: ...


_V3_SEGMENTS: Final = "/v3/custom-segments"
_V2_FILE: Final = "/v2/custom-segments/file-segment"


@attrs.frozen(slots=True)
class _Endpoint:
    """One API operation: quota operation name, HTTP method, header family, fixed path (empty
    where it names a segment id), retry rule."""

    operation: str
    method: str
    family: Family
    path: str = ""
    retry_unknown: bool = True


_CREATE = _Endpoint("create", "POST", "v3", _V3_SEGMENTS)
_LIST = _Endpoint("list", "GET", "v3", _V3_SEGMENTS)
_GET = _Endpoint("get", "GET", "v3")
_UPDATE = _Endpoint("update", "PATCH", "v3")
_FILE_CREATE = _Endpoint("file_create", "POST", "v2", _V2_FILE)
_FILE_ADD = _Endpoint("file_add", "PUT", "v2", f"{_V2_FILE}/add-users")
_FILE_REMOVE = _Endpoint("file_remove", "PUT", "v2", f"{_V2_FILE}/remove-users")
_FILE_REPLACE = _Endpoint("file_replace", "PUT", "v2", f"{_V2_FILE}/replace")
_ARCHIVE = _Endpoint("archive", "PATCH", "v2", "/v2/custom-segments/archive")
_UNARCHIVE = _Endpoint("unarchive", "PATCH", "v2", "/v2/custom-segments/unarchive")
# A duplicate legacy upload cannot be told from someone else's: retry only known outcomes.
_LEGACY = _Endpoint("legacy_csv", "POST", "legacy", "/csv_segment", retry_unknown=False)


@attrs.frozen(slots=True)
class _Options:
    """The effective per-call settings (client defaults with the call's overrides)."""

    timeout: float
    max_retries: int
    max_wait: float | None


class _Outcome:
    """Whether an earlier attempt of this call may have been acted on by the server."""

    __slots__ = ("unknown",)

    def __init__(self) -> None:
        self.unknown = False


def _env(value: str | None, name: str) -> str | None:
    if value is not None and value != "":
        return value
    found = os.environ.get(name, "")
    return found or None


def _check_timeout(value: float, what: str) -> float:
    if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise ConfigurationError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def _check_retries(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"max_retries must be an int >= 0, got {value!r}")
    return value


def _check_wait(value: float | None) -> float | None:
    if value is None or value == math.inf:
        return None
    if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
        raise ConfigurationError(f"max_wait must be >= 0 seconds or None, got {value!r}")
    return float(value)


def _check_base_url(url: str, what: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{what} must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


class Client:
    """Async client for MoEngage's custom-segment APIs (v3 filter segments, v2 file segments,
    archive/unarchive, and the deprecated CSV API), governed by the workspace's quota governor.

    Use it as ``async with moeseg.Client(...) as client:``. Credentials come from the arguments
    or the environment (``MOENGAGE_WORKSPACE_ID``, ``MOENGAGE_API_KEY``, ``MOENGAGE_DC`` or
    ``MOENGAGE_BASE_URL``, ``MOENGAGE_DB_NAME``); a missing one raises
    :class:`moeseg.ConfigurationError` here, not at the first call. ``db_name`` is needed only
    by the v2 calls (file segments, archive).

    Args:
        workspace_id: the workspace id (Basic auth user name; also ``MOE-APPKEY`` by default).
        api_key: the data API key (Basic auth password). Shown nowhere.
        dc: data center, ``01``..``06`` or ``101`` (host ``https://api-{dc}.moengage.com``).
        base_url: an explicit API root instead of ``dc`` (a sandbox); wins over ``dc``.
        db_name: the workspace's database name, sent as ``MOE-DBNAME`` on v2 calls.
        app_key: the ``MOE-APPKEY`` header of v3 calls; defaults to the workspace id.
        legacy_base_url: root of the deprecated ``/csv_segment`` API; defaults to ``base_url``
            when one was given (a sandbox serves both), else ``https://api.moengage.com``.
        legacy_app_id: the legacy ``appId``; defaults to ``app_key``.
        legacy_api_secret: the legacy API secret (only its signature is ever sent).
        governor: the quota governor; defaults to ``moeseg.governor.get_governor(workspace_id)``,
            shared by every client of the workspace in this process.
        policy: the quota policy of the default governor (``get_governor(workspace_id, policy)``);
            with ``governor=``, the governor's own policy prices every call.
        transport: an httpx async transport (e.g. ``httpx.ASGITransport(app=sandbox.app)``).
        http_client: your own ``httpx.AsyncClient`` (not closed by this client).
        timeout: seconds one attempt may take, from sending to the last byte of the answer.
        max_retries: retries after the first attempt (see ``moeseg.client._retry``).
        max_wait: the longest one attempt may wait for quota; ``None`` waits as long as needed.
            A slot beyond it raises :class:`moeseg.QuotaWaitTooLong` at once.

    Every method also takes ``timeout=``, ``max_retries=`` and ``max_wait=`` for that call only
    (``None`` keeps the client's setting; ``max_wait=math.inf`` lifts the client's bound).
    """

    def __init__(
        self,
        workspace_id: str | None = None,
        api_key: str | None = None,
        *,
        dc: str | int | None = None,
        base_url: str | None = None,
        db_name: str | None = None,
        app_key: str | None = None,
        legacy_base_url: str | None = None,
        legacy_app_id: str | None = None,
        legacy_api_secret: str | None = None,
        governor: GovernorLike | None = None,
        policy: QuotaPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        max_wait: float | None = None,
    ) -> None:
        ws = _env(workspace_id, ENV_WORKSPACE_ID)
        if ws is None:
            raise ConfigurationError(
                f"no MoEngage workspace id: pass workspace_id= or set {ENV_WORKSPACE_ID}"
            )
        key = _env(api_key, ENV_API_KEY)
        if key is None:
            raise ConfigurationError(
                f"no MoEngage data API key: pass api_key= or set {ENV_API_KEY}"
            )
        if not base_url and (dc is None or dc == ""):
            base_url = _env(None, ENV_BASE_URL)
        if base_url:
            root = _check_base_url(base_url, "base_url")
        else:
            center = dc if dc is not None and dc != "" else _env(None, ENV_DC)
            if center is None:
                raise ConfigurationError(
                    "no MoEngage data center: pass dc= (01..06 or 101) or base_url=, "
                    f"or set {ENV_DC}"
                )
            root = base_url_for_dc(center)
        if transport is not None and http_client is not None:
            raise ConfigurationError("pass transport= or http_client=, not both")
        self._defaults = _Options(
            _check_timeout(timeout, "timeout"), _check_retries(max_retries), _check_wait(max_wait)
        )
        self._base_url = root
        self._legacy_base_url = _check_base_url(
            legacy_base_url or (root if base_url else DEFAULT_LEGACY_BASE_URL), "legacy_base_url"
        )
        app = app_key or ws
        self._legacy_app_id = legacy_app_id or app
        self._credentials = Credentials(
            ws,
            key,
            app_key=app,
            db_name=_env(db_name, ENV_DB_NAME),
            legacy_secret=legacy_api_secret or None,
            user_agent=f"moeseg/{_version()}",
        )
        if governor is not None and policy is not None and policy != governor.policy:
            raise ConfigurationError("policy= differs from the governor's: pass one of them")
        self._governor = governor if governor is not None else get_governor(ws, policy=policy)
        self._policy = self._governor.policy
        # Built once: the governor recognises a demand it saw last by identity (a fresh dict per
        # call would cost it a lookup and a copy), and a 429 names the request-counted groups.
        ops = self._policy.operations
        self._demands = {op: self._policy.demand(op) for op in ops}
        self._counted = {
            op: tuple(g for g, units in cost.items() if units != USERS) for op, cost in ops.items()
        }
        self._owns_http = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.AsyncClient(transport=transport)
        )
        self._backoff = Backoff()

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    def __repr__(self) -> str:
        return (
            f"<moeseg.Client workspace_id={self._credentials.workspace_id!r} "
            f"base_url={self._base_url!r}>"
        )

    @property
    def workspace_id(self) -> str:
        """The workspace this client acts on."""
        return self._credentials.workspace_id

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api-01.moengage.com``."""
        return self._base_url

    @property
    def governor(self) -> GovernorLike:
        """The quota governor every call of this client goes through."""
        return self._governor

    # -- v3 filter segments ---------------------------------------------------------------------

    async def create_segment(
        self,
        definition: SegmentDefinition,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> Segment:
        """Create a filter segment (``POST /v3/custom-segments``), exactly once.

        When an attempt ends with an unknown outcome (timeout, connection lost after sending,
        5xx) the create is retried. If a retry then meets a 409 "name already exists", the
        segment is looked up by name: with a definition equal to ours (``moeseg.fingerprint``)
        it was our first attempt, and it is returned with ``recovered=True``; otherwise the
        :class:`moeseg.NameConflict` is raised. A :class:`moeseg.DefinitionConflict` on a
        retry naming our own segment is resolved the same way.
        """
        opts = self._options(timeout, max_retries, max_wait)
        outcome = _Outcome()
        payload = to_payload(definition)
        try:
            response = await self._call(_CREATE, _V3_SEGMENTS, opts, json=payload, outcome=outcome)
        except (NameConflict, DefinitionConflict) as exc:
            ours = (
                not isinstance(exc, DefinitionConflict) or exc.existing_cs_name == definition.name
            )
            if not outcome.unknown or not ours:
                raise
            return await self._recover_created(definition.name, payload, exc, opts)
        return self._read(response, SegmentResponse, _CREATE, _V3_SEGMENTS).data

    async def list_segments(
        self,
        name: str | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> list[Segment]:
        """List segments (``GET /v3/custom-segments``), or those named exactly ``name``.

        Items carry ``id``, ``name``, ``created_time``, ``type`` and ``source`` only.
        """
        opts = self._options(timeout, max_retries, max_wait)
        params = {"name": name} if name is not None else None
        response = await self._call(_LIST, _V3_SEGMENTS, opts, params=params)
        return list(self._read(response, SegmentListResponse, _LIST, _V3_SEGMENTS).data)

    async def get_segment(
        self,
        segment_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> Segment:
        """Fetch one segment, filters included (``GET /v3/custom-segments/{id}``)."""
        opts = self._options(timeout, max_retries, max_wait)
        path = _segment_path(segment_id)
        response = await self._call(_GET, path, opts)
        return self._read(response, SegmentResponse, _GET, path).data

    async def update_segment(
        self,
        segment_id: str,
        update: SegmentUpdate | SegmentDefinition,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> Segment:
        """Update a filter segment (``PATCH /v3/custom-segments/{id}``).

        After an unknown outcome, a 409 on a retry is checked against the segment itself: if it
        already holds our definition (and name, when one was given), our first attempt did the
        update and the segment is returned with ``recovered=True``.
        """
        opts = self._options(timeout, max_retries, max_wait)
        path = _segment_path(segment_id)
        payload = to_payload(update)
        outcome = _Outcome()
        try:
            response = await self._call(_UPDATE, path, opts, json=payload, outcome=outcome)
        except Conflict:
            if not outcome.unknown:
                raise
            current = await self.get_segment(segment_id, **_overrides(opts))
            if not self._same_definition(current, payload, update.name):
                raise
            logger.info("update %s: recovered after an unknown outcome", path)
            return attrs.evolve(current, recovered=True)
        return self._read(response, SegmentResponse, _UPDATE, path).data

    # -- v2 file segments -----------------------------------------------------------------------

    async def create_file_segment(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        *,
        users: int,
        attribute_name: str,
        expiry_time: int,
        attribute_type: str = "string",
        emails: tuple[str, ...] | list[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> V2AcceptedBody:
        """Create a file segment from a CSV at ``file_url`` (``POST .../file-segment``).

        ``users`` is the number of users in the file: it is spent from the daily users quota.
        ``expiry_time`` is in days (the segment is archived then); MoEngage requires it.
        Exactly once like :meth:`create_segment`: a 409 "Name already exists" on a retry after
        an unknown outcome is resolved by listing the name (a file segment has no definition to
        compare, so a segment with that name counts as ours); the result then has
        ``cs_id``/``cs_name`` from the listing.
        """
        opts = self._options(timeout, max_retries, max_wait)
        body = _file_body(
            name, file_url, callback_url, attribute_name, attribute_type, emails, None, expiry_time
        )
        outcome = _Outcome()
        try:
            response = await self._call(
                _FILE_CREATE, _V2_FILE, opts, json=body, users=users, outcome=outcome
            )
        except NameConflict:
            if not outcome.unknown:
                raise
            found = await self._find_by_name(name, opts)
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
        return self._read(response, V2AcceptedBody, _FILE_CREATE, _V2_FILE)

    async def add_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        *,
        users: int,
        attribute_name: str,
        attribute_type: str = "string",
        cs_id: str | None = None,
        emails: tuple[str, ...] | list[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> V2AcceptedBody:
        """Add the users of a CSV to a file segment (``PUT .../file-segment/add-users``).

        The segment is named by ``name``; ``cs_id`` takes priority on the server when given.
        """
        return await self._file_users(
            _FILE_ADD, name, file_url, callback_url, users,
            attribute_name, attribute_type, cs_id, emails,
            self._options(timeout, max_retries, max_wait),
        )  # fmt: skip

    async def remove_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        *,
        users: int,
        attribute_name: str,
        attribute_type: str = "string",
        cs_id: str | None = None,
        emails: tuple[str, ...] | list[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> V2AcceptedBody:
        """Remove the users of a CSV from a file segment (``PUT .../file-segment/remove-users``)."""
        return await self._file_users(
            _FILE_REMOVE, name, file_url, callback_url, users,
            attribute_name, attribute_type, cs_id, emails,
            self._options(timeout, max_retries, max_wait),
        )  # fmt: skip

    async def replace_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        *,
        users: int,
        attribute_name: str,
        attribute_type: str = "string",
        cs_id: str | None = None,
        emails: tuple[str, ...] | list[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> V2AcceptedBody:
        """Replace every user of a file segment with a CSV's (``PUT .../file-segment/replace``)."""
        return await self._file_users(
            _FILE_REPLACE, name, file_url, callback_url, users,
            attribute_name, attribute_type, cs_id, emails,
            self._options(timeout, max_retries, max_wait),
        )  # fmt: skip

    async def _file_users(
        self,
        endpoint: _Endpoint,
        name: str,
        file_url: str,
        callback_url: str,
        users: int,
        attribute_name: str,
        attribute_type: str,
        cs_id: str | None,
        emails: tuple[str, ...] | list[str] | None,
        opts: _Options,
    ) -> V2AcceptedBody:
        body = _file_body(
            name, file_url, callback_url, attribute_name, attribute_type, emails, cs_id
        )
        response = await self._call(endpoint, endpoint.path, opts, json=body, users=users)
        return self._read(response, V2AcceptedBody, endpoint, endpoint.path)

    # -- archive --------------------------------------------------------------------------------

    async def archive(
        self,
        *,
        name: str | None = None,
        cs_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> V2AcceptedBody:
        """Archive a segment of any kind, by ``name`` or ``cs_id`` (``PATCH /v2/.../archive``)."""
        return await self._archive(_ARCHIVE, name, cs_id, timeout, max_retries, max_wait)

    async def unarchive(
        self,
        *,
        name: str | None = None,
        cs_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
    ) -> V2AcceptedBody:
        """Make an archived segment active again (``PATCH /v2/custom-segments/unarchive``)."""
        return await self._archive(_UNARCHIVE, name, cs_id, timeout, max_retries, max_wait)

    async def _archive(
        self,
        endpoint: _Endpoint,
        name: str | None,
        cs_id: str | None,
        timeout: float | None,  # noqa: ASYNC109
        max_retries: int | None,
        max_wait: float | None,
    ) -> V2AcceptedBody:
        if not name and not cs_id:
            raise TypeError(f"{endpoint.operation}() needs name= or cs_id=")
        opts = self._options(timeout, max_retries, max_wait)
        path = endpoint.path
        body = unstructure(ArchiveRequest(name=name, cs_id=cs_id))
        response = await self._call(endpoint, path, opts, json=body)
        return self._read(response, V2AcceptedBody, endpoint, path)

    # -- legacy CSV API -------------------------------------------------------------------------

    async def legacy_csv_segment(
        self,
        seg_name: str,
        csv_url: str,
        callback: str,
        *,
        attribute: str,
        attribute_type: str = "string",
        emails: tuple[str, ...] | list[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        max_retries: int | None = None,
        max_wait: float | None = None,
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
            stacklevel=2,
        )
        signature = self._credentials.sign(self._legacy_app_id, seg_name)
        if signature is None:
            raise ConfigurationError("the legacy CSV API needs legacy_api_secret=")
        opts = self._options(timeout, max_retries, max_wait)
        request = LegacyCsvRequest(
            app_id=self._legacy_app_id,
            seg_name=seg_name,
            attribute=attribute,
            attribute_type=attribute_type,
            csv_url=csv_url,
            callback=callback,
            signature=signature,
            emails=tuple(emails) if emails is not None else None,
        )
        path = _LEGACY.path
        response = await self._call(_LEGACY, path, opts, json=unstructure(request))
        return self._read(response, LegacyCsvResponse, _LEGACY, path)

    # -- machinery ------------------------------------------------------------------------------

    def _options(
        self, timeout: float | None, max_retries: int | None, max_wait: float | None
    ) -> _Options:
        if timeout is None and max_retries is None and max_wait is None:
            return self._defaults
        d = self._defaults
        return _Options(
            d.timeout if timeout is None else _check_timeout(timeout, "timeout"),
            d.max_retries if max_retries is None else _check_retries(max_retries),
            d.max_wait if max_wait is None else _check_wait(max_wait),
        )

    def _groups(self, endpoint: _Endpoint) -> tuple[str, ...]:
        """The request-counting (not weighted) quota groups an operation spends."""
        return self._counted.get(endpoint.operation, ())

    async def _call(
        self,
        endpoint: _Endpoint,
        path: str,
        opts: _Options,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        users: int = 0,
        outcome: _Outcome | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise the last attempt's typed error."""
        if endpoint.family == "v2" and not self._credentials.db_name:
            raise ConfigurationError(
                f"{endpoint.operation} is a v2 call: pass db_name= or set {ENV_DB_NAME}"
            )
        demand = None if users else self._demands.get(endpoint.operation)
        if demand is None:  # weighted, or an operation the policy lacks (it raises)
            demand = self._policy.demand(endpoint.operation, users=users)
        root = self._legacy_base_url if endpoint.family == "legacy" else self._base_url
        request = self._http.build_request(
            endpoint.method,
            root + path,
            params=params,
            json=json,
            headers=self._credentials.headers(endpoint.family),
            timeout=opts.timeout,
        )
        retries = 0
        while True:
            try:
                return await self._attempt(endpoint, request, path, demand, opts, retries + 1)
            except MoesegError as exc:
                if isinstance(exc, RateLimited):
                    await self._report_rate_limited(endpoint, exc)
                if retries >= opts.max_retries or not retryable(
                    exc, retry_unknown=endpoint.retry_unknown
                ):
                    raise
                if outcome is not None and outcome_unknown(exc):
                    outcome.unknown = True
                retries += 1
                what = _describe(exc)
                if isinstance(exc, RateLimited) and (groups := self._groups(endpoint)):
                    logger.info(
                        "%s %s: %s; retry %d/%d once the governor frees %s",
                        endpoint.method, path, what, retries, opts.max_retries,
                        ", ".join(groups),
                    )  # fmt: skip
                    continue
                delay = self._backoff.delay(retries)
                logger.info(
                    "%s %s: %s; retry %d/%d in %.2fs",
                    endpoint.method, path, what, retries, opts.max_retries, delay,
                )  # fmt: skip
                await anyio.sleep(delay)

    async def _attempt(
        self,
        endpoint: _Endpoint,
        request: httpx.Request,
        path: str,
        demand: Mapping[str, int],
        opts: _Options,
        attempt: int,
    ) -> httpx.Response:
        """One governed attempt: acquire, send, settle the lease, map the answer."""
        lease = None
        if demand:
            asked = anyio.current_time()
            lease = await self._governor.acquire(
                demand, max_wait=opts.max_wait, lease_timeout=opts.timeout + _LEASE_MARGIN
            )
            waited = anyio.current_time() - asked
            if waited > _WAIT_WORTH_LOGGING:
                logger.info(
                    "%s %s: waited %.3fs for quota (%s)",
                    endpoint.method, path, waited, ", ".join(demand),
                )  # fmt: skip
        method = endpoint.method
        started = time.perf_counter()
        answered = refund = reached = False
        try:
            with anyio.fail_after(opts.timeout):
                response = await self._http.send(request)
            answered = True
        except _NOTHING_SENT as exc:
            refund = True
            raise self._transport_error(ConnectError, exc, method, path, attempt, started) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise self._transport_error(
                RequestTimeout, exc, method, path, attempt, started
            ) from exc
        except httpx.TransportError as exc:
            raise self._transport_error(
                ConnectionLost, exc, method, path, attempt, started
            ) from exc
        except httpx.HTTPError as exc:
            reached = True  # an answer came, unusable (e.g. a body that does not decode)
            raise self._transport_error(
                TransportError, exc, method, path, attempt, started
            ) from exc
        finally:
            if lease is not None and not answered:
                # Settled even when this task is being cancelled: the slot must not leak.
                with anyio.CancelScope(shield=True):
                    if refund:
                        await lease.refund()
                    elif reached:
                        await lease.complete()
                    else:  # outcome unknown: it may still arrive, up to the lease's bound
                        await lease.abandon()
        if lease is not None:
            await lease.complete()  # the answer is complete (httpx read the whole body)
        status = response.status_code
        logger.debug(
            "%s %s -> %d in %.3fs (attempt %d)",
            method, path, status, time.perf_counter() - started, attempt,
        )  # fmt: skip
        headers = response.headers
        if demand and any(k[:12].lower() == _RATE_HEADER_PREFIX for k, _ in headers.raw):
            for group in self._groups(endpoint):
                await self._governor.observe_headers(group, headers)
        if endpoint.family == "legacy":
            status = _legacy_status(response)
        if status >= 400:
            raise error_from_response(
                status,
                response.content,
                method=method,
                path=path,
                redact=self._credentials.redact,
            )
        return response

    def _transport_error(
        self,
        cls: type[TransportError],
        exc: Exception,
        method: str,
        path: str,
        attempt: int,
        started: float,
    ) -> TransportError:
        logger.debug(
            "%s %s -> %s in %.3fs (attempt %d)",
            method, path, type(exc).__name__, time.perf_counter() - started, attempt,
        )  # fmt: skip
        detail = self._credentials.redact(str(exc)) if str(exc) else ""
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        return cls(text, method=method, path=path)

    async def _report_rate_limited(self, endpoint: _Endpoint, exc: RateLimited) -> None:
        for group in self._groups(endpoint):
            await self._governor.report_rate_limited(group, exc.window_seconds)

    def _read(self, response: httpx.Response, cls: type[T], endpoint: _Endpoint, path: str) -> T:
        """Structure a 2xx body as ``cls``; any other shape is UnexpectedResponse."""
        try:
            return structure(decode_json(response.content), cls)
        except BodyError as exc:
            why = str(exc)
        except Exception as exc:  # the converter's shape errors, whatever their class
            why = self._credentials.redact(f"unexpected {cls.__name__} body: {exc}")
        raise unexpected(
            why,
            status=response.status_code,
            content=response.content,
            method=endpoint.method,
            path=path,
            redact=self._credentials.redact,
        )

    # -- exactly-once resolution ----------------------------------------------------------------

    async def _find_by_name(self, name: str, opts: _Options) -> Segment | None:
        for segment in await self.list_segments(name, **_overrides(opts)):
            if segment.name == name:
                return segment
        return None

    @staticmethod
    def _same_definition(segment: Segment, payload: Mapping[str, Any], name: str | None) -> bool:
        """Whether ``segment`` holds the definition of ``payload`` (and ``name``, if given)."""
        if segment.included_filters is None:
            return False
        if name is not None and segment.name != name:
            return False
        return fingerprint(segment) == fingerprint(payload)

    async def _recover_created(
        self, name: str, payload: dict[str, Any], conflict: Conflict, opts: _Options
    ) -> Segment:
        """After an unknown outcome and a 409: is the segment that exists our first attempt?"""
        logger.info("create %r: unknown outcome, then %s; looking it up", name, _describe(conflict))
        cs_id = conflict.existing_cs_id if isinstance(conflict, DefinitionConflict) else None
        # A definition conflict naming our segment is the server saying "yours exists already".
        trusted = cs_id is not None
        if cs_id is None:
            found = await self._find_by_name(name, opts)
            if found is None:
                raise conflict
            cs_id = found.id
        segment = await self.get_segment(cs_id, **_overrides(opts))
        if not trusted and not self._same_definition(segment, payload, name):
            raise conflict
        logger.info("create %r: recovered segment %s created by an earlier attempt", name, cs_id)
        return attrs.evolve(segment, recovered=True)


def _segment_path(segment_id: str) -> str:
    """``/v3/custom-segments/{id}``, the id quoted; an empty id would address the list."""
    if not segment_id:
        raise ValueError("segment_id must not be empty")
    return f"{_V3_SEGMENTS}/{quote(segment_id, safe='')}"


def _file_body(
    name: str,
    file_url: str,
    callback_url: str,
    attribute_name: str,
    attribute_type: str,
    emails: tuple[str, ...] | list[str] | None,
    cs_id: str | None,
    expiry_time: int | None = None,
) -> dict[str, Any]:
    """The JSON body of a v2 file-segment call (create, add, remove, replace)."""
    request = FileSegmentRequest(
        name=name,
        file_url=file_url,
        callback_url=callback_url,
        attribute_name=attribute_name,
        attribute_type=attribute_type,
        cs_id=cs_id,
        emails=tuple(emails) if emails is not None else None,
        expiry_time=expiry_time,
    )
    body: dict[str, Any] = unstructure(request)
    return body


def _overrides(opts: _Options) -> dict[str, Any]:
    """The options of a call, as keyword arguments for the calls it makes to resolve itself."""
    return {
        "timeout": opts.timeout,
        "max_retries": opts.max_retries,
        "max_wait": math.inf if opts.max_wait is None else opts.max_wait,
    }


def _describe(exc: MoesegError) -> str:
    """A short, secret-free description of an error for log lines."""
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status is not None else type(exc).__name__


def _legacy_status(response: httpx.Response) -> int:
    """The legacy API repeats its status in the body; trust the worse of the two."""
    if response.status_code >= 400:
        return response.status_code
    try:
        body = decode_json(response.content)
    except BodyError:
        return response.status_code
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        return status
    return response.status_code


def _version() -> str:
    from .. import __version__

    return __version__
