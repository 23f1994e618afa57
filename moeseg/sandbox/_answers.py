"""A request as the sandbox's layers see it (``Call``), and the answers they give (``Answer``),
in the body shape of the route's API family (``error``)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Literal

import attrs
from starlette.responses import HTMLResponse, JSONResponse, Response

from ._bodies import COHORT, LEGACY_SERVER_ERROR, V2, V3
from ._config import WorkspaceCredentials
from ._quota import Breach
from ._state import SandboxState, StoredSegment

__all__ = ["Answer", "Call", "Family", "accepted", "active_limited", "error", "json_object", "ok"]

Family = Literal["v3", "v2", "legacy", "cohort"]


@attrs.frozen(slots=True)
class Answer:
    """A status and body, with the ``cause`` (and ``detail``) the request log records."""

    status: int
    body: Any
    cause: str
    detail: str = ""

    def response(self) -> Response:
        """The HTTP response (bytes are a gateway's HTML page)."""
        if isinstance(self.body, bytes):
            return HTMLResponse(self.body, self.status)
        return JSONResponse(self.body, self.status)


@attrs.define(slots=True)
class Call:
    """One request: what arrived, and who sent it (set by authentication, with ``data`` the
    legacy API's parsed body)."""

    method: str
    path: str
    route: str
    family: Family
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    arrival: float
    response_id: str
    workspace: WorkspaceCredentials | None = None
    data: dict[str, Any] | None = None

    @property
    def workspace_id(self) -> str | None:
        """The authenticated workspace's id."""
        return self.workspace.workspace_id if self.workspace else None


def json_object(raw: bytes, *, utf8: bool = False) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` (with ``utf8``, for any body that is not UTF-8;
    else JSON's own detection of UTF-8/16/32 applies)."""
    try:
        data = json.loads((raw.decode("utf-8") if utf8 else raw) or b"null")
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def ok(call: Call, status: int, data: Any, cause: str) -> Answer:
    """A v3 success: ``{data, response_id, type}``."""
    body = {"data": data, "response_id": call.response_id, "type": "custom_segment"}
    return Answer(status, body, cause)


def accepted(message: str, seg: StoredSegment, cause: str, status: int = 202) -> Answer:
    """The v2 success body (202 for file requests, 200 for archive/unarchive)."""
    body = {"message": message, "success": True, "cs_name": seg.name, "cs_id": seg.id}
    return Answer(status, body, cause)


def error(
    call: Call, status: int, what: tuple[str, str], cause: str, detail: str = "", **extra: Any
) -> Answer:
    """An error in the shape of the call's API family: v3 ``{response_id, type, error: {code,
    message, ...}}``, Cohort Sync ``{status: "fail", error: {..., message, type, request_id}}``,
    v2 ``{title, description}``, legacy CSV ``{status, error_message, ...}``."""
    code, message = what
    body: dict[str, Any]
    if call.family == "v3":
        inner = {"code": code, "message": message, **extra}
        body = {"response_id": call.response_id, "type": "custom_segment", "error": inner}
    elif call.family == "cohort":
        inner = {**extra, "message": message, "type": code, "request_id": call.response_id}
        body = {"status": "fail", "error": inner}
    elif call.family == "v2":
        body = {"title": code, "description": message} if message else {"title": code}
    else:
        body = {"status": status, "error_message": message, **extra}
    return Answer(status, body, cause, detail)


_SERVER_ERROR = {
    "v3": V3.SERVER_ERROR,
    "cohort": COHORT.SERVER_ERROR,
    "v2": V2.SERVER_ERROR,
    "legacy": LEGACY_SERVER_ERROR,
}


def server_error(call: Call, status: int, when: str, html: bool) -> Answer:
    """An injected 5xx: a gateway's HTML page, or the family's documented body."""
    cause = f"fault_{status}_{when}"
    if not html:
        return error(call, status, _SERVER_ERROR[call.family], cause)
    reason = HTTPStatus(status).phrase
    page = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} "
    return Answer(status, f"{page}{reason}</h1></body></html>".encode(), cause)


def rate_limited(call: Call, breach: Breach) -> Answer:
    """429 naming the window (v3) or the family's message."""
    cause = "rate_limit_other_tenant" if breach.other_tenant else "rate_limit"
    detail = f"{breach.group} {breach.window.limit}/{breach.seconds:g}s"
    what = {"v3": V3.rate_limited(breach.window.limit, breach.seconds), "cohort": COHORT.RATE_LIMIT}
    return error(call, 429, what.get(call.family, V2.RATE_LIMIT), cause, detail)


def active_limited(sb: SandboxState, call: Call) -> Answer | None:
    """429 when the workspace already holds its limit of active segments (None: room left)."""
    limit = sb.config.active_segment_limit
    active = sb.store(call.workspace).active_count()
    if active < limit:
        return None
    cause = "active_segment_limit"
    if call.family == "v3":
        return error(call, 429, V3.ACTIVE_LIMIT, cause, actual_count=active, limit=limit)
    detail = "" if call.family == "legacy" else f"{active}/{limit}"
    return error(call, 429, V2.ACTIVE_LIMIT, cause, detail)
