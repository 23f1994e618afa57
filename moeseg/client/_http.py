"""The HTTP layer below the client: hosts, credentials and headers, and reading answers.

Nothing here sends a request. It knows where MoEngage lives (``https://api-{dc}.moengage.com``),
which headers each API family needs (Basic auth everywhere, ``MOE-APPKEY`` on v3, ``MOE-DBNAME``
on v2), and how to turn a raw answer (status + bytes) into parsed JSON or into the typed error
of ``_exceptions`` -- for every documented body of both API versions and the legacy CSV API, and
for anything undocumented (HTML, empty, invalid JSON, a wrong shape), which becomes
:class:`~moeseg.UnexpectedResponse` with the status and a short excerpt, never a ``KeyError``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from .._exceptions import (
    ActiveSegmentLimit,
    APIError,
    AuthenticationError,
    BadRequest,
    ConfigurationError,
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

#: Data centers MoEngage documents (``api-{dc}.moengage.com``).
DATA_CENTERS: Final = ("01", "02", "03", "04", "05", "06", "101")

#: Which headers a request carries besides ``Authorization``.
Family = Literal["v3", "v2", "legacy"]

EXCERPT_CHARS: Final = 200


def normalize_dc(dc: str | int) -> str:
    """``1``, ``"1"`` or ``"01"`` -> ``"01"``; ``101`` -> ``"101"``; anything else is refused."""
    text = str(dc).strip()
    if text.isdigit():
        number = int(text)
        candidate = f"{number:02d}"
        if candidate in DATA_CENTERS:
            return candidate
    raise ConfigurationError(
        f"unknown MoEngage data center {dc!r}: expected one of {', '.join(DATA_CENTERS)}"
    )


def base_url_for_dc(dc: str | int) -> str:
    """The API host of a data center: ``https://api-{dc}.moengage.com``."""
    return f"https://api-{normalize_dc(dc)}.moengage.com"


def legacy_signature(app_id: str, seg_name: str, api_secret: str) -> str:
    """The legacy CSV API's signature: hex sha256 of ``appId|segName|apiSecret``."""
    return hashlib.sha256(f"{app_id}|{seg_name}|{api_secret}".encode()).hexdigest()


class Redactor:
    """Replaces known secrets with ``***`` in text copied from elsewhere (a response body)."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # Longest first, so that "Basic <token>" is replaced before "<token>" alone.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} secrets>"


class Credentials:
    """Workspace credentials and the ready-made headers of each API family.

    The API key and the legacy API secret are kept here only; ``repr`` shows the workspace id.
    """

    __slots__ = ("_headers", "_legacy_secret", "app_key", "db_name", "redact", "workspace_id")

    def __init__(
        self,
        workspace_id: str,
        api_key: str,
        *,
        app_key: str,
        db_name: str | None,
        legacy_secret: str | None,
        user_agent: str,
    ) -> None:
        self.workspace_id = workspace_id
        self.app_key = app_key
        self.db_name = db_name
        self._legacy_secret = legacy_secret
        token = base64.b64encode(f"{workspace_id}:{api_key}".encode()).decode("ascii")
        auth = f"Basic {token}"
        common = {"Authorization": auth, "Accept": "application/json", "User-Agent": user_agent}
        self._headers: dict[Family, dict[str, str]] = {
            "v3": {**common, "MOE-APPKEY": app_key},
            "v2": {**common, "MOE-DBNAME": db_name or ""},
            "legacy": dict(common),
        }
        secrets = [api_key, token, auth]
        if legacy_secret:
            secrets.append(legacy_secret)
        self.redact = Redactor(tuple(secrets))

    def headers(self, family: Family) -> dict[str, str]:
        """The headers of one API family (a shared dict: do not mutate)."""
        return self._headers[family]

    def sign(self, app_id: str, seg_name: str) -> str | None:
        """The legacy signature for ``seg_name``, or ``None`` without a configured secret."""
        if self._legacy_secret is None:
            return None
        return legacy_signature(app_id, seg_name, self._legacy_secret)

    def __repr__(self) -> str:
        return f"<Credentials workspace_id={self.workspace_id!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("moeseg credentials cannot be pickled")


# -- reading answers ---------------------------------------------------------------------------


class BodyError(Exception):
    """Internal: the body is not JSON of the expected shape (the caller adds status and path)."""


def excerpt(content: bytes, redact: Redactor | None = None) -> str:
    """The first characters of a body, whitespace collapsed, secrets scrubbed."""
    text = " ".join(content[: EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    if redact is not None:
        text = redact(text)
    return text[:EXCERPT_CHARS]


def decode_json(content: bytes) -> Any:
    """Parse a JSON body; ``BodyError`` for an empty or invalid one."""
    try:
        return json.loads(content)
    except ValueError:
        why = "body is not valid JSON" if content.strip() else "empty body"
    raise BodyError(why)


def unexpected(
    why: str,
    *,
    status: int,
    content: bytes,
    method: str,
    path: str,
    redact: Redactor | None = None,
) -> UnexpectedResponse:
    """The error for an answer in no documented shape."""
    return UnexpectedResponse(
        why,
        status=status,
        excerpt=excerpt(content, redact),
        method=method,
        path=path,
    )


_RATE_LIMIT = re.compile(
    r"current\s+limit\s*:\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE
)
_UNIT_SECONDS: Final = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}


def parse_rate_limit(message: str) -> tuple[int | None, float | None]:
    """``"... Current limit: 50/1 mins"`` -> ``(50, 60.0)``; ``(None, None)`` when absent."""
    match = _RATE_LIMIT.search(message)
    if match is None:
        return None, None
    unit = _UNIT_SECONDS.get(match.group(3).lower())
    window = float(match.group(2)) * unit if unit is not None else None
    return int(match.group(1)), window


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


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


def error_from_response(
    status: int,
    content: bytes,
    *,
    method: str,
    path: str,
    redact: Redactor | None = None,
) -> MoesegError:
    """The typed error for an error answer (any status >= 400, any body).

    Documented bodies of v3, v2 and the legacy API map to the class of their status (409 and 429
    are told apart by their content); anything else becomes :class:`UnexpectedResponse`.
    """
    try:
        body = decode_json(content)
    except BodyError as exc:
        return unexpected(
            str(exc), status=status, content=content, method=method, path=path, redact=redact
        )
    fields = _fields(body)
    if fields is None:
        return unexpected(
            "error body in no documented shape",
            status=status,
            content=content,
            method=method,
            path=path,
            redact=redact,
        )
    code, message, response_id, extra = fields
    if redact is not None:
        code = redact(code) if code is not None else None
        message = redact(message) if message is not None else None
    text = message if message is not None else (code or "")
    common: dict[str, Any] = {
        "status": status,
        "method": method,
        "path": path,
        "code": code,
        "response_id": response_id,
    }
    if status == 409:
        return _conflict(text, extra, common)
    if status == 429:
        return _too_many(text, extra, common)
    if status >= 500:
        return ServerError(text, **common)
    cls = _STATUS_CLASSES.get(status, APIError)
    return cls(text, **common)


def _conflict(text: str, extra: Mapping[str, Any], common: dict[str, Any]) -> Conflict:
    lowered = text.lower()
    cs_id, cs_name = _text(extra.get("existing_cs_id")), _text(extra.get("existing_cs_name"))
    if cs_id is not None or cs_name is not None or "given filters" in lowered:
        return DefinitionConflict(text, existing_cs_id=cs_id, existing_cs_name=cs_name, **common)
    if "name" in lowered or "duplicate" in lowered:
        return NameConflict(text, **common)
    return Conflict(text, **common)


def _too_many(text: str, extra: Mapping[str, Any], common: dict[str, Any]) -> APIError:
    actual, limit = _int(extra.get("actual_count")), _int(extra.get("limit"))
    if actual is not None or "active segment" in text.lower():
        return ActiveSegmentLimit(text, actual_count=actual, limit=limit, **common)
    quota, window = parse_rate_limit(text)
    return RateLimited(text, window_seconds=window, limit=quota, **common)
