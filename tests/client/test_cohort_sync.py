"""Client.sync_cohort against the sandbox over the in-process ASGI transport (virtual time)."""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

import moeseg
from moeseg import Client
from moeseg._cohorts import (
    AccountSuspended,
    AppKeyMismatch,
    CohortNameWarning,
    CohortValidationError,
    MalformedBody,
    MissingAttribute,
    PayloadTooLarge,
    UidTooLarge,
    UnsupportedContentType,
    encode_body,
)
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import FaultConfig, Sandbox, SandboxConfig, ServerErrorFault

pytestmark = pytest.mark.anyio

PATH = "/v1/integrations/cohortsync"


@asynccontextmanager
async def asgi(sb: Sandbox, **kw: Any) -> AsyncIterator[Client]:
    async with Client(
        sb.workspace_id,
        sb.api_key,
        base_url="http://sandbox.test",
        transport=httpx.ASGITransport(app=sb.app),
        governor=Governor(QuotaPolicy.moengage()),
        **kw,
    ) as client:
        yield client


def bodies(sb: Sandbox) -> list[int]:
    return [r.status for r in sb.log if r.route == "cohort_sync"]


@pytest.mark.virtual_time
async def test_add_then_remove_creates_the_segment_and_keeps_its_members() -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        first = await client.sync_cohort("Fans", add=["a", "b", "c"])
        second = await client.sync_cohort("Fans", add=["d"], remove=["a", "zz"])
        listed = await client.list_segments("Fans")
    seg = sb.find("Fans")
    assert seg is not None
    assert seg.users == {"b", "c", "d"}
    assert seg.cohort_id == moeseg._cohorts.derive_cohort_id("Fans")
    assert (first.added, first.removed, first.requests) == (3, 0, 1)
    assert (second.added, second.removed, second.requests) == (1, 2, 2)
    assert [(s.type, s.source) for s in listed] == [("FILE", "COHORT_SYNC")]


@pytest.mark.virtual_time
async def test_bodies_are_cut_at_128000_bytes_end_to_end_unicode_included() -> None:
    sb = Sandbox()
    cohort = moeseg._cohorts.Cohort("Fans")
    uids = [f"ü-{i:06d}-é" for i in range(20_000)]
    whole = len(encode_body(cohort, "add_members", uids))
    async with asgi(sb) as client:
        result = await client.sync_cohort("Fans", add=uids)
    assert all(s == 200 for s in bodies(sb))
    assert result.requests == len(bodies(sb)) > 1
    assert result.requests * 128_000 >= whole
    seg = sb.find("Fans")
    assert seg is not None
    assert len(seg.users) == 20_000


@pytest.mark.virtual_time
async def test_a_uid_that_fits_no_body_is_refused_before_any_request() -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        with pytest.raises(UidTooLarge):
            await client.sync_cohort("Fans", add=["ok", "x" * 128_000])
        with pytest.raises(CohortValidationError, match="cohort_name"):
            await client.sync_cohort("a|b", add=["u"])
        with pytest.raises(CohortValidationError, match="uid"):
            await client.sync_cohort("Fans", remove=["ok", ""])
    assert sb.log == []


async def test_a_leading_dot_warns_and_is_sent() -> None:
    sb = Sandbox()
    async with asgi(sb) as client:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await client.sync_cohort(".hidden", add=["u"])
    assert [w.category for w in caught] == [CohortNameWarning]
    assert caught[0].filename == __file__
    assert sb.find(".hidden") is not None


@pytest.mark.virtual_time
async def test_300_a_minute_never_exceeded_under_concurrency() -> None:
    sb = Sandbox()
    start = anyio.current_time()

    async def worker(i: int) -> None:
        for n in range(40):
            await client.sync_cohort(f"C{i}", add=[f"{i}-{n}"], remove=[f"{i}-{n - 1}"])

    async with asgi(sb) as client, anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(worker, i)
    sent = bodies(sb)
    assert len(sent) == 8 * 40 * 2
    assert set(sent) == {200}
    assert sb.max_in_window("cohort_sync", 60.0) == 300
    assert sb.too_many_requests == {}
    # At full speed: each minute's 300 go as soon as the window lets them.
    assert anyio.current_time() - start < (len(sent) // 300 + 1) * 60.0


def _raw(status: int, err: dict[str, Any]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/json"
        assert request.headers["moe-appkey"] == "WS"
        json.loads(request.content)
        return httpx.Response(status, json={"status": "fail", "error": err})

    return httpx.MockTransport(answer)


DOCUMENTED: list[tuple[int, dict[str, Any], type[Exception]]] = [
    (400, {"attribute": "action", "message": "action is not found in the payload",
           "type": "MissingAttributeError", "request_id": "sYsoPuzf"}, MissingAttribute),
    (400, {"message": "Could not decode the request body. The JSON was incorrect or not encoded "
           "as UTF-8.", "type": "Malformed JSON", "request_id": "NphDCzWk"}, MalformedBody),
    (401, {"message": "App Secret key mismatch. Please login to the dashboard to verify key",
           "type": "Authentication required", "request_id": "skSFWvtW"},
     moeseg.AuthenticationError),
    (401, {"message": "Authentication Header Required", "type": "Authentication required",
           "request_id": "PiSPjGQQ"}, moeseg.AuthenticationError),
    (401, {"message": "App key mismatch in params and authentication",
           "type": "Authentication Mismatch", "request_id": "yEujHykb"}, AppKeyMismatch),
    (403, {"message": "Your account is suspended. Please contact MoEngage team.",
           "type": "BlockedClient", "request_id": "ofHUEaEQ"}, AccountSuspended),
    (403, {"message": "Your account is suspended. Please contact MoEngage team.",
           "type": "Account Suspended", "request_id": "gqJvCNYu"}, AccountSuspended),
    (403, {"message": "Your account is temporarily suspended. Please contact MoEngage team.",
           "type": "Account Temporarily Suspended", "request_id": "ssSJjoyD"},
     AccountSuspended),
    (413, {"message": "Payload can not exceed 128KB", "type": "Payload too large",
           "request_id": "VFzDwhwt"}, PayloadTooLarge),
    (415, {"message": "Content type is not supported", "type": "Unsupported media type",
           "request_id": "SgBQfKJh"}, UnsupportedContentType),
    (429, {"message": "Rate limits for customers exceeded. Please Try After Some Time",
           "type": "Rate Limits Exceeded", "request_id": "onqucLYL"}, moeseg.RateLimited),
    (500, {"message": "An unexpected error was encountered while processing this request. "
           "Please contact MoEngage Team", "type": "Server Error", "request_id": "KovrwJiF"},
     moeseg.ServerError),
]  # fmt: skip


@pytest.mark.virtual_time
@pytest.mark.parametrize(("status", "err", "kind"), DOCUMENTED)
async def test_every_documented_error_body_is_its_typed_error(
    status: int, err: dict[str, Any], kind: type[Exception]
) -> None:
    async with Client(
        "WS",
        "key-0123456789",
        base_url="http://cohort.test",
        transport=_raw(status, err),
        governor=Governor(QuotaPolicy.moengage()),
        max_retries=1,
    ) as client:
        with pytest.raises(kind) as caught:
            await client.sync_cohort("Fans", add=["u1"])
    assert type(caught.value) is kind
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert caught.value.response_id == err["request_id"]  # type: ignore[attr-defined]


@pytest.mark.virtual_time
async def test_sandbox_refusals_arrive_typed() -> None:
    sb = Sandbox(SandboxConfig(suspended={"SANDBOX_WORKSPACE": "Account Temporarily Suspended"}))
    async with asgi(sb) as client:
        with pytest.raises(AccountSuspended) as caught:
            await client.sync_cohort("Fans", add=["u"])
    assert caught.value.temporary
    assert bodies(sb) == [403]


@pytest.mark.virtual_time
async def test_a_server_error_after_processing_is_retried_as_the_same_action() -> None:
    rule = ServerErrorFault(status=503, when="after", routes={"cohort_sync"}, times=2)
    sb = Sandbox(SandboxConfig(faults=FaultConfig((rule,))))
    async with asgi(sb) as client:
        result = await client.sync_cohort("Fans", add=["a", "b"])
    assert bodies(sb) == [503, 503, 200]
    assert result.added == 2
    seg = sb.find("Fans")
    assert seg is not None
    assert seg.users == {"a", "b"}


@pytest.mark.virtual_time
async def test_a_remove_waits_until_an_unknown_add_of_its_uid_can_no_longer_arrive() -> None:
    rule = ServerErrorFault(status=503, when="after", routes={"cohort_sync"}, times=1)
    sb = Sandbox(SandboxConfig(faults=FaultConfig((rule,))))
    async with asgi(sb, max_retries=0, timeout=10.0) as client:
        with pytest.raises(moeseg.ServerError):
            await client.sync_cohort("Fans", add=["a", "b"])
        failed_at = anyio.current_time()
        await client.sync_cohort("Fans", remove=["a"])
        waited = anyio.current_time() - failed_at
        await client.sync_cohort("Fans", add=["c"])  # no shared uid: goes at once
        after = anyio.current_time() - failed_at
    assert waited >= 15.0  # its timeout (10 s) + 5 s margin: the add cannot land after it
    assert after == pytest.approx(waited, abs=0.5)
    seg = sb.find("Fans")
    assert seg is not None
    assert seg.users == {"b", "c"}


@pytest.mark.virtual_time
async def test_a_remove_that_would_wait_past_max_wait_is_refused_unsent() -> None:
    rule = ServerErrorFault(status=503, when="after", routes={"cohort_sync"}, times=1)
    sb = Sandbox(SandboxConfig(faults=FaultConfig((rule,))))
    async with asgi(sb, max_retries=0, timeout=10.0, max_wait=1.0) as client:
        with pytest.raises(moeseg.ServerError):
            await client.sync_cohort("Fans", add=["a"])
        with pytest.raises(moeseg._cohorts.OppositeActionPending) as caught:
            await client.sync_cohort("Fans", remove=["a"])
    assert caught.value.uid == "a"
    assert bodies(sb) == [503]


@pytest.mark.virtual_time
async def test_a_body_of_exactly_128000_bytes_is_one_request_and_one_more_uid_is_two() -> None:
    sb = Sandbox()
    cohort = moeseg._cohorts.Cohort("Fans")
    base = len(encode_body(cohort, "remove_members", ["é"]))
    exact = "é" + "x" * (128_000 - base)  # a remove of it alone is exactly the limit
    assert len(encode_body(cohort, "remove_members", [exact])) == 128_000
    async with asgi(sb) as client:
        one = await client.sync_cohort("Fans", remove=[exact])
        two = await client.sync_cohort("Fans", remove=[exact, "y"])
        three = await client.sync_cohort("Fans", add=[exact, "y"])
    assert (one.requests, two.requests, three.requests) == (1, 2, 2)
    assert set(bodies(sb)) == {200}
    seg = sb.find("Fans")
    assert seg is not None
    assert seg.users == {exact, "y"}
