"""Who is calling: the workspace and its credentials, per API family.

v3: ``MOE-APPKEY`` (or ``MOE-DBNAME``) names the workspace, Basic auth carries the workspace id
and the API key. v2: ``MOE-DBNAME`` and the same Basic auth. Cohort Sync: ``MOE-APPKEY`` and
the same Basic auth, its user equal to the app key; then a suspended account is refused.
Legacy CSV: ``appId`` in the body and a SHA-256 ``signature`` of ``appId|segName|secret``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from hashlib import sha256

from ._answers import Answer, Call, error, json_object
from ._bodies import COHORT, V2, V3
from ._state import SandboxState

__all__ = ["authenticate"]

_LEGACY_FIELDS = (
    "appId",
    "attribute",
    "attributeType",
    "segName",
    "csvUrl",
    "callback",
    "signature",
)


def authenticate(sb: SandboxState, call: Call) -> Answer | None:
    """Set ``call.workspace`` (and ``call.data`` for the legacy API), or the refusal."""
    if call.family == "legacy":
        return _legacy(sb, call)
    if call.family == "cohort":
        return _cohort(sb, call)
    h, v3 = call.headers, call.family == "v3"
    appkey = h.get("moe-appkey") if v3 else None
    ws = sb.by_id.get(appkey) if appkey else sb.by_db.get(h.get("moe-dbname", ""))
    if ws is None:
        return error(call, 400, (V3 if v3 else V2).CLIENT_NOT_FOUND, "client_not_found")
    call.workspace = ws
    user, password = _basic(h.get("authorization", ""))
    if not v3:
        good = _same(user, ws.workspace_id) and _same(password, ws.api_key)
        return None if good else error(call, 401, V2.AUTH, "auth")
    if user is not None and not _same(user, ws.workspace_id):
        return error(call, 401, V3.APP_KEY_MISMATCH, "auth", "user is not the app key")
    if not _same(password, ws.api_key):
        return error(call, 401, V3.SECRET_MISMATCH, "auth", "bad or missing api key")
    return None


def _legacy(sb: SandboxState, call: Call) -> Answer | None:
    data = json_object(call.body)
    if data is None:
        return error(call, 400, ("", "Bad Value for request body"), "invalid_format")
    for field in _LEGACY_FIELDS:
        if not isinstance(data.get(field), str) or not data[field]:
            return error(call, 400, ("", f"Bad Value for {field}"), "invalid_format")
    ws = sb.by_id.get(data["appId"])
    if ws is None:
        return error(call, 400, ("", "Bad Value for appId"), "client_not_found")
    expected = sha256(f"{ws.workspace_id}|{data['segName']}|{ws.legacy_api_secret}".encode())
    if not _same(data["signature"].lower(), expected.hexdigest()):
        return error(call, 401, ("", "Unauthorized"), "auth", "bad signature")
    call.workspace = ws
    call.data = data
    return None


def _cohort(sb: SandboxState, call: Call) -> Answer | None:
    h = call.headers
    user, password = _basic(h.get("authorization", ""))
    if user is None:
        return error(call, 401, COHORT.NO_AUTH_HEADER, "auth", "no basic auth")
    appkey = h.get("moe-appkey")
    if not appkey:
        what = COHORT.missing("MOE-APPKEY")
        return error(call, 400, what, "invalid_format", "MOE-APPKEY", attribute="MOE-APPKEY")
    if not _same(user, appkey):
        return error(call, 401, COHORT.APP_KEY_MISMATCH, "auth", "user is not the app key")
    ws = sb.by_id.get(appkey)
    if ws is None or not _same(password, ws.api_key):
        return error(call, 401, COHORT.SECRET_MISMATCH, "auth", "bad app key or api key")
    call.workspace = ws
    kind = sb.config.suspended.get(ws.workspace_id)
    if kind is not None:
        message = COHORT.SUSPENDED.get(kind, COHORT.SUSPENDED["Account Suspended"])
        return error(call, 403, (kind, message), "suspended")
    return None


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)


def _same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a credential."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
