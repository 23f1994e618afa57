"""The callback receiver: tokens, replays, sizes, shapes, and many handles pending at once."""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

import moeseg
from moeseg.files import (
    CallbackReceiver,
    CallbackTimeout,
    FileSegmentFailed,
    FileSegmentHandle,
    FileSegmentOutcome,
)

pytestmark = pytest.mark.anyio

BASE = "http://receiver.test/moengage/callbacks"
SUCCESS = {
    "db_name": "test_db",
    "segment_name": "gaids",
    "request_id": "d5a263c4ef1198ae3d8496c0460f570f",
    "values_found": 80,
    "values_processed": 70,
    "user_count": 60,
    "status": 201,
}


@pytest.fixture
def receiver() -> CallbackReceiver:
    return CallbackReceiver(public_url=BASE + "/", max_body_bytes=1024)


@pytest.fixture
async def http(receiver: CallbackReceiver) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport) as client:
        yield client


async def post(http: httpx.AsyncClient, url: str, body: Any) -> httpx.Response:
    return await http.post(url, json=body)


def split(handle: FileSegmentHandle) -> tuple[str, str]:
    op_id, secret = handle.callback_url.rsplit("/", 1)[1].split(".")
    return op_id, secret


async def test_a_callback_resolves_its_handle(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    assert handle.callback_url.startswith(BASE + "/")
    assert not handle.done()
    assert receiver.pending == 1
    resp = await post(http, handle.callback_url, SUCCESS)
    assert resp.status_code == 200
    assert resp.json() == {"ok": True, "message": "callback received"}
    outcome = await handle.wait(timeout=5)
    assert outcome == FileSegmentOutcome(
        operation="create",
        segment_name="gaids",
        status=201,
        values_found=80,
        values_processed=70,
        user_count=60,
        request_id="d5a263c4ef1198ae3d8496c0460f570f",
        db_name="test_db",
    )
    assert outcome.ok
    assert handle.done()
    assert handle.outcome is outcome
    assert receiver.pending == 0


async def test_tokens_are_fresh_long_and_hidden_from_repr(receiver: CallbackReceiver) -> None:
    handles = [receiver.expect("add_users", "gaids") for _ in range(50)]
    tokens = {split(h) for h in handles}
    assert len({op for op, _ in tokens}) == 50
    assert len({secret for _, secret in tokens}) == 50
    assert all(len(secret) >= 43 for _, secret in tokens)  # token_urlsafe(32): 256 bits
    _, secret = split(handles[0])
    assert secret not in repr(handles[0])
    assert secret not in repr(receiver)


async def test_a_forged_secret_is_refused_and_records_nothing(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    op_id, secret = split(handle)
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    resp = await post(http, f"{BASE}/{op_id}.{forged}", SUCCESS)
    assert resp.status_code == 404
    assert resp.json() == {"ok": False, "error": "unknown callback token"}
    assert not handle.done()
    for bad in (f"{BASE}/{op_id}", f"{BASE}/{op_id}.", f"{BASE}/", f"{BASE}/.{secret}"):
        assert (await post(http, bad, SUCCESS)).status_code == 404, bad
    assert not handle.done()
    assert (await post(http, handle.callback_url, SUCCESS)).status_code == 200
    assert handle.done()


async def test_an_unknown_token_is_refused(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    _, secret = split(handle)
    resp = await post(http, f"{BASE}/0123456789abcdef.{secret}", SUCCESS)
    assert resp.status_code == 404
    assert not handle.done()


async def test_a_replay_is_refused_and_the_first_outcome_stays(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    assert (await post(http, handle.callback_url, SUCCESS)).status_code == 200
    replay = await post(http, handle.callback_url, {**SUCCESS, "status": 500, "user_count": 0})
    assert replay.status_code == 409
    assert replay.json()["error"] == "callback already received (replay refused)"
    outcome = await handle.wait(timeout=5)
    assert outcome.status == 201
    assert outcome.user_count == 60
    # A forged secret on a used id is still just unknown.
    op_id, _ = split(handle)
    assert (await post(http, f"{BASE}/{op_id}.forged", SUCCESS)).status_code == 404


async def test_used_tokens_are_remembered_up_to_a_bound(http: httpx.AsyncClient) -> None:
    receiver = CallbackReceiver(public_url=BASE, remembered_tokens=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http:
        handles = [receiver.expect("create", "gaids") for _ in range(3)]
        for h in handles:
            assert (await post(http, h.callback_url, SUCCESS)).status_code == 200
        # The oldest used token is forgotten (404), the two recent ones are known replays (409).
        codes = [(await post(http, h.callback_url, SUCCESS)).status_code for h in handles]
    assert codes == [404, 409, 409]


async def test_a_callback_for_another_segment_is_refused(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    resp = await post(http, handle.callback_url, {**SUCCESS, "segment_name": "other"})
    assert resp.status_code == 403
    assert resp.json()["error"] == "callback names a segment this token was not issued for"
    assert not handle.done()
    assert receiver.pending == 1


async def test_an_oversized_body_is_refused(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    resp = await post(http, handle.callback_url, {**SUCCESS, "padding": "x" * 2000})
    assert resp.status_code == 413
    assert resp.json()["error"] == "callback body above 1024 bytes"
    assert not handle.done()


async def test_an_oversized_streamed_body_is_refused_without_reading_it_all(
    receiver: CallbackReceiver,
) -> None:
    handle = receiver.expect("create", "gaids")
    path = "/moengage/callbacks/" + handle.callback_url.rsplit("/", 1)[1]
    chunks = [b"{" + b" " * 600] * 10  # no content-length: chunked upload
    served = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal served
        served += 1
        return {"type": "http.request", "body": chunks[served - 1], "more_body": served < 10}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    await receiver(scope, receive, send)
    assert sent[0]["status"] == 413
    assert served == 2  # stopped at the first chunk past the limit
    assert not handle.done()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "malformed JSON: Expecting property name enclosed in double quotes"),
        (b"", "malformed JSON: Expecting value: line 1 column 1 (char 0)"),
        (b"\xff\xfe", "malformed JSON:"),
        (b"[1, 2]", "callback body must be a JSON object, not list"),
        (b'"ok"', "callback body must be a JSON object, not str"),
        (
            b"{}",
            "invalid callback body: status: required field missing; "
            "segment_name: required field missing",
        ),
        (
            json.dumps({**SUCCESS, "status": "201"}).encode(),
            "invalid callback body: status: expected an integer, got str",
        ),
        (
            json.dumps({**SUCCESS, "status": True}).encode(),
            "invalid callback body: status: expected an integer, got bool",
        ),
        (
            json.dumps({**SUCCESS, "user_count": 6.5, "request_id": 7}).encode(),
            "invalid callback body: request_id: expected a string, got int; "
            "user_count: expected an integer, got float",
        ),
        (
            json.dumps({"status": 201}).encode(),
            "invalid callback body: segment_name: required field missing",
        ),
        (
            json.dumps({**SUCCESS, "segment_name": ["gaids"]}).encode(),
            "invalid callback body: segment_name: expected a string, got list",
        ),
    ],
)
async def test_malformed_bodies_are_refused_with_a_clear_message(
    receiver: CallbackReceiver, http: httpx.AsyncClient, body: bytes, error: str
) -> None:
    handle = receiver.expect("create", "gaids")
    resp = await http.post(handle.callback_url, content=body)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith(error)
    assert not handle.done()
    assert (await post(http, handle.callback_url, SUCCESS)).status_code == 200


async def test_only_post_is_accepted(receiver: CallbackReceiver, http: httpx.AsyncClient) -> None:
    handle = receiver.expect("create", "gaids")
    resp = await http.get(handle.callback_url)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    assert not handle.done()


async def test_a_failure_callback_raises_a_typed_error(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("add_users", "gaids")
    body = {
        "db_name": "test_db",
        "segment_name": "gaids",
        "request_id": "c8e0",
        "status": 400,
        "error_message": "File download failed. Created custom_segment contains 0 users.",
    }
    assert (await post(http, handle.callback_url, body)).status_code == 200
    with pytest.raises(FileSegmentFailed) as info:
        await handle.wait(timeout=5)
    err = info.value
    assert isinstance(err, moeseg.MoesegError)
    assert err.status == 400
    assert err.error_message == body["error_message"]
    assert err.segment_name == "gaids"
    assert err.outcome.operation == "add_users"
    assert str(err) == (
        "add_users of file segment 'gaids' failed: 400 File download failed. Created "
        "custom_segment contains 0 users. (request_id=c8e0)"
    )
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


async def test_legacy_callback_bodies_are_understood(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    ok = receiver.expect("legacy_csv", "TEST")
    failed = receiver.expect("legacy_csv", "TEST")
    legacy_ok = {
        "status": 201,
        "values_found": 16,
        "values_processed": 16,
        "request_id": "d5a263c4ef1198ae3d8496c0460f570f",
        "user_count": 40,
        "segment_name": "TEST",
    }
    legacy_500 = {
        "status": 500,
        "error_message": "Internal Server Error. Contact MoEngage Team",
        "segment_name": "TEST",
    }
    assert (await post(http, ok.callback_url, legacy_ok)).status_code == 200
    assert (await post(http, failed.callback_url, legacy_500)).status_code == 200
    outcome = await ok.wait(timeout=5)
    assert (outcome.values_found, outcome.user_count, outcome.db_name) == (16, 40, None)
    with pytest.raises(FileSegmentFailed) as info:
        await failed.wait(timeout=5)
    assert info.value.status == 500
    assert info.value.request_id is None


@pytest.mark.virtual_time
async def test_wait_times_out_and_can_be_waited_again(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    with pytest.raises(CallbackTimeout) as info:
        await handle.wait(timeout=3600)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, moeseg.MoesegError)
    assert str(info.value) == (
        "no callback for the create of file segment 'gaids' within 3600s "
        "(MoEngage may still be processing the file)"
    )
    assert not handle.done()
    assert (await post(http, handle.callback_url, SUCCESS)).status_code == 200
    assert (await handle.wait(timeout=1)).user_count == 60


async def test_many_pending_handles_resolve_with_their_own_outcomes(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    n = 200
    handles = [receiver.expect("add_users", f"seg-{i}") for i in range(n)]
    results: dict[int, int] = {}
    failures: dict[int, int] = {}

    async def waiter(i: int) -> None:
        try:
            results[i] = (await handles[i].wait(timeout=30)).user_count or 0
        except FileSegmentFailed as exc:
            failures[i] = exc.status

    async def callback(i: int) -> None:
        status = 500 if i % 7 == 0 else 201
        body = {"segment_name": f"seg-{i}", "status": status, "user_count": i * 3}
        assert (await post(http, handles[i].callback_url, body)).status_code == 200

    order = list(range(n))
    random.Random(8).shuffle(order)
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(waiter, i)
        for i in order:
            tg.start_soon(callback, i)
    assert failures == {i: 500 for i in range(n) if i % 7 == 0}
    assert results == {i: i * 3 for i in range(n) if i % 7 != 0}
    assert receiver.pending == 0


async def test_several_tasks_can_wait_on_one_handle(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    handle = receiver.expect("create", "gaids")
    got: list[int | None] = []

    async def waiter() -> None:
        got.append((await handle.wait(timeout=30)).user_count)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(waiter)
        await anyio.sleep(0)
        await post(http, handle.callback_url, SUCCESS)
    assert got == [60, 60, 60]


async def test_a_discarded_handle_refuses_its_callback(
    receiver: CallbackReceiver, http: httpx.AsyncClient
) -> None:
    keep = receiver.expect("create", "keep")
    gone = receiver.expect("create", "gone")
    receiver.discard(gone)
    assert receiver.pending == 1
    body = {**SUCCESS, "segment_name": "gone"}
    assert (await post(http, gone.callback_url, body)).status_code == 404
    assert not keep.done()


async def test_expect_needs_a_public_url() -> None:
    with pytest.raises(moeseg.ConfigurationError, match="no public URL"):
        CallbackReceiver().expect("create", "gaids")


async def test_mounted_in_starlette() -> None:
    receiver = CallbackReceiver(public_url="http://app.test/hooks/moengage")
    app = Starlette(routes=[Mount("/hooks/moengage", app=receiver)])
    handle = receiver.expect("replace_users", "gaids")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        assert (await post(http, handle.callback_url, SUCCESS)).status_code == 200
    assert (await handle.wait(timeout=5)).values_processed == 70


async def test_lifespan_is_acknowledged(receiver: CallbackReceiver) -> None:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await receiver({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_served_on_loopback() -> None:
    """Real HTTP on 127.0.0.1: uvicorn in its own thread hands callbacks to this loop."""
    receiver = CallbackReceiver()
    async with receiver.serve(port=0) as url:
        assert url.startswith("http://127.0.0.1:")
        assert receiver.public_url == url
        handles = [receiver.expect("create", f"seg-{i}") for i in range(5)]
        async with httpx.AsyncClient() as http:
            for i, h in enumerate(handles):
                body = {**SUCCESS, "segment_name": f"seg-{i}", "user_count": i}
                assert (await post(http, h.callback_url, body)).status_code == 200
            assert (await post(http, handles[0].callback_url, SUCCESS)).status_code == 409
            assert (await http.post(url + "/x.y", content=b"{}")).status_code == 404
        counts = [(await h.wait(timeout=10)).user_count for h in handles]
    assert counts == [0, 1, 2, 3, 4]
    assert receiver.public_url is None


async def test_an_error_inside_serve_comes_out_as_itself() -> None:
    # Not wrapped in an ExceptionGroup by the portal: `except FileSegmentFailed` must work.
    receiver = CallbackReceiver()
    failed = FileSegmentFailed(FileSegmentOutcome("add_users", "vip", 400, error_message="x"))
    with pytest.raises(FileSegmentFailed) as caught:
        async with receiver.serve(port=0):
            raise failed
    assert caught.value is failed
    assert receiver.public_url is None


async def test_served_once_at_a_time_and_keeps_a_given_public_url() -> None:
    receiver = CallbackReceiver(public_url="https://hooks.example.com/moengage")
    async with receiver.serve(port=0) as url:
        assert receiver.public_url == "https://hooks.example.com/moengage"
        with pytest.raises(RuntimeError, match="already being served"):
            async with receiver.serve(port=0):
                pass
        handle = receiver.expect("create", "gaids")
        token = handle.callback_url.rsplit("/", 1)[1]
        async with httpx.AsyncClient() as http:
            assert (await post(http, f"{url}/{token}", SUCCESS)).status_code == 200
        assert (await handle.wait(timeout=10)).status == 201
    assert receiver.public_url == "https://hooks.example.com/moengage"


async def test_a_sender_leaving_mid_body_records_nothing(receiver: CallbackReceiver) -> None:
    handle = receiver.expect("create", "gaids")
    path = "/moengage/callbacks/" + handle.callback_url.rsplit("/", 1)[1]
    whole = json.dumps(SUCCESS).encode()
    incoming = [
        {"type": "http.request", "body": whole, "more_body": True},  # valid JSON so far
        {"type": "http.disconnect"},
    ]
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await receiver({"type": "http", "method": "POST", "path": path, "headers": []}, receive, send)
    assert sent == []
    assert not handle.done()
    assert receiver.pending == 1


async def test_one_event_loop_thread_per_receiver(receiver: CallbackReceiver) -> None:
    """Handles belong to one loop: another thread may neither register nor resolve them."""
    handle = receiver.expect("create", "gaids")
    path = "/moengage/callbacks/" + handle.callback_url.rsplit("/", 1)[1]
    sent: list[Any] = []

    async def deliver_from_elsewhere() -> None:
        async def receive() -> Any:
            return {"type": "http.request", "body": json.dumps(SUCCESS).encode()}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "headers": []}
        await receiver(scope, receive, send)

    def expect_elsewhere() -> None:
        async def expect() -> None:
            receiver.expect("create", "other")

        anyio.run(expect)

    await anyio.to_thread.run_sync(anyio.run, deliver_from_elsewhere)
    assert sent[0]["status"] == 503
    assert json.loads(sent[1]["body"]) == {
        "ok": False,
        "error": "receiver runs outside the event loop that awaits its handles",
    }
    assert not handle.done()
    with pytest.raises(RuntimeError, match="serves the event loop of one thread"):
        await anyio.to_thread.run_sync(expect_elsewhere)
    assert receiver.pending == 1


async def test_a_deeply_nested_body_is_refused_and_the_receiver_stays_up() -> None:
    """Nesting past the JSON parser's recursion limit, with a valid token: 400, not 503."""
    receiver = CallbackReceiver()
    async with receiver.serve(port=0):
        handle = receiver.expect("create", "gaids")
        async with httpx.AsyncClient() as http:
            deep = await http.post(handle.callback_url, content=b"[" * 50_000)
            assert deep.status_code == 400
            assert deep.json() == {"ok": False, "error": "malformed JSON: nested too deeply"}
            assert not handle.done()
            assert (await post(http, handle.callback_url, SUCCESS)).status_code == 200
        assert (await handle.wait(timeout=10)).status == 201


async def test_a_slow_drip_connection_is_closed_after_the_read_timeout() -> None:
    receiver = CallbackReceiver(read_timeout=0.2)
    async with receiver.serve(port=0) as url:
        port = int(url.rsplit(":", 1)[1])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"POST /x.y HTTP/1.1\r\nHost: x\r\n")  # headers never finish
            with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await stream.receive()


@pytest.mark.virtual_time
async def test_a_body_that_never_finishes_is_answered_408() -> None:
    receiver = CallbackReceiver(public_url=BASE, read_timeout=10.0)
    handle = receiver.expect("create", "gaids")
    path = "/moengage/callbacks/" + handle.callback_url.rsplit("/", 1)[1]
    sent: list[Any] = []
    calls = 0

    async def receive() -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            await anyio.sleep_forever()
        return {"type": "http.request", "body": b'{"status": 2', "more_body": True}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    await receiver(scope, receive, send)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {
        "ok": False,
        "error": "callback body not received within 10 s",
    }
    assert not handle.done()
