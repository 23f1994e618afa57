"""Reading MoEngage's answers: the one place that turns status, headers and bytes into a result
or a typed error.

Documented error bodies of both API versions, the legacy CSV API and Cohort Sync map to the
class of their status (409 and 429 are told apart by their content). Anything undocumented --
HTML, empty, invalid or absurdly nested JSON, an error-shaped or non-object 2xx -- becomes
:class:`~moeseg.UnexpectedResponse` with the status, a short excerpt, the headers and the body,
secrets scrubbed. Numbers read from a body or a header are bounded: what cannot be read is
ignored, never a ``ValueError`` or ``OverflowError``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
import httpx

from .._cohorts import (
    AccountSuspended,
    AppKeyMismatch,
    MalformedBody,
    MissingAttribute,
    PayloadTooLarge,
    UnsupportedContentType,
)
from .._exceptions import (
    ActiveSegmentLimit,
    APIError,
    AuthenticationError,
    BadRequest,
    Conflict,
    CyclicReference,
    DefinitionConflict,
    MoesegError,
    NameConflict,
    NotFound,
    PermissionDenied,
    QueryTooComplex,
    RateLimited,
    ServerError,
    UnexpectedResponse,
)
from ..segments import (
    LegacyCsvResponse,
    SegmentListResponse,
    SegmentResponse,
    V2AcceptedBody,
    structure,
)

T = TypeVar("T")
#: Scrubs the client's secrets from text copied out of an answer (``Credentials.redact``).
Redact = Callable[[str], str]

EXCERPT_CHARS: Final = 200
#: Numbers longer than this are not a count or a limit MoEngage would send.
_MAX_DIGITS: Final = 12
#: Response headers an error never keeps.
_PRIVATE_HEADERS: Final = frozenset({"set-cookie", "cookie", "authorization"})


@attrs.frozen(slots=True, repr=False)  # no repr: the body and headers may hold what is private
class Answer:
    """One response as the client read it: status, headers and the decoded body (capped)."""

    status: int
    headers: httpx.Headers
    content: bytes
    method: str
    path: str


class BodyError(Exception):
    """Internal: the body is not JSON of the expected shape (the caller adds status and path)."""


def decode_json(content: bytes) -> Any:
    """Parse a JSON body; ``BodyError`` for an empty, invalid or absurdly nested one."""
    try:
        return json.loads(content)
    except RecursionError:
        why = "body nests too deeply to read"
    except ValueError:  # also the interpreter's limit on the digits of an int
        why = "body is not valid JSON" if content.strip() else "empty body"
    raise BodyError(why)


def excerpt(content: bytes, redact: Redact) -> str:
    """The first characters of a body, whitespace collapsed, secrets scrubbed."""
    text = " ".join(content[: EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    return redact(text)[:EXCERPT_CHARS]


def _common(answer: Answer, redact: Redact) -> dict[str, Any]:
    """What every error of an answer carries (secrets and private headers left out)."""
    headers = answer.headers.items()
    return {
        "status": answer.status,
        "method": answer.method,
        "path": answer.path,
        "headers": {k: redact(v) for k, v in headers if k.lower() not in _PRIVATE_HEADERS},
        "body": redact(answer.content.decode("utf-8", "replace")),
    }


def unexpected(
    why: str, answer: Answer, redact: Redact, cls: type[UnexpectedResponse] = UnexpectedResponse
) -> UnexpectedResponse:
    """The error for an answer in no documented shape."""
    return cls(redact(why), excerpt=excerpt(answer.content, redact), **_common(answer, redact))


# -- numbers ------------------------------------------------------------------------------------


def bounded_int(value: object) -> int | None:
    """A non-negative int from an int or a string of ASCII digits; ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**_MAX_DIGITS else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS:
            return int(text)
    return None


def bounded_float(text: str) -> float | None:
    """A finite, non-negative, not huge number from a header value; ``None`` otherwise."""
    text = text.strip()
    if not text or len(text) > 32 or not text.isascii():
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0 or value >= 10.0**_MAX_DIGITS:
        return None
    return value


def readable_rate_headers(headers: httpx.Headers) -> dict[str, str] | None:
    """The ``x-ratelimit-*`` headers whose values are plain numbers, or ``None`` if none are.

    A header the client cannot read (``inf``, ``nan``, negative, huge, text) is left out: the
    governor learns nothing from it rather than failing an answered call.
    """
    kept = {
        k.lower(): v
        for k, v in headers.items()
        if k.lower().startswith("x-ratelimit-") and bounded_float(v) is not None
    }
    return kept or None


_RATE_LIMIT = re.compile(
    r"current\s+limit\s*:\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE | re.ASCII
)
_UNIT_SECONDS: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}


def parse_rate_limit(message: str) -> tuple[int | None, float | None]:
    """``"... Current limit: 50/1 mins"`` -> ``(50, 60.0)``; ``None`` for what is absent or
    unreadable (a zero, huge or non-finite window, a huge limit)."""
    match = _RATE_LIMIT.search(message)
    if match is None:
        return None, None
    limit = bounded_int(match.group(1))
    unit = _UNIT_SECONDS.get(match.group(3).lower())
    amount = bounded_float(match.group(2))
    window = amount * unit if amount is not None and unit is not None else None
    if window is not None and not 0 < window <= 366 * 86400.0:
        window = None
    return limit or None, window


# -- errors -------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


_STATUS_CLASSES: Final[dict[int, type[APIError]]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    412: CyclicReference,
    413: QueryTooComplex,
}


def _fields(body: object) -> tuple[str | None, str | None, str | None, Mapping[str, Any]] | None:
    """(code, message, response_id, extra fields) of a documented error body, else ``None``.

    v3: ``{response_id, type, error: {code, message, existing_cs_*, actual_count, limit}}``;
    v2: ``{title, description}``; legacy CSV: ``{status, error_message, request_id, ...}``.
    """
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        code, message = _text(error.get("code")), _text(error.get("message"))
        if code is None and message is None:
            return None
        return code, message, _text(body.get("response_id")), error
    title, description = _text(body.get("title")), _text(body.get("description"))
    if title is not None or description is not None:
        return title, description, _text(body.get("response_id")), body
    legacy = _text(body.get("error_message"))
    if legacy is not None:
        return None, legacy, _text(body.get("request_id")), body
    return None


def error_from_answer(answer: Answer, status: int, redact: Redact) -> MoesegError:
    """The typed error for an error answer (``status`` >= 400, any body)."""
    try:
        body = decode_json(answer.content)
    except BodyError as exc:
        return unexpected(str(exc), answer, redact)
    fields = _fields(body)
    if fields is None:
        return unexpected("error body in no documented shape", answer, redact)
    code, message, response_id, extra = fields
    code = redact(code) if code is not None else None
    message = redact(message) if message is not None else None
    text = message if message is not None else (code or "")
    common = {**_common(answer, redact), "status": status, "code": code, "response_id": response_id}
    if status == 409:
        return _conflict(text, extra, common)
    if status == 429:
        return _too_many(text, extra, common)
    if status >= 500:
        return ServerError(text, **common)
    return _STATUS_CLASSES.get(status, APIError)(text, **common)


def _conflict(text: str, extra: Mapping[str, Any], common: dict[str, Any]) -> Conflict:
    lowered = text.lower()
    cs_id, cs_name = _text(extra.get("existing_cs_id")), _text(extra.get("existing_cs_name"))
    if cs_id is not None or cs_name is not None or "given filters" in lowered:
        return DefinitionConflict(text, existing_cs_id=cs_id, existing_cs_name=cs_name, **common)
    if "name" in lowered or "duplicate" in lowered:
        return NameConflict(text, **common)
    return Conflict(text, **common)


def _too_many(text: str, extra: Mapping[str, Any], common: dict[str, Any]) -> APIError:
    actual, limit = bounded_int(extra.get("actual_count")), bounded_int(extra.get("limit"))
    if "actual_count" in extra or "active segment" in text.lower():
        return ActiveSegmentLimit(text, actual_count=actual, limit=limit, **common)
    quota, window = parse_rate_limit(text)
    return RateLimited(text, window_seconds=window, limit=quota, **common)


_COHORT_CLASSES: Final[dict[int, type[APIError]]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    413: PayloadTooLarge,
    415: UnsupportedContentType,
    429: RateLimited,
}


def error_from_cohort_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    method: str = "POST",
    path: str = "/v1/integrations/cohortsync",
    redact: Redact = str,
) -> MoesegError:
    """The typed error for a Cohort Sync answer (status >= 400): its envelope is
    ``{status: "fail", error: {attribute?, message, type, request_id}}``."""
    answer = Answer(status, httpx.Headers(headers), content, method, path)
    try:
        body = decode_json(content)
    except BodyError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    get = error.get if isinstance(error, dict) else {}.get
    kind, message, attribute, response_id = (
        _text(get(k)) for k in ("type", "message", "attribute", "request_id")
    )
    if kind is None and message is None:
        why = "error body in no documented shape" if body is not None else "body is not JSON"
        if ctype := answer.headers.get("content-type", ""):
            why += f" (content-type {ctype.split(';')[0].strip()!r})"
        return unexpected(why, answer, redact)
    kind, message, attribute = (redact(t) if t else t for t in (kind, message, attribute))
    text = message if message is not None else (kind or "")
    common = {**_common(answer, redact), "code": kind, "response_id": response_id}
    lowered = f"{kind or ''} {text}".lower()
    if status == 400 and (lowered.startswith("missingattribute") or "not found in the" in lowered):
        return MissingAttribute(text, attribute=attribute, **common)
    if status == 400 and ("malformed" in lowered or "could not decode" in lowered):
        return MalformedBody(text, **common)
    if status == 401 and "mismatch" in (kind or "").lower():
        return AppKeyMismatch(text, **common)
    if status == 403 and ("suspend" in lowered or "blocked" in lowered):
        temporary, blocked = "temporar" in lowered, "blocked" in lowered
        return AccountSuspended(text, temporary=temporary, blocked=blocked, **common)
    if status >= 500:
        return ServerError(text, **common)
    return _COHORT_CLASSES.get(status, APIError)(text, **common)


def legacy_status(answer: Answer) -> int:
    """The legacy API repeats its status in the body; trust the worse of the two."""
    if answer.status >= 400:
        return answer.status
    try:
        body = decode_json(answer.content)
    except BodyError:
        return answer.status
    status = bounded_int(body.get("status")) if isinstance(body, dict) else None
    if status is not None and 400 <= status <= 599:
        return status
    return answer.status


# -- successes ----------------------------------------------------------------------------------


def _shape_problem(body: object, cls: type[Any]) -> str | None:
    """Why ``body`` is not the documented 2xx body of ``cls``, or ``None`` when it is."""
    if not isinstance(body, dict):
        return f"a {type(body).__name__} where a JSON object was expected"
    if (
        "error" in body
        or "title" in body
        or ("error_message" in body and cls is not LegacyCsvResponse)
    ):
        return "an error-shaped body with a success status"
    if cls is SegmentResponse and not isinstance(body.get("data"), dict):
        return "no segment object in 'data'"
    if cls is SegmentListResponse and not isinstance(body.get("data"), list):
        return "no list in 'data'"
    if cls is V2AcceptedBody and body.get("success") is not True:
        return "'success' is not true"
    if cls is LegacyCsvResponse and bounded_int(body.get("status")) is None:
        return "no 'status'"
    return None


def read_success(answer: Answer, cls: type[T], redact: Redact) -> T:
    """Structure a 2xx body as ``cls``; any other shape is :class:`UnexpectedResponse`."""
    try:
        body = decode_json(answer.content)
    except BodyError as exc:
        why = str(exc)
    else:
        problem = _shape_problem(body, cls)
        if problem is None:
            try:
                return structure(body, cls)
            except Exception as exc:  # the converter's shape errors, whatever their class
                problem = f"{type(exc).__name__}: {exc}"
        why = f"unexpected {cls.__name__} body: {problem}"
    raise unexpected(why, answer, redact)
