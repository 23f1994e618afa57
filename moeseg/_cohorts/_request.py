"""The Cohort Sync request: the cohort it names, its body, and bodies cut to the size limit.

A body is ``{"action", "partner", "parameters": {"cohort_name", "cohort_id",
"cohort_description"?, "members": [{"uid"}, ...]}}`` encoded as compact UTF-8 JSON
(``separators=(",", ":")``, ``ensure_ascii=False``), keys in that order. ``members`` comes
last, so a body is a fixed head, the members joined by ``,``, and ``]}}``: its size is known
exactly before it is built, and :func:`chunk_members` fills each body up to the limit.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Literal, TypeAlias

import attrs

from ._errors import CohortNameWarning, CohortValidationError, UidTooLarge

__all__ = [
    "ACTIONS",
    "MAX_BODY_BYTES",
    "Cohort",
    "CohortAction",
    "CohortChunk",
    "FORBIDDEN_NAME_CHARACTERS",
    "chunk_members",
    "derive_cohort_id",
    "encode_body",
    "encode_member",
    "opposite",
    "validate_uid",
]

CohortAction: TypeAlias = Literal["add_members", "remove_members"]
ACTIONS: Final[tuple[CohortAction, CohortAction]] = ("add_members", "remove_members")

#: "128KB" read the strict way: 128,000 bytes of encoded body.
MAX_BODY_BYTES: Final = 128_000

#: Characters MoEngage refuses in a cohort name (Cohort Sync reference, ``cohort_name``).
FORBIDDEN_NAME_CHARACTERS: Final = '|*?\\:<>=$"'

# One encoder for every string: compact, UTF-8 as is. ``encode`` of a str is a single C call.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_MEMBER_HEAD: Final = b'{"uid":'


def opposite(action: CohortAction) -> CohortAction:
    """``add_members`` <-> ``remove_members``."""
    return "remove_members" if action == "add_members" else "add_members"


def _check_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise CohortValidationError(field, f"must be a string, got {type(value).__name__}")
    if not value or value.isspace():
        raise CohortValidationError(field, "must not be empty or only whitespace")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise CohortValidationError(field, "is not valid Unicode (a lone surrogate)") from None
    return value


def validate_uid(uid: object) -> str:
    """``uid`` if it can be sent and kept in a snapshot, else :class:`CohortValidationError`.

    Refused: non-strings, empty or blank uids, lone surrogates (not UTF-8), and line breaks
    (a snapshot keeps one uid per line).
    """
    text = _check_text("members[].uid", uid)
    if "\n" in text or "\r" in text:
        raise CohortValidationError("members[].uid", f"{text!r} contains a line break")
    return text


def _check_name(_: Any, __: Any, name: str) -> None:
    text = _check_text("parameters.cohort_name", name)
    for ch in text:
        if ch in FORBIDDEN_NAME_CHARACTERS:
            raise CohortValidationError(
                "parameters.cohort_name",
                f"{text!r} contains {ch!r}; MoEngage refuses the characters "
                + " ".join(FORBIDDEN_NAME_CHARACTERS),
            )
    if text.startswith("."):
        warnings.warn(
            f"cohort name {text!r} starts with '.': the Cohort Sync reference forbids it, "
            "another published copy of MoEngage's docs requires it",
            CohortNameWarning,
            stacklevel=3,
        )


def _check_field(field: str) -> Callable[[Any, Any, str], None]:
    def check(_: Any, __: Any, value: str) -> None:
        _check_text(field, value)

    return check


def _check_description(_: Any, __: Any, value: str | None) -> None:
    if value is not None:
        _check_text("parameters.cohort_description", value)


def derive_cohort_id(name: str) -> str:
    """The default ``cohort_id`` of a cohort called ``name``: stable across runs and machines.

    ``"moeseg-"`` + the first 32 hex digits (128 bits) of SHA-256 over the name's UTF-8 bytes,
    exactly as given (no case folding, no Unicode normalisation, no trimming).
    """
    digest = hashlib.sha256(_check_text("parameters.cohort_name", name).encode()).hexdigest()
    return "moeseg-" + digest[:32]


@attrs.frozen(slots=True)
class Cohort:
    """A Cohort Sync segment: its name, its stable id, who syncs it. Checked when built.

    ``cohort_id`` defaults to :func:`derive_cohort_id` of the name; ``partner`` to ``"moeseg"``.
    A forbidden character in the name raises :class:`CohortValidationError` naming it; a
    leading ``.`` warns with :class:`CohortNameWarning`.
    """

    name: str = attrs.field(validator=_check_name)
    cohort_id: str = attrs.field(
        default=attrs.Factory(lambda self: derive_cohort_id(self.name), takes_self=True),
        validator=_check_field("parameters.cohort_id"),
    )
    description: str | None = attrs.field(default=None, validator=_check_description)
    partner: str = attrs.field(default="moeseg", validator=_check_field("partner"))

    def head(self, action: CohortAction) -> bytes:
        """Every byte of a body for ``action`` before its first member."""
        if action not in ACTIONS:
            raise CohortValidationError("action", f"must be one of {ACTIONS}, got {action!r}")
        params: dict[str, object] = {"cohort_name": self.name, "cohort_id": self.cohort_id}
        if self.description is not None:
            params["cohort_description"] = self.description
        params["members"] = []
        body = _ENCODER.encode({"action": action, "partner": self.partner, "parameters": params})
        return body[: -len("]}}")].encode()


_TAIL: Final = b"]}}"


def encode_member(uid: str) -> bytes:
    """``{"uid":"..."}`` as compact UTF-8 JSON (checked by :func:`validate_uid`)."""
    return _MEMBER_HEAD + _ENCODER.encode(validate_uid(uid)).encode() + b"}"


def encode_body(cohort: Cohort, action: CohortAction, uids: Iterable[str]) -> bytes:
    """The whole body for ``uids`` in one request, whatever its size."""
    return cohort.head(action) + b",".join(encode_member(u) for u in uids) + _TAIL


@attrs.frozen(slots=True)
class CohortChunk:
    """One request's worth: the action, its uids in order, and the exact body to send."""

    action: CohortAction
    uids: tuple[str, ...]
    body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


def chunk_members(
    cohort: Cohort,
    action: CohortAction,
    uids: Iterable[str],
    *,
    limit: int = MAX_BODY_BYTES,
) -> Iterator[CohortChunk]:
    """Cut ``uids`` (any iterable, read lazily) into bodies of at most ``limit`` bytes, in order.

    Greedy: each body takes members until the next would cross the limit, so the bodies are
    exactly as few as one-pass packing in the given order allows. A uid is never split; one
    that cannot fit even an otherwise empty body raises :class:`UidTooLarge` naming it (the
    chunks before it have already been yielded). No uids, no chunks.
    """
    head = cohort.head(action)
    fixed = len(head) + len(_TAIL)
    batch: list[str] = []
    parts: list[bytes] = []
    size = fixed
    for uid in uids:
        member = encode_member(uid)
        if fixed + len(member) > limit:
            raise UidTooLarge(uid, fixed + len(member), limit)
        extra = len(member) + (1 if parts else 0)
        if size + extra > limit:
            yield CohortChunk(action, tuple(batch), head + b",".join(parts) + _TAIL)
            batch, parts, size = [], [], fixed
            extra = len(member)
        batch.append(uid)
        parts.append(member)
        size += extra
    if parts:
        yield CohortChunk(action, tuple(batch), head + b",".join(parts) + _TAIL)
