"""The async client: the v3 filter-segment calls, and :class:`Client` itself (its v2, Cohort
Sync and membership calls come from the bases in ``_calls``, ``_cohort_calls``, ``_members``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import attrs
import httpx

from .._exceptions import (
    APIError,
    ConfigurationError,
    Conflict,
    DefinitionConflict,
    MoesegError,
    NameConflict,
    RateLimited,
    ServerError,
    UnexpectedResponse,
)
from .._telemetry import Observer, observed, resolve
from .._version import package_version
from ..governor import QuotaPolicy, get_governor
from ..segments import (
    Segment,
    SegmentDefinition,
    SegmentListResponse,
    SegmentResponse,
    SegmentUpdate,
    fingerprint,
    request_body,
)
from ._config import (
    DEFAULT_LEGACY_BASE_URL,
    DEFAULT_MAX_RESPONSE_BYTES,
    ENV_API_KEY,
    ENV_DB_NAME,
    ENV_WORKSPACE_ID,
    Options,
    PerCall,
    api_root,
    check_base_url,
    env,
    required,
)
from ._credentials import Credentials
from ._exactly_once import find_created, recover_conflict, resolve_unknown
from ._members import MembersCalls
from ._retry import outcome_unknown
from ._send import Endpoint, GovernorLike, Sender, Unknown

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Client"]

logger = logging.getLogger("moeseg")


_V3_SEGMENTS: Final = "/v3/custom-segments"
_CREATE = Endpoint("create", "POST", "v3", _V3_SEGMENTS)
_LIST = Endpoint("list", "GET", "v3", _V3_SEGMENTS)
_GET = Endpoint("get", "GET", "v3")
_UPDATE = Endpoint("update", "PATCH", "v3")


class Client(MembersCalls):
    """Async client for MoEngage's custom-segment APIs (v3 filter segments, v2 file segments,
    archive/unarchive, Cohort Sync, and the deprecated CSV API), governed by the workspace's
    quota governor.

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
        max_retries: retries after the first attempt (which failures: see the guide).
        max_wait: the longest one attempt may wait for quota; ``None`` waits as long as needed.
            A slot beyond it raises :class:`moeseg.QuotaWaitTooLong` at once.
        max_response_bytes: the decoded size of an answer read at most (8 MiB); a larger one
            raises :class:`moeseg.ResponseTooLarge`.
        observer: receives one operation (a span) per call (:class:`moeseg.Observer`); default:
            an :class:`moeseg.OpenTelemetryObserver` when ``opentelemetry-api`` is installed.
            The governor has its own (``Governor(observer=...)``).

    For other settings on some calls, ``client.with_options(timeout=..., max_retries=...,
    max_wait=...)`` returns a light copy sharing this client's connections and governor.
    """

    __slots__ = ()

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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        observer: Observer | None = None,
    ) -> None:
        ws = required(workspace_id, ENV_WORKSPACE_ID, "workspace id", "workspace_id")
        key = required(api_key, ENV_API_KEY, "data API key", "api_key")
        root = api_root(base_url, dc)
        if transport is not None and http_client is not None:
            raise ConfigurationError("pass transport= or http_client=, not both")
        self._opts = Options(timeout, max_retries, max_wait, max_response_bytes)
        legacy_root = check_base_url(
            legacy_base_url or (root if base_url else DEFAULT_LEGACY_BASE_URL), "legacy_base_url"
        )
        app = app_key or ws
        credentials = Credentials(
            ws,
            key,
            app_key=app,
            db_name=env(db_name, ENV_DB_NAME),
            legacy_secret=legacy_api_secret or None,
            user_agent=f"moeseg/{package_version()}",
            legacy_app_id=legacy_app_id or app,
        )
        if governor is not None and policy is not None and policy != governor.policy:
            raise ConfigurationError("policy= differs from the governor's: pass one of them")
        self._sender = Sender(
            http=http_client if http_client is not None else httpx.AsyncClient(transport=transport),
            owns_http=http_client is None,
            governor=governor if governor is not None else get_governor(ws, policy=policy),
            credentials=credentials,
            base_url=root,
            legacy_base_url=legacy_root,
            observer=resolve(observer),
        )

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
        if self._sender.owns_http:
            await self._sender.http.aclose()

    def __repr__(self) -> str:
        return f"<moeseg.Client workspace_id={self.workspace_id!r} base_url={self.base_url!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("a moeseg.Client holds credentials and connections: it cannot be pickled")

    @property
    def workspace_id(self) -> str:
        """The workspace this client acts on."""
        return self._sender.credentials.workspace_id

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api-01.moengage.com``."""
        return self._sender.base_url

    @property
    def governor(self) -> GovernorLike:
        """The quota governor every call of this client goes through."""
        return self._sender.governor

    # -- v3 filter segments ---------------------------------------------------------------------

    @observed("create_segment")
    async def create_segment(
        self,
        definition: SegmentDefinition,
        *,
        on_send: Callable[[], Awaitable[None]] | None = None,
        **deprecated: Unpack[PerCall],
    ) -> Segment:
        """Create a filter segment (``POST /v3/custom-segments``), exactly once.

        A create of unknown outcome (timeout, connection lost after sending, 5xx) is retried and,
        on a 409 or after the last attempt, settled by looking the name up and comparing
        :func:`moeseg.fingerprint`: our own segment is returned with ``recovered=True``;
        another's raises the :class:`moeseg.NameConflict`; when the lookup cannot tell,
        :class:`moeseg.OutcomeUnknown` carries what :meth:`find_created` needs later.

        ``on_send`` is awaited each time an attempt has been admitted by the governor, just
        before its request may leave (from then on the segment may exist); if it raises, the
        slot goes back and nothing is sent.
        """
        client = self._using(deprecated)
        outcome = Unknown()
        payload = request_body(definition)
        fp = fingerprint(payload)
        try:
            created = await client._send(
                _CREATE, SegmentResponse, json=payload, outcome=outcome, on_send=on_send
            )
            return created.data
        except (NameConflict, DefinitionConflict) as exc:
            ours = (
                not isinstance(exc, DefinitionConflict) or exc.existing_cs_name == definition.name
            )
            if not outcome.unknown or not ours:
                raise
            return await recover_conflict(client, definition.name, fp, exc)
        except MoesegError as exc:
            if not _maybe_created(exc, outcome):
                raise
            return await resolve_unknown(client, definition.name, fp, exc)

    @observed("find_created")
    async def find_created(
        self, name: str, fp: str, *, listed: Sequence[Segment] | None = None
    ) -> Segment | None:
        """The segment named ``name`` whose definition has fingerprint ``fp``
        (:func:`moeseg.fingerprint`), or ``None``: how a create of unknown outcome is settled
        (:class:`moeseg.OutcomeUnknown` carries both). Costs one list call (none when ``listed``,
        a listing already in hand, is given), plus one get per namesake listed without filters."""
        return await find_created(self, name, fp, listed)

    @observed("list_segments")
    async def list_segments(
        self, name: str | None = None, **deprecated: Unpack[PerCall]
    ) -> list[Segment]:
        """List segments (``GET /v3/custom-segments``), or those named exactly ``name``.

        Items carry ``id``, ``name``, ``created_time``, ``type`` and ``source`` only.
        """
        client = self._using(deprecated)
        params = {"name": name} if name is not None else None
        return list((await client._send(_LIST, SegmentListResponse, params=params)).data)

    @observed("get_segment")
    async def get_segment(self, segment_id: str, **deprecated: Unpack[PerCall]) -> Segment:
        """Fetch one segment, filters included (``GET /v3/custom-segments/{id}``)."""
        client = self._using(deprecated)
        return (await client._send(_GET, SegmentResponse, _segment_path(segment_id))).data

    @observed("update_segment")
    async def update_segment(
        self,
        segment_id: str,
        update: SegmentUpdate | SegmentDefinition,
        **deprecated: Unpack[PerCall],
    ) -> Segment:
        """Update a filter segment (``PATCH /v3/custom-segments/{id}``).

        After an unknown outcome, a 409 on a retry is checked against the segment itself: if it
        already holds our definition (and name, when one was given), our first attempt did the
        update and the segment is returned with ``recovered=True``.
        """
        client = self._using(deprecated)
        path = _segment_path(segment_id)
        payload = request_body(update)
        outcome = Unknown()
        try:
            updated = await client._send(
                _UPDATE, SegmentResponse, path, json=payload, outcome=outcome
            )
        except Conflict:
            if not outcome.unknown:
                raise
            current = await client.get_segment(segment_id)
            fp = fingerprint(current) if current.included_filters is not None else None
            if fp != fingerprint(payload) or (
                update.name is not None and current.name != update.name
            ):
                raise
            logger.info("update %s: recovered after an unknown outcome", path)
            return attrs.evolve(current, recovered=True)
        return updated.data


def _maybe_created(exc: MoesegError, outcome: Unknown) -> bool:
    """Whether a create that failed with ``exc`` may still have created the segment."""
    if isinstance(exc, UnexpectedResponse) and 200 <= exc.status < 300:
        return True  # the server said yes in a body we cannot read
    if isinstance(exc, APIError) and not isinstance(exc, (ServerError, RateLimited)):
        return False  # a definite refusal of this very request (and so of any earlier one)
    return outcome.unknown or outcome_unknown(exc)


def _segment_path(segment_id: str) -> str:
    """``/v3/custom-segments/{id}``, the id quoted; an empty id would address the list."""
    if not segment_id:
        raise ValueError("segment_id must not be empty")
    return f"{_V3_SEGMENTS}/{quote(segment_id, safe='')}"
