"""Every error example of the reference documents, read at test time, maps to its error class.

The documents are read by the models area's helper (tests/segments/reference.py): both OpenAPI
files (each example under a 4xx/5xx response, its status from the response it belongs to), the
seed create document's sample error responses (status from the documented code), and the legacy
CSV document's error responses.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import moeseg
from tests.segments.reference import openapi_examples, seed_create_examples, seed_legacy_examples

from .conftest import error_from_response

BY_STATUS: dict[int, type[moeseg.APIError]] = {
    400: moeseg.BadRequest,
    401: moeseg.AuthenticationError,
    403: moeseg.PermissionDenied,
    404: moeseg.NotFound,
    412: moeseg.CyclicReference,
    413: moeseg.QueryTooComplex,
    500: moeseg.ServerError,
}

# The seed create document lists its sample error bodies without their statuses; its table of
# response codes gives them by kind.
SEED_STATUS_BY_CODE = {
    "Invalid request": 400,
    "Invalid Request": 400,
    "Request Error": 400,
    "Authentication required": 401,
    "Resource not created": 409,
    "Query has too many nesting levels": 413,
    "Too many segments in a query": 413,
    "Query length limit exceeded": 413,
    "Too Many Requests": 429,
    "Internal Server Error": 500,
}

_STATUS_IN_PATH = re.compile(r"/responses/'?(\d)(\d\d|XX)")


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    inner = body["error"] if isinstance(body.get("error"), dict) else body
    return inner


def expected_class(status: int, body: dict[str, Any]) -> type[moeseg.APIError]:
    inner = _fields(body)
    text = str(inner.get("message") or inner.get("description") or inner.get("error_message"))
    if status == 409:
        return moeseg.DefinitionConflict if "existing_cs_id" in inner else moeseg.NameConflict
    if status == 429:
        limited = "actual_count" in inner or "active segments" in text
        return moeseg.ActiveSegmentLimit if limited else moeseg.RateLimited
    return BY_STATUS[status]


def openapi_error_examples() -> list[Any]:
    cases = []
    for label, filename in (
        ("official", "moengage-custom-segments-official-openapi.yaml"),
        ("third-party", "moengage-segments-openapi.yml"),
    ):
        for path, body in openapi_examples(filename):
            match = _STATUS_IN_PATH.search(path)
            if match is None or match.group(1) not in "45":
                continue
            rest = match.group(2)
            status = int(match.group(1) + ("00" if rest == "XX" else rest))
            cases.append(pytest.param(status, body, id=f"{label}{path}"))
    return cases


def seed_error_examples() -> list[Any]:
    cases = []
    for where, body in seed_create_examples():
        if isinstance(body.get("error"), dict):
            status = SEED_STATUS_BY_CODE[body["error"]["code"]]
            cases.append(pytest.param(status, body, id=f"seed-create {where}"))
    for i, body in enumerate(seed_legacy_examples()["response"]):
        if body["status"] >= 400:
            cases.append(pytest.param(body["status"], body, id=f"seed-legacy response {i}"))
    return cases


OPENAPI = openapi_error_examples()
SEED = seed_error_examples()


def test_the_documents_were_read() -> None:
    statuses = {case.values[0] for case in OPENAPI + SEED}
    assert {400, 401, 403, 404, 409, 412, 413, 429, 500} <= statuses
    assert len(OPENAPI) >= 30
    assert len(SEED) >= 15


@pytest.mark.parametrize(("status", "body"), OPENAPI + SEED)
def test_reference_error_example(status: int, body: dict[str, Any]) -> None:
    err = error_from_response(status, json.dumps(body).encode(), method="POST", path="/p")
    cls = expected_class(status, body)
    assert type(err) is cls
    assert isinstance(err, moeseg.APIError)
    assert err.status == status
    inner = _fields(body)
    assert err.response_id == (body.get("response_id") or body.get("request_id"))
    assert err.code == (inner.get("code") or inner.get("title"))
    message = inner.get("message") or inner.get("description") or inner.get("error_message")
    assert err.message == (message or err.code)
    if isinstance(err, moeseg.DefinitionConflict):
        assert err.existing_cs_id == inner["existing_cs_id"]
        assert err.existing_cs_name == inner["existing_cs_name"]
    if isinstance(err, moeseg.ActiveSegmentLimit):
        assert err.actual_count == inner.get("actual_count")
        assert err.limit == inner.get("limit")
