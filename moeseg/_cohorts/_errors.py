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

Cohort Sync's answers are read into these by ``moeseg.client._answers``, with every other answer.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import (
    APIError,
    AuthenticationError,
    BadRequest,
    MoesegError,
    PermissionDenied,
    SegmentValidationError,
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
]


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
