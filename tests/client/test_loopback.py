"""Over real sockets on 127.0.0.1: cancellation leaves pool and governor healthy; no leaks."""

from __future__ import annotations

import base64
import logging
import pickle
import traceback
import uuid
from collections.abc import Iterator

import anyio
import pytest

import moeseg
from moeseg import Client
from moeseg.client._retry import Backoff
from moeseg.governor import Governor, QuotaGroup, QuotaPolicy, Window

from .conftest import API_KEY, LEGACY_SECRET, list_body, sample_definition, segment_body
from .loopback import Answer, LoopbackServer, Seen, closed_port, json_answer, serve

# Real servers on loopback: in `make test`, outside `make test-fast`.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOKEN = base64.b64encode(f"WS-loop:{API_KEY}".encode()).decode()
SECRETS = (API_KEY, TOKEN, LEGACY_SECRET)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with serve() as s:
        yield s


def fast_policy() -> QuotaPolicy:
    """High limits over short windows: nothing ever waits, and slots free within 0.1 s."""
    policy = QuotaPolicy.moengage()
    for name in ("segments", "segment_reads", "file_ops"):
        policy = policy.with_group(QuotaGroup(name, (Window(100_000, 0.1),)))
    return policy


def slow(seen: Seen) -> Answer:
    return json_answer(200, segment_body(seg_id="slow"))


async def test_cancelling_hundreds_of_calls_leaves_pool_and_governor_healthy(
    server: LoopbackServer,
) -> None:
    def blocked(seen: Seen) -> Answer:
        server.release.wait(timeout=5)
        return slow(seen)

    server.routes[("GET", "/v3/custom-segments/slow")] = blocked
    server.routes[("GET", "/v3/custom-segments/fast")] = lambda s: json_answer(
        200, segment_body(seg_id="fast")
    )
    governor = Governor(fast_policy())
    async with Client(
        "WS-loop", API_KEY, base_url=server.base_url, governor=governor, timeout=5.0
    ) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(client.get_segment, "slow")
            with anyio.fail_after(5):
                while len(server.seen) < 100:  # the pool's 100 connections are all busy
                    await anyio.sleep(0.01)
            assert governor.in_flight == 200
            tg.cancel_scope.cancel()
        assert governor.in_flight == 0
        assert governor.waiting == 0
        server.release.set()
        results: list[str] = []

        async def fetch() -> None:
            results.append((await client.get_segment("fast")).id)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(fetch)
        assert results == ["fast"] * 100
        await anyio.sleep(0.15)  # every window (0.1 s) has passed since the fast calls
        left = await governor.remaining()
        # the 200 cancelled calls may still reach the server: they occupy until their bound
        assert left["segment_reads"] == {0.1: 100_000 - 200}
        assert governor.in_flight == 0


async def test_a_call_over_real_http(server: LoopbackServer) -> None:
    server.routes[("POST", "/v3/custom-segments")] = lambda s: json_answer(201, segment_body())
    server.routes[("GET", "/v3/custom-segments")] = lambda s: json_answer(
        200, list_body(("segment_example_name", "seg-1"))
    )
    async with Client(
        "WS-loop", API_KEY, base_url=server.base_url, governor=Governor(fast_policy())
    ) as client:
        created = await client.create_segment(sample_definition())
        listed = await client.list_segments("segment_example_name")
    assert created.id == "seg-1"
    assert [s.id for s in listed] == ["seg-1"]
    create, listing = server.seen
    assert create.headers["Authorization"] == f"Basic {TOKEN}"
    assert create.headers["MOE-APPKEY"] == "WS-loop"
    assert listing.path == "/v3/custom-segments?name=segment_example_name"


async def test_no_secret_in_logs_reprs_errors_or_pickles(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def echo_headers_html(seen: Seen) -> Answer:
        lines = "".join(f"<li>{k}: {v}</li>" for k, v in seen.headers.items())
        return 502, "text/html", f"<html><ul>{lines}</ul></html>".encode()

    def echo_auth_json(seen: Seen) -> Answer:
        auth = seen.headers["Authorization"]
        return json_answer(
            401,
            {
                "response_id": "r1",
                "error": {"code": "Authentication required", "message": f"bad {auth} {API_KEY}"},
            },
        )

    def echo_body(seen: Seen) -> Answer:
        return json_answer(500, {"status": 500, "error_message": seen.body.decode()})

    def too_slow(seen: Seen) -> Answer:
        server.release.wait(timeout=2)
        return json_answer(200, {})

    server.routes[("POST", "/v3/custom-segments")] = echo_headers_html
    server.routes[("GET", "/v3/custom-segments")] = echo_auth_json
    server.routes[("POST", "/csv_segment")] = echo_body
    server.routes[("GET", "/v3/custom-segments/slow")] = too_slow
    server.routes[("PATCH", "/v2/custom-segments/archive")] = lambda s: json_answer(
        200, {"message": "archived", "success": True}
    )
    governor = Governor(fast_policy())
    errors: list[BaseException] = []
    async with (
        Client(
            "WS-loop",
            API_KEY,
            base_url=server.base_url,
            db_name="db1",
            legacy_api_secret=LEGACY_SECRET,
            governor=governor,
            max_retries=1,
        ) as client,
        Client(
            "WS-loop",
            API_KEY,
            base_url=f"http://127.0.0.1:{closed_port()}",
            governor=governor,
            max_retries=1,
        ) as dead,
    ):
        client._sender._backoff = dead._sender._backoff = Backoff(base=0.02, cap=0.05)
        calls = [
            lambda: client.create_segment(sample_definition()),
            lambda: client.list_segments(),
            lambda: client.legacy_csv_segment(
                "S", "http://u.test", "http://c.test", file=moeseg.FileOptions("email")
            ),
            lambda: client.with_options(timeout=0.1).get_segment("slow"),
            lambda: dead.get_segment("x"),
            lambda: client.archive(name="x"),
        ]

        async def run_all() -> None:
            for call in calls:
                try:
                    await call()
                except moeseg.MoesegError as exc:
                    errors.append(exc)

        with pytest.warns(DeprecationWarning, match="deprecated"):
            await run_all()
        texts = [repr(client), repr(dead), repr(governor), repr(client._sender.credentials)]
    assert [type(e) for e in errors] == [
        moeseg.OutcomeUnknown,  # a 502 HTML page, then the lookup's 401
        moeseg.AuthenticationError,
        moeseg.ServerError,
        moeseg.RequestTimeout,
        moeseg.ConnectError,
    ]
    # The server did echo the secrets back: the test would catch a leak.
    assert any(TOKEN in s.headers.get("Authorization", "") for s in server.seen)
    for err in errors:
        texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
        texts.append(pickle.dumps(err).decode("latin-1"))
        texts.append(repr(vars(pickle.loads(pickle.dumps(err)))))
    texts.append(caplog.text)
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    assert any("-> 502" in r.getMessage() for r in caplog.records if r.name == "moeseg")
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


async def test_attempts_are_logged(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="moeseg")
    answers = iter([json_answer(503, {"title": "busy"}), json_answer(200, list_body())])
    server.routes[("GET", "/v3/custom-segments")] = lambda s: next(answers)
    async with Client(
        f"ws-{uuid.uuid4().hex}",
        API_KEY,
        base_url=server.base_url,
        governor=Governor(fast_policy()),
    ) as client:
        client._sender._backoff = Backoff(base=0.02, cap=0.05)
        await client.list_segments()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "moeseg"]
    debug = [m for level, m in lines if level == logging.DEBUG]
    info = [m for level, m in lines if level == logging.INFO]
    assert len(debug) == 2
    assert debug[0].startswith("GET /v3/custom-segments -> 503 in ")
    assert debug[0].endswith("(attempt 1)")
    assert debug[1].startswith("GET /v3/custom-segments -> 200 in ")
    assert debug[1].endswith("(attempt 2)")
    # A quota wait over 0.1 s is logged too when the machine is slow: only the retry is certain.
    retries = [m for m in info if "retry" in m]
    assert len(retries) == 1
    assert "ServerError 503; retry 1/4 in " in retries[0]
    assert all("retry" in m or "for quota" in m for m in info)
