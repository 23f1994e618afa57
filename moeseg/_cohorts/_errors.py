"""Cohort Sync's errors: local refusals, its own error envelope, and the warning on names.

    moeseg.SegmentValidationError
    └── CohortValidationError           a name, id, partner or uid broke a rule; .field .rule
        └── UidTooLarge                     one member alone does not fit any body; .uid .size
    moeseg.BadRequest (400)
    ├── MissingAttribute                    "MissingAttributeError"; .attribute
    └── MalformedBody                       "Malformed JSON"
    moeseg.AuthenticationError (401)
    └── AppKeyMismatch                      "Authentication Mismatch": MOE-APPKEY vs Basic auth
    moeseg.PermissionDenied (403)
    └── AccountSuspended                    suspended or blocked; .temporary .blocked
    moeseg.APIError
    ├── PayloadTooLarge                     413: body over 128KB
    └── UnsupportedContentType              415
    moeseg.RateLimited (429), moeseg.ServerError (5xx), moeseg.UnexpectedResponse (no envelope)
    moeseg.MoesegError
    ├── SnapshotError                       a uid snapshot file is not in the documented format
    └── OppositeActionPending               sending would overtake an unresolved opposite action

The error envelope is ``{status: "fail", error: {attribute?, message, type, request_id}}``;
``type`` becomes ``.code`` and ``request_id`` becomes ``.response_id`` like every APIError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from .._exceptions import (
    APIError,
    AuthenticationError,
    BadRequest,
    MoesegError,
    PermissionDenied,
    RateLimited,
    SegmentValidationError,
    ServerError,
    UnexpectedResponse,
    ValidationIssue,
)

__all__ = [
    "AccountSuspended",
    "AppKeyMismatch",
    "CohortNameWarning",
    "CohortValidationError",
    "MalformedBody",
    "MissingAttribute",
    "OppositeActionPending",
    "PayloadTooLarge",
    "SnapshotError",
    "UidTooLarge",
    "UnsupportedContentType",
    "error_from_cohort_response",
]

_EXCERPT_CHARS: Final = 200


class CohortNameWarning(UserWarning):
    """A cohort name that MoEngage's documents disagree about (a leading ``.``)."""


class CohortValidationError(SegmentValidationError):
    """A cohort request broke a local rule; nothing was sent and no quota was spent."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__([ValidationIssue(field, rule)])


class UidTooLarge(CohortValidationError):
    """One uid alone makes a body larger than the limit, so no request can carry it."""

    def __init__(self, uid: str, size: int, limit: int) -> None:
        self.uid = uid
        self.size = size
        self.limit = limit
        shown = uid if len(uid) <= 60 else f"{uid[:60]}... ({len(uid)} characters)"
        super().__init__(
            "members[].uid",
            f"uid {shown!r} needs a body of {size} bytes, over the limit of {limit} bytes",
        )


class SnapshotError(MoesegError, ValueError):
    """A uid snapshot file is damaged: wrong header, unsorted or duplicate lines."""


class OppositeActionPending(MoesegError):
    """An add (remove) for ``uid`` would be sent while a remove (add) for it is unresolved.

    A late arrival of the earlier action would undo the later one, so nothing was sent.
    """

    def __init__(self, uid: str, action: str, pending: str) -> None:
        self.uid = uid
        self.action = action
        self.pending = pending
        super().__init__(f"{action} for uid {uid!r} waits: an earlier {pending} is unresolved")


class MissingAttribute(BadRequest):
    """400 ``MissingAttributeError``: the server found no ``attribute`` in the body."""

    def __init__(self, message: str, *, attribute: str | None = None, **kw: Any) -> None:
        self.attribute = attribute
        super().__init__(message, **kw)


class MalformedBody(BadRequest):
    """400 ``Malformed JSON``: the body was not JSON or not UTF-8."""


class AppKeyMismatch(AuthenticationError):
    """401 ``Authentication Mismatch``: the MOE-APPKEY header names another workspace."""


class AccountSuspended(PermissionDenied):
    """403: the account is suspended or blocked. Never retried; ``temporary`` when it says so."""

    def __init__(self, message: str, *, temporary: bool, blocked: bool, **kw: Any) -> None:
        self.temporary = temporary
        self.blocked = blocked
        super().__init__(message, **kw)


class PayloadTooLarge(APIError):
    """413: the body exceeded 128KB (the chunker keeps bodies under 128,000 bytes)."""


class UnsupportedContentType(APIError):
    """415: the ``Content-Type`` header was missing or not ``application/json``."""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _excerpt(content: bytes, redact: Callable[[str], str] | None) -> str:
    text = " ".join(content[: _EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    return (redact(text) if redact is not None else text)[:_EXCERPT_CHARS]


def error_from_cohort_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    method: str = "POST",
    path: str = "/v1/integrations/cohortsync",
    redact: Callable[[str], str] | None = None,
) -> MoesegError:
    """The typed error for a Cohort Sync answer of status >= 400 (or a 2xx that says ``fail``).

    Pure: no I/O. A body outside the documented envelope becomes
    :class:`~moeseg.UnexpectedResponse` with a short excerpt (its content type named), never a
    ``KeyError``. ``redact`` scrubs the caller's secrets from any text copied out of the body.
    """
    where: dict[str, Any] = {"status": status, "method": method, "path": path}
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    message = _text(error.get("message")) if isinstance(error, dict) else None
    kind = _text(error.get("type")) if isinstance(error, dict) else None
    if not isinstance(error, dict) or (message is None and kind is None):
        ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        why = "error body in no documented shape" if body is not None else "body is not JSON"
        if ctype:
            why += f" (content-type {ctype.split(';')[0].strip()!r})"
        return UnexpectedResponse(why, excerpt=_excerpt(content, redact), **where)
    if redact is not None:
        message = redact(message) if message is not None else None
        kind = redact(kind) if kind is not None else None
    text = message if message is not None else (kind or "")
    common: dict[str, Any] = {
        **where,
        "code": kind,
        "response_id": _text(error.get("request_id")),
    }
    lowered = f"{kind or ''} {text}".lower()
    if status == 400:
        if (kind or "").lower().startswith("missingattribute") or "not found in the" in lowered:
            attribute = _text(error.get("attribute"))
            if redact is not None and attribute is not None:
                attribute = redact(attribute)
            return MissingAttribute(text, attribute=attribute, **common)
        if "malformed" in lowered or "could not decode" in lowered:
            return MalformedBody(text, **common)
        return BadRequest(text, **common)
    if status == 401:
        cls = AppKeyMismatch if "mismatch" in (kind or "").lower() else AuthenticationError
        return cls(text, **common)
    if status == 403:
        if "suspend" in lowered or "blocked" in lowered:
            return AccountSuspended(
                text, temporary="temporar" in lowered, blocked="blocked" in lowered, **common
            )
        return PermissionDenied(text, **common)
    if status == 413:
        return PayloadTooLarge(text, **common)
    if status == 415:
        return UnsupportedContentType(text, **common)
    if status == 429:
        return RateLimited(text, **common)
    if status >= 500:
        return ServerError(text, **common)
    return APIError(text, **common)
