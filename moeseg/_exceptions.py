"""Every error moeseg raises, as one tree.

    MoesegError
    ├── ConfigurationError              missing credential, bad data center, bad option
    ├── SegmentValidationError          local validation (also a ValueError); .issues
    ├── QuotaWaitTooLong                next free slot lies beyond the caller's max wait; .frees_at
    ├── TransportError                  nothing usable came back (any transport failure)
    │   ├── ConnectError                    never reached the server (nothing was sent)
    │   ├── RequestTimeout                  sent, no answer in time (outcome unknown)
    │   └── ConnectionLost                  connection broke after sending (outcome unknown)
    ├── OutcomeUnknown                  a create's last attempt left its outcome unknown and the
    │                                       lookup could not settle it; .name .fingerprint
    ├── UnexpectedResponse              HTML, empty, invalid JSON, wrong shape; .status .excerpt
    │   └── ResponseTooLarge                the decoded answer exceeds max_response_bytes
    ├── moeseg.files.CsvCheckError      a CSV breaks the upload rules (a ValueError); .violations
    ├── moeseg.files.FileSegmentFailed  the callback reported a failure; .status .error_message
    ├── moeseg.files.CallbackTimeout    no callback within wait(timeout=...) (also a TimeoutError)
    └── APIError                        an error status; .status .code .message .response_id
        ├── BadRequest                      400: invalid format, invalid name, unknown workspace
        ├── AuthenticationError             401
        ├── PermissionDenied                403
        ├── NotFound                        404
        ├── Conflict                        409
        │   ├── NameConflict                    another segment has this name
        │   └── DefinitionConflict              same definition exists; .existing_cs_id/_name
        ├── CyclicReference                 412
        ├── QueryTooComplex                 413: nesting, too many segments, too long
        ├── RateLimited                     429 rate limit (retried after a pause); .window_seconds
        ├── ActiveSegmentLimit              429 active segments limit (never retried); .actual_count
        └── ServerError                     5xx

Every error built from a response also keeps ``.method``, ``.path`` (no query string),
``.headers`` (the response's, without cookies) and ``.body`` (the decoded text, capped).
Errors never carry credentials: messages are built from status, code, message, method and path;
the client scrubs its own secrets from any text it copies out of a response, and no moeseg error
keeps a reference to an httpx request or exception (their cause and context are moeseg errors or
nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "ActiveSegmentLimit",
    "APIError",
    "AuthenticationError",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "ConnectError",
    "ConnectionLost",
    "CyclicReference",
    "DefinitionConflict",
    "MoesegError",
    "NameConflict",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "QueryTooComplex",
    "QuotaWaitTooLong",
    "RateLimited",
    "RequestTimeout",
    "ResponseTooLarge",
    "SegmentValidationError",
    "ServerError",
    "TransportError",
    "UnexpectedResponse",
    "ValidationIssue",
]


class MoesegError(Exception):
    """Base class of every error raised by moeseg."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as args and fields: most subclasses' __init__ does not take their args back.
        return (_rebuild, (type(self), self.args, self.__dict__))


class ConfigurationError(MoesegError, ValueError):
    """A client or governor was configured wrongly (missing credential, bad data center...)."""


@attrs.frozen(slots=True)
class ValidationIssue:
    """One broken rule: where (a path such as ``included_filters.filters[2].value1``) and why."""

    path: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}" if self.path else self.rule


class SegmentValidationError(MoesegError, ValueError):
    """A definition broke one or more rules; nothing was sent and no quota was spent."""

    issues: tuple[ValidationIssue, ...]

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues = tuple(issues)
        n = len(self.issues)
        lines = [f"{n} validation error{'s' if n != 1 else ''}", *map(str, self.issues)]
        super().__init__("\n  ".join(lines))


class QuotaWaitTooLong(MoesegError):
    """The next free slot lies beyond the caller's maximum wait; nothing was admitted.

    ``frees_at`` is in the governor clock's time base; ``wait`` is seconds from now.
    """

    def __init__(self, group: str, frees_at: float, wait: float, max_wait: float) -> None:
        self.group = group
        self.frees_at = frees_at
        self.wait = wait
        self.max_wait = max_wait
        super().__init__(
            f"quota group {group!r} frees in {wait:.1f}s, beyond the maximum wait of "
            f"{max_wait:.1f}s"
        )


class TransportError(MoesegError):
    """The request could not be completed at the transport level."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: {message}" if method else message)


class OutcomeUnknown(MoesegError):
    """A create's last attempt ended without an answer (timeout, lost connection, 5xx) and the
    lookup that would settle it could not, within the call's own time and retry bounds.

    The segment may or may not exist. ``name`` and ``fingerprint`` are what resolves it later:
    ``await client.find_created(err.name, err.fingerprint)`` returns the segment if it exists.
    ``last_error`` is the create's last failure.
    """

    def __init__(self, name: str, fingerprint: str, last_error: MoesegError) -> None:
        self.name = name
        self.fingerprint = fingerprint
        self.last_error = last_error
        super().__init__(
            f"create {name!r}: outcome unknown after {type(last_error).__name__}; resolve it "
            f"later with client.find_created(name, fingerprint)"
        )


class ConnectError(TransportError):
    """The connection failed before any byte of the request was sent."""


class RequestTimeout(TransportError):
    """The request may have reached the server, but no answer came in time."""


class ConnectionLost(TransportError):
    """The connection broke after the request was (perhaps) sent; the outcome is unknown."""


class _ResponseError(MoesegError):
    """Shared fields of errors built from an HTTP response."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        path: str = "",
        code: str | None = None,
        response_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: str = "",
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.code = code
        self.message = message
        self.response_id = response_id
        self.headers: dict[str, str] = dict(headers) if headers is not None else {}
        self.body = body
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.method} {self.path} " if self.method else ""
        code = f" {self.code}:" if self.code else ""
        rid = f" (response_id={self.response_id})" if self.response_id else ""
        return f"{where}-> {self.status}{code} {self.message}{rid}"


class UnexpectedResponse(_ResponseError):
    """The server's answer was not in a documented shape (HTML, empty, invalid JSON...)."""

    def __init__(self, message: str, *, status: int, excerpt: str = "", **kw: Any) -> None:
        self.excerpt = excerpt
        super().__init__(message, status=status, **kw)

    def _render(self) -> str:
        base = super()._render()
        return f"{base}; body starts: {self.excerpt!r}" if self.excerpt else base


class ResponseTooLarge(UnexpectedResponse):
    """The decoded answer exceeded the client's ``max_response_bytes``; reading stopped there."""


class APIError(_ResponseError):
    """The server answered with a documented error status."""


class BadRequest(APIError):
    """400: invalid format, invalid name, unknown workspace or db name."""


class AuthenticationError(APIError):
    """401: credentials were refused."""


class PermissionDenied(APIError):
    """403: the operation is not allowed on this segment (file or archived segment)."""


class NotFound(APIError):
    """404: no such segment."""


class Conflict(APIError):
    """409: the segment clashes with an existing one."""


class NameConflict(Conflict):
    """409: another segment already has this name."""


class DefinitionConflict(Conflict):
    """409: another segment already has this definition."""

    def __init__(
        self,
        message: str,
        *,
        existing_cs_id: str | None = None,
        existing_cs_name: str | None = None,
        **kw: Any,
    ) -> None:
        self.existing_cs_id = existing_cs_id
        self.existing_cs_name = existing_cs_name
        super().__init__(message, **kw)


class CyclicReference(APIError):
    """412: the definition references segments in a cycle."""


class QueryTooComplex(APIError):
    """413: too deeply nested, too many segments referenced, or too long."""


class RateLimited(APIError):
    """429: the API rate limit was breached (someone else spent the quota).

    ``limit`` and ``window_seconds`` come from "Current limit: n/m mins" when the server sends
    numbers there; otherwise they are ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        window_seconds: float | None = None,
        limit: int | None = None,
        **kw: Any,
    ) -> None:
        self.window_seconds = window_seconds
        self.limit = limit
        super().__init__(message, **kw)


class ActiveSegmentLimit(APIError):
    """429: the workspace holds the maximum number of active segments. Never retried."""

    def __init__(
        self,
        message: str,
        *,
        actual_count: int | None = None,
        limit: int | None = None,
        **kw: Any,
    ) -> None:
        self.actual_count = actual_count
        self.limit = limit
        super().__init__(message, **kw)


class ServerError(APIError):
    """5xx: the server failed; the outcome of a create is unknown."""


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    # Errors with keyword-only fields cannot be unpickled through __init__(*args).
    obj = cls.__new__(cls)
    obj.args = args
    obj.__dict__.update(state)
    return obj
