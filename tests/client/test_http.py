"""Every documented error body (v3, v2, legacy CSV) maps to its class with its fields.

The bodies are copied from the reference documents (seed-create-filter-segment-api.txt,
moengage-custom-segments-official-openapi.yaml, moengage-segments-openapi.yml,
seed-legacy-csv-segment-api.txt).
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from moeseg import (
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
from moeseg.client._answers import excerpt, parse_rate_limit
from moeseg.client._config import base_url_for_dc, normalize_dc
from moeseg.client._credentials import Credentials, Redactor, legacy_signature

from .conftest import error_from_response


def v3(response_id: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "response_id": response_id,
        "type": "custom_segment",
        "error": {"code": code, "message": message, **extra},
    }


# (id, status, body, class, expected attributes)
DOCUMENTED: list[tuple[str, int, dict[str, Any], type[MoesegError], dict[str, Any]]] = [
    (
        "v3-400-invalid-format",
        400,
        v3(
            "xFyVHeOr",
            "Invalid request",
            "Invalid request format. Please check the documentation to ensure that the request "
            "has been formed correctly.",
        ),
        BadRequest,
        {"code": "Invalid request", "response_id": "xFyVHeOr"},
    ),
    (
        "v3-400-invalid-name",
        400,
        v3(
            "XtVyUnlJ",
            "Invalid Request",
            "Invalid request. Please ensure that the filters are correct and the custom-segment "
            "name doesn't contain HTML characters/only whitespaces.",
        ),
        BadRequest,
        {"code": "Invalid Request", "response_id": "XtVyUnlJ"},
    ),
    (
        "v3-400-client-not-found",
        400,
        v3(
            "FkrgtCVr",
            "Request Error",
            "MoEngage Client not found. Please check values for headers - MOE-APPKEY or MOE-DBNAME",
        ),
        BadRequest,
        {"code": "Request Error", "response_id": "FkrgtCVr"},
    ),
    (
        "v3-400-invalid-bson",
        400,
        v3("zUhCrqzu", "Invalid request", "Invalid bson object-id passed in the request"),
        BadRequest,
        {"message": "Invalid bson object-id passed in the request"},
    ),
    (
        "v3-401-secret-mismatch",
        401,
        v3(
            "SzFRAzwK",
            "Authentication required",
            "APP_SECRET key mismatch. Please login to the dashboard to verify key",
        ),
        AuthenticationError,
        {"code": "Authentication required", "response_id": "SzFRAzwK"},
    ),
    (
        "v3-401-invalid-app-key",
        401,
        v3("bUfoyyhN", "Authentication required", "Invalid APP_KEY used in Authentication Header"),
        AuthenticationError,
        {"message": "Invalid APP_KEY used in Authentication Header"},
    ),
    (
        "v3-403-forbidden",
        403,
        v3(
            "xuLAWeCN",
            "Forbidden operation",
            "Update isn't supported for file-segments, internally created custom-segments, "
            "custom-segments imported from Analyze and archived custom-segments.",
        ),
        PermissionDenied,
        {"code": "Forbidden operation", "response_id": "xuLAWeCN"},
    ),
    (
        "v3-404-not-found",
        404,
        v3(
            "UAMMfmuU",
            "Entity Not Found",
            "Custom segment not found with the given id: 638a051185b6b50a018cacc",
        ),
        NotFound,
        {"code": "Entity Not Found", "response_id": "UAMMfmuU"},
    ),
    (
        "v3-409-name",
        409,
        v3(
            "flJhLXeo",
            "Resource not created",
            "Another custom-segment already exists with the same name: api_test_8. Please "
            "change the custom-segment name.",
        ),
        NameConflict,
        {"code": "Resource not created", "response_id": "flJhLXeo"},
    ),
    (
        "v3-409-definition",
        409,
        v3(
            "YbzjKmhl",
            "Resource not created",
            "Another custom-segment already exists containing the given filters: "
            "api_test_multiple_cs2_re. Please reuse the same or update the filters",
            existing_cs_name="api_test_multiple_cs2_re",
            existing_cs_id="63a017e8d2460ae81a05bf5e",
        ),
        DefinitionConflict,
        {
            "existing_cs_id": "63a017e8d2460ae81a05bf5e",
            "existing_cs_name": "api_test_multiple_cs2_re",
            "response_id": "YbzjKmhl",
        },
    ),
    (
        "v3-412-cyclic",
        412,
        v3(
            "acOcgPed",
            "Cyclic Entity",
            "Circular reference detected in the custom segment definition.",
        ),
        CyclicReference,
        {"code": "Cyclic Entity", "response_id": "acOcgPed"},
    ),
    (
        "v3-413-nesting",
        413,
        v3(
            "YbSUZzCZ",
            "Query has too many nesting levels",
            "The query has more than n levels of nesting. Please reduce the segment nesting.",
        ),
        QueryTooComplex,
        {"code": "Query has too many nesting levels", "response_id": "YbSUZzCZ"},
    ),
    (
        "v3-413-segments",
        413,
        v3(
            "BcvlFaav",
            "Too many segments in a query",
            "The query has more than n custom segments. Please reduce the custom segments.",
        ),
        QueryTooComplex,
        {"code": "Too many segments in a query"},
    ),
    (
        "v3-413-length",
        413,
        v3(
            "AQvmPUIS",
            "Query length limit exceeded",
            "The query is too large to execute. Please reduce the filters.",
        ),
        QueryTooComplex,
        {"code": "Query length limit exceeded"},
    ),
    (
        "v3-429-rate-placeholder",
        429,
        v3("OUUkHvcn", "Too Many Requests", "API rate limit breached. Current limit: n/m mins"),
        RateLimited,
        {"window_seconds": None, "limit": None, "response_id": "OUUkHvcn"},
    ),
    (
        "v3-429-rate-numbers",
        429,
        v3("OUUkHvcn", "Too Many Requests", "API rate limit breached. Current limit: 50/1 mins"),
        RateLimited,
        {"window_seconds": 60.0, "limit": 50},
    ),
    (
        "v3-429-active-segments",
        429,
        v3(
            "jfYkJWRB",
            "Too Many Requests",
            "Total active segments limit breached. Request rejected!",
            actual_count=1001,
            limit=1000,
        ),
        ActiveSegmentLimit,
        {"actual_count": 1001, "limit": 1000, "response_id": "jfYkJWRB"},
    ),
    (
        "v3-500",
        500,
        v3(
            "HKWwUkvM",
            "Internal Server Error",
            "An unexpected error was encountered while processing this request. Please contact "
            "MoEngage Team",
        ),
        ServerError,
        {"code": "Internal Server Error", "response_id": "HKWwUkvM"},
    ),
    (
        "v2-400",
        400,
        {
            "title": "Invalid Request",
            "description": "Mandatory field missing in the request: file_url",
        },
        BadRequest,
        {
            "code": "Invalid Request",
            "message": "Mandatory field missing in the request: file_url",
            "response_id": None,
        },
    ),
    (
        "v2-401",
        401,
        {
            "title": "Authentication required",
            "description": "Invalid Workspace ID or API key used in the Authorization header",
        },
        AuthenticationError,
        {"code": "Authentication required"},
    ),
    (
        "v2-404",
        404,
        {
            "title": "Entity Not Found",
            "description": "Segment not found with the given name: <custom_segment_unique_name>",
        },
        NotFound,
        {"code": "Entity Not Found"},
    ),
    (
        "v2-409-name",
        409,
        {"title": "Resource not created", "description": "Name already exists : <segment_name>"},
        NameConflict,
        {"code": "Resource not created", "message": "Name already exists : <segment_name>"},
    ),
    (
        "v2-429",
        429,
        {
            "title": "Too Many Requests",
            "description": "File segment operations limit breached. Please retry after some time.",
        },
        RateLimited,
        {"code": "Too Many Requests", "window_seconds": None},
    ),
    (
        "v2-500-title-only",
        500,
        {"title": "Internal Server Error"},
        ServerError,
        {"code": "Internal Server Error", "message": "Internal Server Error"},
    ),
    (
        "legacy-409-duplicate",
        409,
        {
            "status": 409,
            "request_id": "d5a263c4ef1198ae3d8496c0460f570f",
            "error_message": "duplicate request",
            "segment_name": "TEST",
        },
        NameConflict,
        {"message": "duplicate request", "response_id": "d5a263c4ef1198ae3d8496c0460f570f"},
    ),
    (
        "legacy-400",
        400,
        {"status": 400, "error_message": "Bad Value for appId"},
        BadRequest,
        {"message": "Bad Value for appId", "code": None},
    ),
    (
        "legacy-401",
        401,
        {"status": 401, "error_message": "Unauthorized"},
        AuthenticationError,
        {"message": "Unauthorized"},
    ),
    (
        "legacy-500",
        500,
        {
            "status": 500,
            "error_message": "Internal Server Error. Contact MoEngage Team",
            "segment_name": "TEST",
        },
        ServerError,
        {"message": "Internal Server Error. Contact MoEngage Team"},
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "cls", "fields"),
    [pytest.param(*case[1:], id=case[0]) for case in DOCUMENTED],
)
def test_documented_error_body_maps_to_its_class(
    status: int, body: dict[str, Any], cls: type[MoesegError], fields: dict[str, Any]
) -> None:
    err = error_from_response(
        status, json.dumps(body).encode(), method="POST", path="/v3/custom-segments"
    )
    assert type(err) is cls
    assert isinstance(err, APIError)
    assert (err.status, err.method, err.path) == (status, "POST", "/v3/custom-segments")
    for name, value in fields.items():
        assert getattr(err, name) == value, name
    inner = body.get("error", body)
    message = inner.get("message") or inner.get("description") or inner.get("error_message")
    assert err.message == (message or inner.get("title"))
    assert err.message in str(err)
    assert str(status) in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls
    assert str(again) == str(err)
    assert vars(again) == vars(err)


def test_unknown_409_is_a_plain_conflict() -> None:
    body = v3("r", "API SECRET not configured", "Please configure the APP SECRET on the dashboard")
    err = error_from_response(409, json.dumps(body).encode(), method="POST", path="/p")
    assert type(err) is Conflict


def test_undocumented_4xx_is_an_api_error() -> None:
    body = v3("r", "Method Not Allowed", "nope")
    err = error_from_response(405, json.dumps(body).encode(), method="DELETE", path="/p")
    assert type(err) is APIError
    assert err.status == 405


@pytest.mark.parametrize(
    ("status", "content", "why"),
    [
        pytest.param(
            502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "not valid JSON", id="html"
        ),
        pytest.param(500, b"", "empty body", id="empty"),
        pytest.param(503, b"  \n ", "empty body", id="whitespace"),
        pytest.param(400, b'{"error": {"code": "x"', "not valid JSON", id="truncated-json"),
        pytest.param(400, b"[1, 2, 3]", "no documented shape", id="json-list"),
        pytest.param(
            401, b'{"detail": "Unauthorized"}', "no documented shape", id="json-other-keys"
        ),
        pytest.param(409, b'{"error": "boom"}', "no documented shape", id="error-not-object"),
        pytest.param(
            429,
            b'{"error": {"code": 7, "message": null}}',
            "no documented shape",
            id="error-wrong-types",
        ),
        pytest.param(404, b"null", "no documented shape", id="json-null"),
    ],
)
def test_undocumented_bodies_are_unexpected_responses(
    status: int, content: bytes, why: str
) -> None:
    err = error_from_response(status, content, method="GET", path="/v3/custom-segments")
    assert type(err) is UnexpectedResponse
    assert err.status == status
    assert why in err.message
    assert err.excerpt == " ".join(content.decode().split())[:200]
    assert str(status) in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert (again.status, again.excerpt, str(again)) == (err.status, err.excerpt, str(err))


def test_excerpt_is_short_and_scrubbed() -> None:
    redact = Redactor(("sekrit-key-123",))
    content = b"<html>" + b"x" * 5000 + b"sekrit-key-123</html>"
    assert len(excerpt(content, redact)) == 200
    echoed = excerpt(b"<pre>Authorization: sekrit-key-123</pre>", redact)
    assert echoed == "<pre>Authorization: ***</pre>"


def test_secrets_echoed_by_the_server_are_scrubbed() -> None:
    creds = Credentials(
        "WS1",
        "sekrit-key-123",
        app_key="WS1",
        db_name="db",
        legacy_secret=None,
        user_agent="t",
        legacy_app_id="WS1",
    )
    auth = creds.headers("v3")["Authorization"]
    body = v3("r", "Authentication required", f"bad header {auth} for key sekrit-key-123")
    err = error_from_response(
        401, json.dumps(body).encode(), method="GET", path="/p", redact=creds.redact
    )
    assert "sekrit" not in str(err)
    assert auth.split()[1] not in str(err)
    html = error_from_response(
        502, f"<p>{auth}</p>".encode(), method="GET", path="/p", redact=creds.redact
    )
    assert auth.split()[1] not in str(html)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("API rate limit breached. Current limit: n/m mins", (None, None)),
        ("API rate limit breached. Current limit: 50/1 mins", (50, 60.0)),
        ("API rate limit breached. Current limit: 200/60 mins", (200, 3600.0)),
        ("current limit:1000/24 hours", (1000, 86400.0)),
        ("Current limit: 10/1 hr", (10, 3600.0)),
        ("Current limit: 100/1 day", (100, 86400.0)),
        ("Current limit: 5/30 secs", (5, 30.0)),
        ("Current limit: 5/30 fortnights", (5, None)),
        ("File segment operations limit breached. Please retry after some time.", (None, None)),
    ],
)
def test_rate_limit_window_is_parsed(
    message: str, expected: tuple[int | None, float | None]
) -> None:
    assert parse_rate_limit(message) == expected


@pytest.mark.parametrize(
    ("dc", "host"),
    [
        ("01", "https://api-01.moengage.com"),
        ("1", "https://api-01.moengage.com"),
        (6, "https://api-06.moengage.com"),
        ("101", "https://api-101.moengage.com"),
        (101, "https://api-101.moengage.com"),
    ],
)
def test_data_centers(dc: str | int, host: str) -> None:
    assert base_url_for_dc(dc) == host


@pytest.mark.parametrize("dc", ["07", "0", "100", "eu", "", "-1"])
def test_unknown_data_center_is_a_configuration_error(dc: str) -> None:
    with pytest.raises(ConfigurationError, match="data center"):
        normalize_dc(dc)


def test_legacy_signature_matches_the_documented_recipe() -> None:
    # sha256("MAZW51234N1IMMSH5HKBHB_DEBUG|TEST|S3pVzjBF9use"), the document's sample values.
    assert legacy_signature("MAZW51234N1IMMSH5HKBHB_DEBUG", "TEST", "S3pVzjBF9use") == (
        "d22374f405e7d8da03a7772582aedc4010be5e47d5669ad6596803a6bc277ff0"
    )


def test_credentials_headers_per_family_and_no_secret_in_repr() -> None:
    creds = Credentials(
        "WS1",
        "key-abc",
        app_key="APP",
        db_name="db1",
        legacy_secret="shh-1234",
        user_agent="t",
        legacy_app_id="APP",
    )
    # base64("WS1:key-abc")
    assert creds.headers("v3")["Authorization"] == "Basic V1MxOmtleS1hYmM="
    assert creds.headers("v3")["MOE-APPKEY"] == "APP"
    assert "MOE-DBNAME" not in creds.headers("v3")
    assert creds.headers("v2")["MOE-DBNAME"] == "db1"
    assert "MOE-APPKEY" not in creds.headers("v2")
    assert set(creds.headers("legacy")) == {"Authorization", "Accept", "User-Agent"}
    assert "key-abc" not in repr(creds)
    assert "shh" not in repr(creds)
    with pytest.raises(TypeError):
        pickle.dumps(creds)
