"""Which failures are retried and which never are, with backoff measured in virtual time."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
import respx

import moeseg
from moeseg import Client
from moeseg.client._retry import Backoff

from .conftest import (
    BASE,
    NAME_EXISTS,
    RecordingGovernor,
    sample_definition,
    segment_body,
    v3_error,
)

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

CREATE = f"{BASE}/v3/custom-segments"
SERVER_ERROR = v3_error("Internal Server Error", "An unexpected error was encountered")
RATE_LIMITED = v3_error("Too Many Requests", "API rate limit breached. Current limit: 50/1 mins")
ACTIVE_LIMIT = v3_error(
    "Too Many Requests",
    "Total active segments limit breached. Request rejected!",
    actual_count=1001,
    limit=1000,
)


def backoff_bounds(retries: int) -> tuple[float, float]:
    """Total sleep of ``retries`` retries with the default backoff: each in [d/2, d]."""
    full = sum(min(20.0, 0.5 * 2.0 ** (n - 1)) for n in range(1, retries + 1))
    return full / 2, full


TRANSIENT: list[Any] = [
    pytest.param(httpx.Response(500, json=SERVER_ERROR), id="500-json"),
    pytest.param(httpx.Response(502, text="<html>Bad Gateway</html>"), id="502-html"),
    pytest.param(httpx.Response(503, content=b""), id="503-empty"),
    pytest.param(httpx.Response(504, text="upstream timed out"), id="504-text"),
    pytest.param(httpx.ConnectError("refused"), id="connect-error"),
    pytest.param(httpx.ConnectTimeout("slow connect"), id="connect-timeout"),
    pytest.param(httpx.PoolTimeout("pool"), id="pool-timeout"),
    pytest.param(httpx.ReadTimeout("slow read"), id="read-timeout"),
    pytest.param(httpx.WriteTimeout("slow write"), id="write-timeout"),
    pytest.param(httpx.ReadError("reset by peer"), id="read-error"),
    pytest.param(httpx.RemoteProtocolError("server disconnected"), id="remote-protocol"),
]


@pytest.mark.parametrize("failure", TRANSIENT)
async def test_transient_failures_are_retried_with_backoff(
    client: Client, router: respx.MockRouter, failure: Any
) -> None:
    route = router.get(f"{BASE}/v3/custom-segments/seg-1")
    route.side_effect = [failure, failure, httpx.Response(200, json=segment_body())]
    start = anyio.current_time()
    segment = await client.get_segment("seg-1")
    elapsed = anyio.current_time() - start
    assert segment.id == "seg-1"
    assert route.call_count == 3
    low, high = backoff_bounds(2)
    assert low <= elapsed <= high


async def test_retries_are_bounded(client: Client, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/v3/custom-segments/seg-1").respond(503, json=SERVER_ERROR)
    start = anyio.current_time()
    with pytest.raises(moeseg.ServerError) as info:
        await client.with_options(max_retries=3).get_segment("seg-1")
    assert route.call_count == 4
    low, high = backoff_bounds(3)
    assert low <= anyio.current_time() - start <= high
    assert info.value.status == 503


async def test_default_is_four_retries(client: Client, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/v3/custom-segments/seg-1")
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(moeseg.RequestTimeout) as info:
        await client.get_segment("seg-1")
    assert route.call_count == 5
    assert (info.value.method, info.value.path) == ("GET", "/v3/custom-segments/seg-1")


async def test_html_5xx_exhausted_is_an_unexpected_response(
    client: Client, router: respx.MockRouter
) -> None:
    router.get(f"{BASE}/v3/custom-segments/seg-1").respond(502, text="<html>Bad Gateway</html>")
    with pytest.raises(moeseg.UnexpectedResponse) as info:
        await client.with_options(max_retries=1).get_segment("seg-1")
    assert info.value.status == 502
    assert info.value.excerpt == "<html>Bad Gateway</html>"


NEVER: list[Any] = [
    pytest.param(400, v3_error("Invalid request", "Invalid request format."), moeseg.BadRequest),
    pytest.param(
        401,
        v3_error("Authentication required", "APP_SECRET key mismatch"),
        moeseg.AuthenticationError,
    ),
    pytest.param(403, v3_error("Forbidden operation", "no"), moeseg.PermissionDenied),
    pytest.param(404, v3_error("Entity Not Found", "Custom segment not found"), moeseg.NotFound),
    pytest.param(409, NAME_EXISTS, moeseg.NameConflict),
    pytest.param(
        409,
        v3_error("Resource not created", "given filters", existing_cs_id="x", existing_cs_name="y"),
        moeseg.DefinitionConflict,
    ),
    pytest.param(412, v3_error("Cyclic Entity", "Circular reference"), moeseg.CyclicReference),
    pytest.param(413, v3_error("Query length limit exceeded", "too large"), moeseg.QueryTooComplex),
    pytest.param(429, ACTIVE_LIMIT, moeseg.ActiveSegmentLimit),
]


@pytest.mark.parametrize(("status", "body", "cls"), NEVER)
async def test_never_retried(
    client: Client,
    router: respx.MockRouter,
    governor: RecordingGovernor,
    status: int,
    body: dict[str, Any],
    cls: type[Exception],
) -> None:
    route = router.post(CREATE).respond(status, json=body)
    start = anyio.current_time()
    with pytest.raises(cls) as info:
        await client.create_segment(sample_definition())
    assert route.call_count == 1
    assert anyio.current_time() == start
    assert getattr(info.value, "status", None) == status
    assert governor.rate_limited == []
    assert governor.settled == ["complete"]


async def test_success_with_an_unreadable_body_is_not_retried(
    client: Client, router: respx.MockRouter
) -> None:
    """Not resent: the create did happen; the lookup settles it (here it finds nothing)."""
    route = router.post(CREATE).respond(201, text="<html>Created</html>")
    router.get(CREATE, params={"name": "segment_example_name"}).respond(200, json={"data": []})
    with pytest.raises(moeseg.OutcomeUnknown) as info:
        await client.create_segment(sample_definition())
    assert route.call_count == 1
    last = info.value.last_error
    assert isinstance(last, moeseg.UnexpectedResponse)
    assert last.status == 201


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"name": 7}},
        {"data": [1, 2]},
        {"segment": {}},
        [],
        {"data": {"id": "x", "name": "n", "included_filters": {"filters": "nope"}}},
    ],
)
async def test_success_in_a_wrong_shape_is_unexpected_not_a_key_error(
    client: Client, router: respx.MockRouter, body: Any
) -> None:
    router.get(f"{CREATE}/s1").respond(200, json=body)
    with pytest.raises(moeseg.UnexpectedResponse) as info:
        await client.get_segment("s1")
    assert info.value.status == 200
    assert info.value.excerpt == json.dumps(body, separators=(",", ":"))[:200]
    assert info.value.__cause__ is None
    assert info.value.__context__ is None  # no converter traceback chained


async def test_rate_limit_is_reported_then_retried_without_backoff(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.post(CREATE)
    route.side_effect = [
        httpx.Response(429, json=RATE_LIMITED),
        httpx.Response(201, json=segment_body()),
    ]
    start = anyio.current_time()
    segment = await client.create_segment(sample_definition())
    assert segment.recovered is False
    assert route.call_count == 2
    assert governor.rate_limited == [("segments", 60.0)]
    assert anyio.current_time() == start  # the governor does the waiting, not a backoff
    assert governor.demands == [{"segments": 1}, {"segments": 1}]
    assert governor.settled == ["complete", "complete"]


async def test_rate_limit_on_file_ops_pauses_the_request_group_only(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    limited = {
        "title": "Too Many Requests",
        "description": "File segment operations limit breached. Please retry after some time.",
    }
    route = router.post(f"{BASE}/v2/custom-segments/file-segment").respond(429, json=limited)
    with pytest.raises(moeseg.RateLimited) as info:
        await client.with_options(max_retries=2).create_file_segment(
            "f",
            "http://u.test",
            "http://c.test",
            users=10,
            file=moeseg.FileOptions("id"),
            expiry_time=7,
        )
    assert route.call_count == 3
    assert governor.rate_limited == [("file_ops", None)] * 3
    assert info.value.window_seconds is None


async def test_rate_limit_without_a_quota_group_backs_off(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.patch(f"{BASE}/v2/custom-segments/archive")
    route.side_effect = [
        httpx.Response(429, json={"title": "Too Many Requests", "description": "slow down"}),
        httpx.Response(200, json={"message": "ok", "success": True}),
    ]
    start = anyio.current_time()
    await client.archive(name="x")
    assert route.call_count == 2
    assert anyio.current_time() - start >= 0.25
    assert governor.rate_limited == []


async def test_lease_is_refunded_only_when_nothing_was_sent(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.get(f"{BASE}/v3/custom-segments/seg-1")
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.PoolTimeout("pool"),
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.Response(500, json=SERVER_ERROR),
        httpx.Response(200, json=segment_body()),
    ]
    await client.with_options(max_retries=6).get_segment("seg-1")
    assert governor.settled == [
        "refund",
        "refund",
        "refund",
        "complete",
        "complete",
        "complete",
        "complete",
    ]


async def test_rate_limit_headers_are_observed(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    headers = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "30"}
    router.get(f"{BASE}/v3/custom-segments").respond(200, json={"data": []}, headers=headers)
    await client.list_segments()
    assert len(governor.observed) == 1
    group, seen = governor.observed[0]
    assert group == "segments"
    assert seen["x-ratelimit-remaining"] == "12"


async def test_no_rate_limit_headers_nothing_observed(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    router.get(f"{BASE}/v3/custom-segments").respond(200, json={"data": []})
    await client.list_segments()
    assert governor.observed == []


async def test_legacy_retries_only_known_outcomes(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.post("https://api.moengage.com/csv_segment")
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.Response(500, json={"status": 500, "error_message": "Internal Server Error"}),
    ]
    with (
        pytest.warns(DeprecationWarning, match="deprecated"),
        pytest.raises(moeseg.ServerError),
    ):
        await client.legacy_csv_segment(
            "S", "http://u.test", "http://c.test", file=moeseg.FileOptions("email")
        )
    assert route.call_count == 2
    assert governor.settled == ["refund", "complete"]
    assert governor.demands == [{"file_ops": 1}, {"file_ops": 1}]


async def test_timeout_bounds_an_attempt_even_when_the_transport_hangs(
    router: respx.MockRouter,
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(3600)
        raise AssertionError("unreachable")

    governor = RecordingGovernor()
    async with Client(
        "WS1",
        "key",
        dc="01",
        governor=governor,
        timeout=10.0,
        max_retries=1,
        transport=httpx.MockTransport(hang),
    ) as c:
        start = anyio.current_time()
        with pytest.raises(moeseg.RequestTimeout):
            await c.get_segment("seg-1")
        elapsed = anyio.current_time() - start
    assert 20.0 + 0.25 <= elapsed <= 20.0 + 0.5 + 1e-6
    assert governor.settled == ["complete", "complete"]


def test_backoff_is_capped_exponential_with_jitter() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    assert [backoff.delay(n, lambda: 0.0) for n in range(1, 7)] == [0.25, 0.5, 1, 2, 4, 4]
    assert [backoff.delay(n, lambda: 1.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]
    delays = {backoff.delay(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(1.0 <= d <= 2.0 for d in delays)


async def test_other_httpx_errors_are_transport_errors_never_retried(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.get(f"{BASE}/v3/custom-segments/seg-1")
    route.side_effect = httpx.DecodingError("bad gzip stream")
    with pytest.raises(moeseg.TransportError) as info:
        await client.get_segment("seg-1")
    assert type(info.value) is moeseg.TransportError
    assert "DecodingError" in str(info.value)
    assert route.call_count == 1
    assert governor.settled == ["complete"]
