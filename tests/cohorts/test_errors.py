"""Every documented Cohort Sync error body, and undocumented ones, map to a typed error."""

from __future__ import annotations

import json
import pickle

import pytest

import moeseg
from moeseg._cohorts import (
    AccountSuspended,
    AppKeyMismatch,
    MalformedBody,
    MissingAttribute,
    PayloadTooLarge,
    UnsupportedContentType,
)
from moeseg.client._answers import error_from_cohort_response
from tests.cohorts._shared import response_examples

JSON = {"content-type": "application/json"}

# Example name in the OpenAPI document -> the class it must become.
EXPECTED: dict[tuple[int, str], type[moeseg.MoesegError]] = {
    (400, "MissingIdentifiers"): MissingAttribute,
    (400, "MissingData"): MissingAttribute,
    (400, "MissingAction"): MissingAttribute,
    (400, "MalformedJson"): MalformedBody,
    (401, "AppSecretMismatch"): moeseg.AuthenticationError,
    (401, "MissingAuthHeader"): moeseg.AuthenticationError,
    (401, "AppKeyMismatch"): AppKeyMismatch,
    (403, "BlockedClient"): AccountSuspended,
    (403, "AccountSuspended"): AccountSuspended,
    (403, "AccountTemporarilySuspended"): AccountSuspended,
    (413, "example"): PayloadTooLarge,
    (415, "example"): UnsupportedContentType,
    (429, "example"): moeseg.RateLimited,
    (500, "example"): moeseg.ServerError,
}


def test_every_documented_error_example_is_covered() -> None:
    documented = {(s, n) for s, n, _ in response_examples() if s >= 400}
    assert documented == set(EXPECTED)


@pytest.mark.parametrize(("status", "name"), sorted(EXPECTED))
def test_documented_error_bodies(status: int, name: str) -> None:
    (body,) = [b for s, n, b in response_examples() if (s, n) == (status, name)]
    err = error_from_cohort_response(status, JSON, json.dumps(body).encode())
    assert type(err) is EXPECTED[status, name]
    assert isinstance(err, moeseg.APIError)
    assert err.status == status
    assert err.code == body["error"]["type"]
    assert err.message == body["error"]["message"]
    assert err.response_id == body["error"]["request_id"]
    assert (err.method, err.path) == ("POST", "/v1/integrations/cohortsync")
    assert body["error"]["request_id"] in str(err)
    if isinstance(err, MissingAttribute):
        assert err.attribute == body["error"]["attribute"]
    assert pickle.loads(pickle.dumps(err)).__dict__ == err.__dict__


def test_account_suspension_kinds() -> None:
    def suspended(kind: str, message: str) -> AccountSuspended:
        body = {"status": "fail", "error": {"message": message, "type": kind, "request_id": "r"}}
        err = error_from_cohort_response(403, JSON, json.dumps(body).encode())
        assert isinstance(err, AccountSuspended)
        return err

    blocked = suspended("BlockedClient", "Your account is suspended.")
    assert (blocked.blocked, blocked.temporary) == (True, False)
    temporary = suspended("Account Temporarily Suspended", "temporarily suspended")
    assert (temporary.blocked, temporary.temporary) == (False, True)
    assert isinstance(temporary, moeseg.PermissionDenied)


def envelope(**error: object) -> bytes:
    return json.dumps({"status": "fail", "error": error}).encode()


@pytest.mark.parametrize(
    ("status", "content", "cls"),
    [
        (400, envelope(message="bad cohort_name", type="ValidationError"), moeseg.BadRequest),
        (403, envelope(message="not your segment", type="Forbidden"), moeseg.PermissionDenied),
        (404, envelope(message="no such route", type="Not Found"), moeseg.APIError),
        (502, envelope(message="bad gateway", type="Gateway"), moeseg.ServerError),
        (503, envelope(type="Unavailable"), moeseg.ServerError),
        (429, envelope(message="slow down"), moeseg.RateLimited),
    ],
)
def test_other_bodies_in_the_envelope(
    status: int, content: bytes, cls: type[moeseg.MoesegError]
) -> None:
    err = error_from_cohort_response(status, JSON, content)
    assert type(err) is cls


@pytest.mark.parametrize(
    ("content", "headers", "why"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}, "text/html"),
        (b"", {}, "not JSON"),
        (b'{"status": "fail"}', JSON, "no documented shape"),
        (b'{"status": "fail", "error": "boom"}', JSON, "no documented shape"),
        (b'["fail"]', JSON, "no documented shape"),
        (b'{"error": {"attribute": "x"}}', JSON, "no documented shape"),
        (b"\xff\xfe", {}, "not JSON"),
    ],
)
def test_undocumented_bodies_are_unexpected_responses(
    content: bytes, headers: dict[str, str], why: str
) -> None:
    err = error_from_cohort_response(502, headers, content)
    assert isinstance(err, moeseg.UnexpectedResponse)
    assert err.status == 502
    assert why in str(err)


def test_secrets_are_scrubbed_from_copied_text() -> None:
    secret = "s3cr3t-key"
    content = envelope(
        message=f"key {secret} refused", type="Authentication required", request_id="q"
    )
    err = error_from_cohort_response(401, JSON, content, redact=lambda t: t.replace(secret, "***"))
    assert secret not in str(err)
    assert secret not in repr(err.__dict__)
    html = f"<html>{secret}</html>".encode()
    err = error_from_cohort_response(500, {}, html, redact=lambda t: t.replace(secret, "***"))
    assert secret not in str(err)


def test_new_classes_extend_the_existing_tree() -> None:
    assert issubclass(MissingAttribute, moeseg.BadRequest)
    assert issubclass(MalformedBody, moeseg.BadRequest)
    assert issubclass(AppKeyMismatch, moeseg.AuthenticationError)
    assert issubclass(AccountSuspended, moeseg.PermissionDenied)
    assert issubclass(PayloadTooLarge, moeseg.APIError)
    assert issubclass(UnsupportedContentType, moeseg.APIError)
