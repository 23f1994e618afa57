"""The outcome of a file-segment operation, and the handle that awaits it."""

from __future__ import annotations

import math
from typing import Any

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


class FileSegmentHandle:
    """One file-segment operation sent to MoEngage, whose outcome arrives later by callback.

    ``await handle.wait(timeout=...)`` returns the :class:`FileSegmentOutcome` on success and
    raises :class:`FileSegmentFailed` when the callback reports a failure, or
    :class:`CallbackTimeout` when none arrived in time (the handle stays pending: wait again).
    ``accepted`` is the client's answer to the request (the v2 202 body with ``cs_id``, or the
    legacy API's response), set once the request was sent.
    Handles are made by :meth:`CallbackReceiver.expect` (or :class:`FileSegments`), in the event
    loop that waits on them.
    """

    __slots__ = ("_event", "_outcome", "accepted", "callback_url", "operation", "segment_name")

    def __init__(self, operation: str, segment_name: str, callback_url: str) -> None:
        self.operation = operation
        self.segment_name = segment_name
        self.callback_url = callback_url
        self.accepted: V2AcceptedBody | LegacyCsvResponse | None = None
        self._event = anyio.Event()
        self._outcome: FileSegmentOutcome | None = None

    def __repr__(self) -> str:
        # The callback URL holds the secret token: never shown.
        state = "pending" if self._outcome is None else f"status={self._outcome.status}"
        return f"<FileSegmentHandle {self.operation} {self.segment_name!r} {state}>"

    def done(self) -> bool:
        """True once the callback has arrived."""
        return self._outcome is not None

    @property
    def outcome(self) -> FileSegmentOutcome | None:
        """The callback's outcome, or None while pending (never raises)."""
        return self._outcome

    def _resolve(self, outcome: FileSegmentOutcome) -> None:
        # Called in the event loop that created the handle (the receiver makes sure of it).
        self._outcome = outcome
        self._event.set()

    async def wait(self, timeout: float | None = None) -> FileSegmentOutcome:  # noqa: ASYNC109
        """Wait for the callback; return its outcome or raise the failure it reports.

        Many handles can be awaited at once, from any number of tasks.
        """
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            await self._event.wait()
        outcome = self._outcome
        if outcome is None:
            raise CallbackTimeout(self.operation, self.segment_name, timeout or 0.0)
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

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.outcome,))


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

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.operation, self.segment_name, self.timeout))
