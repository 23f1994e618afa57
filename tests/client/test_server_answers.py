"""Bad answers from the server (issue 12 §3): a typed moeseg error, never a raw exception, never a
wrong success, never a secret reachable from the error."""

from __future__ import annotations

import gzip
import json
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moeseg
from moeseg import Client
from moeseg.client._credentials import Credentials

from .conftest import (
    API_KEY,
    BASE,
    DB_NAME,
    WORKSPACE,
    RecordingGovernor,
    list_body,
    sample_definition,
    segment_body,
)

pytestmark = pytest.mark.anyio

SEGMENTS = f"{BASE}/v3/custom-segments"
FILE = f"{BASE}/v2/custom-segments/file-segment"
ARCHIVE = f"{BASE}/v2/custom-segments/archive"
AUTH = Credentials(
    WORKSPACE, API_KEY, app_key=WORKSPACE, db_name=None, legacy_secret=None, user_agent="t",
    legacy_app_id=WORKSPACE,
).headers("v3")["Authorization"]  # fmt: skip
SECRETS = (API_KEY, AUTH.split()[1])


def make_client(router: respx.MockRouter, **kw: Any) -> Client:
    kw.setdefault("governor", RecordingGovernor())
    return Client(
        WORKSPACE,
        API_KEY,
        dc="01",
        db_name=DB_NAME,
        transport=httpx.MockTransport(router.async_handler),
        **kw,
    )


def reachable(root: object) -> Iterator[object]:
    """Every object reachable from an error: cause, context, args, attributes, containers."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, (str, bytes, int, float, bool)):
            continue
        if isinstance(obj, BaseException):
            # Frames of the traceback are not walked: they hold the caller's own locals.
            stack += [obj.__cause__, obj.__context__, *obj.args]
        if isinstance(obj, dict):
            stack += [*obj.keys(), *obj.values()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack += list(obj)
        elif isinstance(obj, (httpx.Request, httpx.Response, httpx.Headers)):
            stack.append(repr(obj))
            stack.append(getattr(obj, "headers", None) and dict(obj.headers))  # type: ignore[union-attr]
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack += list(vars(obj).values())


def assert_no_secret(err: BaseException) -> None:
    printed = "".join(traceback.format_exception(err)) + repr(err) + str(err)
    assert not any(secret in printed for secret in SECRETS)
    for obj in reachable(err):
        assert not isinstance(obj, httpx.Request), "an httpx request is reachable"
        text = obj.decode("latin-1") if isinstance(obj, bytes) else obj
        if isinstance(text, str):
            for secret in SECRETS:
                assert secret not in text


# -- parsing: RecursionError, ValueError, OverflowError, a zero window ----------------------


async def test_deeply_nested_error_body_is_unexpected_response() -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(SEGMENTS).respond(500, content=b"[" * 100_000 + b"]" * 100_000)
        async with make_client(router, max_retries=0) as client:
            with pytest.raises(moeseg.UnexpectedResponse, match="nests too deeply"):
                await client.list_segments()


@pytest.mark.parametrize(
    "error",
    [
        {
            "code": "Too many",
            "message": "API rate limit breached. Current limit: " + "9" * 5000 + "/1 mins",
        },
        {
            "code": "Too many",
            "message": "active segment limit",
            "actual_count": "²",
            "limit": "1000",
        },
        {"code": "Too many", "message": "Current limit: 50/0 mins"},
        {"code": "Too many", "message": "Current limit: 50/" + "9" * 400 + " days"},
    ],
)
async def test_unreadable_numbers_in_a_429_are_ignored(error: dict[str, Any]) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(SEGMENTS).respond(429, json={"response_id": "r", "error": error})
        async with make_client(router, max_retries=0) as client:
            with pytest.raises((moeseg.RateLimited, moeseg.ActiveSegmentLimit)) as caught:
                await client.list_segments()
    err = caught.value
    if isinstance(err, moeseg.RateLimited):
        assert err.window_seconds is None or 0 < err.window_seconds < 10**8
        assert err.limit is None or err.limit == 50
    else:
        assert err.actual_count is None
        assert err.limit == 1000


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-5", "1e400", "9" * 500, "lots"])
async def test_unreadable_rate_headers_never_lose_a_created_segment(value: str) -> None:
    from moeseg.governor import Governor, QuotaPolicy

    with respx.mock(assert_all_called=False) as router:
        headers = {
            k: value for k in ("x-ratelimit-remaining", "x-ratelimit-limit", "x-ratelimit-reset")
        }
        router.post(SEGMENTS).respond(200, json=segment_body(), headers=headers)
        governor = Governor(QuotaPolicy.moengage())
        async with make_client(router, governor=governor) as client:
            seg = await client.create_segment(sample_definition())
    assert seg.id == "seg-1"


# -- error-shaped or non-object 2xx bodies ---------------------------------------------------


BAD_2XX: list[Any] = [{"error": {"code": "x", "message": "down"}}, "ok", [], {}, None, 3]


@pytest.mark.parametrize("body", BAD_2XX)
async def test_list_segments_refuses_a_2xx_in_no_documented_shape(body: Any) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(SEGMENTS).respond(200, content=json.dumps(body).encode())
        async with make_client(router) as client:
            with pytest.raises(moeseg.UnexpectedResponse) as caught:
                await client.list_segments()
    assert caught.value.body == json.dumps(body)
    assert caught.value.status == 200


@pytest.mark.parametrize("body", [*BAD_2XX, {"success": False, "message": "nope"}])
async def test_file_create_and_archive_refuse_a_2xx_in_no_documented_shape(body: Any) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.post(FILE).respond(202, content=json.dumps(body).encode())
        router.patch(ARCHIVE).respond(200, content=json.dumps(body).encode())
        async with make_client(router) as client:
            with pytest.raises(moeseg.UnexpectedResponse):
                await client.create_file_segment(
                    "f",
                    "http://u.test",
                    "http://c.test",
                    moeseg.FileOptions("id"),
                    users=1,
                    expiry_time=7,
                )
            with pytest.raises(moeseg.UnexpectedResponse):
                await client.archive(name="f")


async def test_errors_keep_headers_without_cookies_and_the_body_without_secrets() -> None:
    with respx.mock(assert_all_called=False) as router:
        body = {"error": {"code": "Auth", "message": f"bad {AUTH}"}, "response_id": "r"}
        router.get(SEGMENTS).respond(
            401, json=body, headers={"x-request-id": "q1", "set-cookie": "s=1"}
        )
        async with make_client(router) as client:
            with pytest.raises(moeseg.AuthenticationError) as caught:
                await client.list_segments()
    err = caught.value
    assert err.headers["x-request-id"] == "q1"
    assert "set-cookie" not in err.headers
    assert "***" in err.body
    assert_no_secret(err)


# -- size cap ----------------------------------------------------------------------------------


async def test_a_gzip_bomb_is_cut_at_the_response_size_cap() -> None:
    bomb = gzip.compress(b"[" + b" " * (16 * 1024 * 1024) + b"]")  # 16 MiB in ~16 KiB
    with respx.mock(assert_all_called=False) as router:
        router.get(SEGMENTS).respond(200, content=bomb, headers={"content-encoding": "gzip"})
        async with make_client(router, max_response_bytes=1024 * 1024) as client:
            with pytest.raises(moeseg.ResponseTooLarge, match="max_response_bytes"):
                await client.list_segments()
            big = client.with_options(max_response_bytes=32 * 1024 * 1024)
            with pytest.raises(moeseg.UnexpectedResponse):  # read whole, then refused as a shape
                await big.list_segments()


# -- secrets and transports --------------------------------------------------------------------


class Exploding(httpx.AsyncBaseTransport):
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise self.exc


@pytest.mark.parametrize(
    "make_exc",
    [
        lambda r: RuntimeError(f"transport broke on {r.headers['Authorization']}"),
        lambda r: httpx.ReadTimeout(f"slow {r.headers['Authorization']}", request=r),
        lambda r: httpx.ConnectError("refused", request=r),
        lambda r: httpx.RemoteProtocolError(f"lost {API_KEY}", request=r),
        lambda r: ValueError("weird"),
    ],
)
async def test_any_transport_failure_is_typed_and_holds_no_secret(make_exc: Any) -> None:
    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise make_exc(request)

    governor = RecordingGovernor()
    async with Client(
        WORKSPACE, API_KEY, dc="01", transport=Transport(), governor=governor, max_retries=0
    ) as client:
        for call in (client.list_segments, lambda: client.create_segment(sample_definition())):
            with pytest.raises(moeseg.MoesegError) as caught:
                await call()
            err = caught.value
            assert isinstance(err, (moeseg.TransportError, moeseg.OutcomeUnknown))
            assert_no_secret(err)


# -- time scale (issue 12 §4) ------------------------------------------------------------------


async def test_time_scale_mismatch_with_the_sandbox_is_a_configuration_error() -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(SEGMENTS).respond(
            200, json=list_body(), headers={"x-moeseg-sandbox-time-scale": "1.0"}
        )
        governor = RecordingGovernor()
        governor._policy = _scaled(governor.policy, 0.001)
        async with make_client(router, governor=governor) as client:
            with pytest.raises(moeseg.ConfigurationError, match=r"time scale 1.*0\.001"):
                await client.list_segments()


async def test_matching_time_scale_passes() -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(SEGMENTS).respond(
            200, json=list_body(), headers={"x-moeseg-sandbox-time-scale": "1"}
        )
        async with make_client(router) as client:
            assert await client.list_segments() == []


def _scaled(policy: Any, factor: float) -> Any:
    """The policy with a ``time_scale`` (the governor's ``scaled`` once it has the attribute)."""
    if hasattr(policy, "time_scale") and hasattr(policy, "scaled"):
        return policy.scaled(factor)

    class Scaled:
        def __getattr__(self, name: str) -> Any:
            return getattr(policy, name)

        time_scale = factor

    return Scaled()


# -- fuzz: any answer -> a result or a moeseg error --------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda e: json.dumps({"error": e}).encode(), json_values),
    st.builds(lambda d: json.dumps({"data": d}).encode(), json_values),
    st.binary(max_size=64),
    st.just(b"[" * 5000),
)
header_values = st.sampled_from(["inf", "nan", "-1", "1e999", "10", "0", "x", "9" * 40, ""])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    status=st.sampled_from([200, 201, 202, 204, 400, 401, 404, 409, 412, 413, 429, 500, 503, 599]),
    body=bodies,
    remaining=header_values,
    scale=header_values,
    operation=st.sampled_from(["list", "get", "create", "file", "archive"]),
)
def test_fuzzed_server_answers_give_results_or_moeseg_errors(
    status: int, body: bytes, remaining: str, scale: str, operation: str
) -> None:
    import anyio

    async def main() -> None:
        headers = {"x-ratelimit-remaining": remaining, "x-moeseg-sandbox-time-scale": scale}
        with respx.mock(assert_all_called=False) as router:
            for method in ("GET", "POST", "PATCH"):
                router.route(method=method).respond(status, content=body, headers=headers)
            async with make_client(router, max_retries=0) as client:
                calls = {
                    "list": client.list_segments,
                    "get": lambda: client.get_segment("s1"),
                    "create": lambda: client.create_segment(sample_definition()),
                    "file": lambda: client.create_file_segment(
                        "f",
                        "http://u.test",
                        "http://c.test",
                        moeseg.FileOptions("id"),
                        users=1,
                        expiry_time=7,
                    ),
                    "archive": lambda: client.archive(name="x"),
                }
                try:
                    result = await calls[operation]()
                except moeseg.MoesegError as exc:
                    assert_no_secret(exc)
                else:
                    assert 200 <= status < 300
                    assert result is not None

    anyio.run(main)
