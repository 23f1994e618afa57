"""The outcome of a file-segment operation, and the handle that awaits it."""

from __future__ import annotations

import math
from typing import Protocol

import anyio
import attrs

from .._exceptions import MoesegError
from ..segments import LegacyCsvResponse, V2AcceptedBody

__all__ = ["CallbackTimeout", "FileSegmentFailed", "FileSegmentHandle", "FileSegmentOutcome"]


@attrs.frozen(slots=True)
class FileSegmentOutcome:
    """What MoEngage's callback reported for one operation.

    ``operation`` is ``create``, ``add_users``, ``remove_users``, ``replace_users`` or
    ``legacy_csv``. On success (``status`` 2xx) ``values_found`` counts the rows in the file,
    ``values_processed`` the rows MoEngage could read, ``user_count`` the users it found and
    added; on failure ``error_message`` says why.
    """

    operation: str
    segment_name: str
    status: int
    values_found: int | None = None
    values_processed: int | None = None
    user_count: int | None = None
    request_id: str | None = None
    db_name: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the callback reports success (201 in every documented example)."""
        return 200 <= self.status < 300


class _Keeper(Protocol):
    """The receiver that settles a handle (the callback, or the expiry: whichever comes first)."""

    def _left(self, deadline: float) -> float: ...

    async def _expire(self, handle: FileSegmentHandle) -> None: ...


class FileSegmentHandle:
    """One file-segment operation sent to MoEngage, whose outcome arrives later by callback.

    ``await handle.wait(timeout=...)`` returns the :class:`FileSegmentOutcome` on success and
    raises :class:`FileSegmentFailed` when the callback reports a failure, or
    :class:`CallbackTimeout` when none arrived in time (the handle stays pending: wait again),
    or for good once the handle has ``expired`` (no callback before its ``deadline``, a Unix
    time set by ``FileSegments(callback_timeout=...)``).
    ``id`` names the operation in the handle store (``await files.handle(id)`` reopens it, also
    in another process); ``accepted`` is the client's answer to the request (the v2 202 body with
    ``cs_id``, or the legacy API's response), set once the request was sent; ``callback_url``
    holds the single-use secret, so it is None on a handle reopened from a store.
    Handles are made by :meth:`CallbackReceiver.expect` (or :class:`FileSegments`), in the event
    loop that waits on them.
    """

    __slots__ = (
        "_digest", "_event", "_expired", "_keeper", "_outcome", "accepted", "callback_url",
        "created_at", "deadline", "id", "operation", "segment_name",
    )  # fmt: skip

    def __init__(
        self, operation: str, segment_name: str, callback_url: str | None, *, id: str = ""
    ) -> None:
        self.operation = operation
        self.segment_name = segment_name
        self.callback_url = callback_url
        self.id = id or (callback_url or "").rsplit("/", 1)[-1].partition(".")[0]
        self.accepted: V2AcceptedBody | LegacyCsvResponse | None = None
        self.created_at: float | None = None
        self.deadline: float | None = None
        self._event = anyio.Event()
        self._outcome: FileSegmentOutcome | None = None
        self._expired = False
        self._keeper: _Keeper | None = None
        self._digest = b""  # SHA-256 of the callback URL's secret (what a store keeps)

    def __repr__(self) -> str:
        # The callback URL holds the secret token: never shown.
        if self._expired:
            state = "expired"
        else:
            state = "pending" if self._outcome is None else f"status={self._outcome.status}"
        return f"<FileSegmentHandle {self.id} {self.operation} {self.segment_name!r} {state}>"

    def done(self) -> bool:
        """True once the callback has arrived, or the handle has expired."""
        return self._outcome is not None or self._expired

    @property
    def expired(self) -> bool:
        """True when no callback arrived before the deadline: ``wait()`` raises
        :class:`CallbackTimeout` for good."""
        return self._expired

    @property
    def outcome(self) -> FileSegmentOutcome | None:
        """The callback's outcome, or None while pending or once expired (never raises)."""
        return self._outcome

    def _finish(self, outcome: FileSegmentOutcome | None) -> None:
        """Resolve with the callback's ``outcome``, or (None) expire; the first call decides.
        Called in the event loop that created the handle (the receiver makes sure of it)."""
        if not self.done():
            self._outcome, self._expired = outcome, outcome is None
            self._event.set()

    async def wait(self, timeout: float | None = None) -> FileSegmentOutcome:  # noqa: ASYNC109
        """Wait for the callback; return its outcome or raise the failure it reports.

        Many handles can be awaited at once, from any number of tasks.
        """
        give_up = math.inf if timeout is None else anyio.current_time() + timeout
        while not self.done():
            left = give_up - anyio.current_time()
            if self.deadline is not None and self._keeper is not None:
                to_deadline = self._keeper._left(self.deadline)
                if to_deadline <= 0:
                    await self._keeper._expire(self)
                    continue
                # At least a millisecond: two clocks and float rounding must not spin the loop.
                left = min(left, max(to_deadline, 0.001))
            with anyio.move_on_after(max(left, 0.0)):
                await self._event.wait()
            if not self.done() and anyio.current_time() >= give_up:
                raise CallbackTimeout(self.operation, self.segment_name, timeout or 0.0)
        outcome = self._outcome
        if outcome is None:
            deadline = self.deadline or 0.0
            lasted = deadline - (self.created_at or deadline)
            raise CallbackTimeout(self.operation, self.segment_name, lasted)
        if not outcome.ok:
            raise FileSegmentFailed(outcome)
        return outcome


# Reprs and tracebacks name the public place (``moeseg.files.FileSegmentHandle``).
FileSegmentOutcome.__module__ = FileSegmentHandle.__module__ = "moeseg.files"


class FileSegmentFailed(MoesegError):
    """MoEngage processed the file and reported a failure in its callback.

    ``status`` is the callback's status (400 file size or download failure, 409 duplicate request,
    500 internal error); ``error_message`` MoEngage's text; ``outcome`` the whole callback.
    """

    def __init__(self, outcome: FileSegmentOutcome) -> None:
        self.outcome = outcome
        self.status = outcome.status
        self.error_message = outcome.error_message
        self.segment_name = outcome.segment_name
        self.request_id = outcome.request_id
        rid = f" (request_id={outcome.request_id})" if outcome.request_id else ""
        super().__init__(
            f"{outcome.operation} of file segment {outcome.segment_name!r} failed: "
            f"{outcome.status} {outcome.error_message or 'no error message'}{rid}"
        )


class CallbackTimeout(MoesegError, TimeoutError):
    """No callback arrived in time. The operation may still complete: wait again or give up."""

    def __init__(self, operation: str, segment_name: str, timeout: float) -> None:
        self.operation = operation
        self.segment_name = segment_name
        self.timeout = timeout
        super().__init__(
            f"no callback for the {operation} of file segment {segment_name!r} "
            f"within {timeout:g}s (MoEngage may still be processing the file)"
        )
