"""The blocking facade: :class:`moeseg.Client` on an event loop in a background thread."""
# A method decorated with @_blocking is its signature and docstring only: the body is Client's.
# mypy: disable-error-code="empty-body"

from __future__ import annotations

import functools
import inspect
import os
import weakref
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import httpx
import sniffio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .._cohorts import DEFAULT_STATE_DIR, ReplaceChoice, SyncResult
from .._exceptions import ConfigurationError
from .._telemetry import Observer
from ..governor import QuotaPolicy
from ..segments import LegacyCsvResponse, Segment, SegmentDefinition, SegmentUpdate, V2AcceptedBody
from ._client import Client
from ._cohort_calls import Progress
from ._config import DEFAULT_MAX_RESPONSE_BYTES, CallOptions
from ._file_options import FileOptions
from ._send import GovernorLike

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._members import Source

__all__ = ["SyncClient"]

P = ParamSpec("P")
T = TypeVar("T")


def _check_not_in_event_loop(what: str) -> None:
    """A blocking call on an event loop's thread would stall it (or deadlock on our own)."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return
    raise ConfigurationError(
        f"moeseg.SyncClient {what} called inside a running {library} event loop: "
        "use moeseg.Client with await there"
    )


def _blocking(
    method: Callable[Concatenate[SyncClient, P], T],
) -> Callable[Concatenate[SyncClient, P], T]:
    """Run the async client's method of the same name on its loop, with the arguments checked
    against the decorated signature (the async one also takes the deprecated keywords)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def call(self: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        signature.bind(self, *args, **kwargs)
        fn: Callable[..., Awaitable[T]] = getattr(self._client, method.__name__)
        return self._call(fn, *args, **kwargs)

    return call


class _Runner:
    """The portal, the async client in its loop, and whether they are closed (shared by views).

    A runner nobody closed is closed when it is collected, or at the latest at interpreter
    exit (while its daemon thread still runs: joined later, it would hang the exit).
    """

    def __init__(self, backend: str, make: Callable[[], Client]) -> None:
        stack = ExitStack()
        self.portal: BlockingPortal = stack.enter_context(start_blocking_portal(backend))
        try:
            self.client: Client = self.portal.call(make)  # built on the loop it will run in
        except BaseException:
            stack.close()
            raise
        self._closed = False
        self._finalizer = weakref.finalize(self, _shut_down, stack, self.portal, self.client)

    def ready(self, what: str) -> BlockingPortal:
        _check_not_in_event_loop(what)
        if self._closed:
            raise ConfigurationError(f"moeseg.SyncClient {what} called after close()")
        return self.portal

    def close(self) -> None:
        _check_not_in_event_loop("close()")
        self._closed = True
        self._finalizer()  # runs once, whoever calls it first


def _shut_down(stack: ExitStack, portal: BlockingPortal, client: Client) -> None:
    with stack:  # stops the portal and joins its thread, even when aclose fails
        portal.call(client.aclose)


class SyncClient:
    """A blocking facade of :class:`moeseg.Client` for code that is not async (Airflow or Dagster
    tasks, scripts): the same arguments, methods, errors and quota governor.

    Use it as ``with moeseg.SyncClient(...) as client: client.create_segment(definition)``, or
    call :meth:`close` when done: it runs an event loop in a background thread until then
    (``backend`` picks it: ``"asyncio"`` or ``"trio"``; one not closed is closed when collected
    or at exit). Every method waits for the async client's method of the same name and returns
    its result or raises its typed error. The default governor keeps time on a monotonic clock
    owned by no event loop, so quota is shared with async clients of the workspace in this
    process. Calling it from inside a running event loop raises
    :class:`moeseg.ConfigurationError`: there, use ``moeseg.Client`` with ``await``. The async
    client's deprecated per-call keywords are not offered: use :meth:`with_options`.
    """

    __slots__ = ("_client", "_runner")

    _runner: _Runner
    _client: Client

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
        backend: str = "asyncio",
    ) -> None:
        # Every parameter but backend is Client's (a test pins the two signatures together).
        arguments = {k: v for k, v in locals().items() if k not in ("self", "backend")}
        _check_not_in_event_loop("construction")
        self._runner = _Runner(backend, functools.partial(Client, **arguments))
        self._client = self._runner.client

    def _call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on the client's event loop and wait for it."""
        portal = self._runner.ready(f"{getattr(fn, '__name__', 'a method')}()")
        return portal.call(functools.partial(fn, *args, **kwargs))

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client (see :meth:`moeseg.Client.aclose`) and stop its event loop thread.

        Idempotent; shared with every :meth:`with_options` view. Calls after it raise
        :class:`moeseg.ConfigurationError`."""
        self._runner.close()

    def __repr__(self) -> str:
        return f"<moeseg.SyncClient workspace_id={self.workspace_id!r} base_url={self.base_url!r}>"

    def __reduce__(self) -> Any:
        raise TypeError(
            "a moeseg.SyncClient holds credentials, connections and a thread: it cannot be pickled"
        )

    @property
    def workspace_id(self) -> str:
        """The workspace this client acts on."""
        return self._client.workspace_id

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api-01.moengage.com``."""
        return self._client.base_url

    @property
    def governor(self) -> GovernorLike:
        """The quota governor every call of this client goes through."""
        return self._client.governor

    def with_options(self, **changes: Unpack[CallOptions]) -> SyncClient:
        """See :meth:`moeseg.Client.with_options`: a view sharing this client's event loop,
        connections and governor (closing either closes both)."""
        self._runner.ready("with_options()")
        view = object.__new__(SyncClient)
        view._runner = self._runner
        view._client = self._client.with_options(**changes)
        return view

    # -- v3 filter segments ---------------------------------------------------------------------

    def create_segment(
        self, definition: SegmentDefinition, *, on_send: Callable[[], None] | None = None
    ) -> Segment:
        """See :meth:`moeseg.Client.create_segment` (``on_send`` runs on the loop's thread)."""

        async def sent() -> None:
            if on_send is not None:
                on_send()

        return self._call(self._client.create_segment, definition, on_send=sent)

    @_blocking
    def find_created(self, name: str, fp: str) -> Segment | None:
        """See :meth:`moeseg.Client.find_created`."""

    @_blocking
    def list_segments(self, name: str | None = None) -> list[Segment]:
        """See :meth:`moeseg.Client.list_segments`."""

    @_blocking
    def get_segment(self, segment_id: str) -> Segment:
        """See :meth:`moeseg.Client.get_segment`."""

    @_blocking
    def update_segment(self, segment_id: str, update: SegmentUpdate | SegmentDefinition) -> Segment:
        """See :meth:`moeseg.Client.update_segment`."""

    # -- v2 file segments -----------------------------------------------------------------------

    @_blocking
    def create_file_segment(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions,
        *,
        users: int,
        expiry_time: int,
    ) -> V2AcceptedBody:
        """See :meth:`moeseg.Client.create_file_segment`."""

    @_blocking
    def add_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions,
        *,
        users: int,
        segment_id: str | None = None,
    ) -> V2AcceptedBody:
        """See :meth:`moeseg.Client.add_users`."""

    @_blocking
    def remove_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions,
        *,
        users: int,
        segment_id: str | None = None,
    ) -> V2AcceptedBody:
        """See :meth:`moeseg.Client.remove_users`."""

    @_blocking
    def replace_users(
        self,
        name: str,
        file_url: str,
        callback_url: str,
        file: FileOptions,
        *,
        users: int,
        segment_id: str | None = None,
    ) -> V2AcceptedBody:
        """See :meth:`moeseg.Client.replace_users`."""

    # -- archive --------------------------------------------------------------------------------

    @_blocking
    def archive(self, *, name: str | None = None, segment_id: str | None = None) -> V2AcceptedBody:
        """See :meth:`moeseg.Client.archive`."""

    @_blocking
    def unarchive(
        self, *, name: str | None = None, segment_id: str | None = None
    ) -> V2AcceptedBody:
        """See :meth:`moeseg.Client.unarchive`."""

    # -- legacy CSV API -------------------------------------------------------------------------

    @_blocking
    def legacy_csv_segment(
        self, seg_name: str, csv_url: str, callback: str, file: FileOptions
    ) -> LegacyCsvResponse:
        """See :meth:`moeseg.Client.legacy_csv_segment` (deprecated by MoEngage)."""

    # -- Cohort Sync ----------------------------------------------------------------------------

    @_blocking
    def sync_cohort(
        self,
        name: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        cohort_id: str | None = None,
        partner: str = "moeseg",
        description: str | None = None,
        concurrency: int = 4,
        on_progress: Progress | None = None,
    ) -> SyncResult:
        """See :meth:`moeseg.Client.sync_cohort`."""

    @_blocking
    def sync_members(
        self,
        segment: str,
        source: Source,
        *,
        state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
        dry_run: bool = False,
        replace: ReplaceChoice = "auto",
        column: str | None = None,
        cohort_id: str | None = None,
        on_progress: Progress | None = None,
    ) -> SyncResult:
        """See :meth:`moeseg.Client.sync_members`. Cohort Sync segments only: a file segment's
        sync waits for callbacks through an async :class:`moeseg.files.FileSegments`, so it
        needs :class:`moeseg.Client`."""
