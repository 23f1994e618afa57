"""Durable file-segment handles: a restart between the upload and MoEngage's callback loses
nothing (in process, over the sandbox: its downloads and callbacks go through an ASGI app).

The sandbox downloads each file from a gated route, so its callback can only arrive once the
test opens the gate: after process A has uploaded and gone, when process B is up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.responses import PlainTextResponse, Response

import moeseg
from moeseg.files import CallbackReceiver, CallbackTimeout, FileSegmentOutcome, FileSegments
from moeseg.governor import AnyioClock, Governor, QuotaPolicy
from moeseg.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.anyio

HOST = "http://service.test"
FILES = {"a.csv": "u1\nu2\n", "b.csv": "u3\n"}


class Web:
    """What MoEngage reaches: the CSV files (behind a gate) and the service's callback URL,
    forwarded to whichever receiver the running "process" has."""

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.receiver: CallbackReceiver | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope["path"]
        if path.startswith("/files/"):
            await self.gate.wait()
            response: Response = PlainTextResponse(FILES[path.removeprefix("/files/")])
            await response(scope, receive, send)
            return
        assert path.startswith("/cb/")
        assert self.receiver is not None
        await self.receiver({**scope, "path": path.removeprefix("/cb")}, receive, send)


@asynccontextmanager
async def client(sandbox: Sandbox) -> AsyncIterator[moeseg.Client]:
    async with moeseg.Client(
        sandbox.workspace_id,
        sandbox.api_key,
        base_url="http://sandbox.invalid",
        db_name=sandbox.db_name,
        governor=Governor(QuotaPolicy.moengage()),  # not the process-wide one: tests are apart
        transport=httpx.ASGITransport(app=sandbox.app),
    ) as c:
        yield c


def receiver(web: Web) -> CallbackReceiver:
    """A new process's receiver, at the service's stable public URL."""
    web.receiver = CallbackReceiver(public_url=f"{HOST}/cb")
    return web.receiver


@pytest.fixture
async def sandbox_and_web() -> AsyncIterator[tuple[Sandbox, Web]]:
    web = Web()
    sandbox = Sandbox(SandboxConfig(fetch_transport=httpx.ASGITransport(app=web)))
    async with sandbox.running():
        yield sandbox, web
        web.gate.set()  # let the sandbox's jobs end


async def test_a_restart_between_upload_and_callback_loses_nothing(
    sandbox_and_web: tuple[Sandbox, Web], tmp_path: Path
) -> None:
    sandbox, web = sandbox_and_web
    store = tmp_path / "handles.sqlite3"
    # Process A uploads, then exits before MoEngage calls back.
    async with client(sandbox) as c, FileSegments(c, receiver(web), handles=store) as files:
        handle = await files.create(
            "vip", f"{HOST}/files/a.csv", moeseg.FileOptions("id"), users=2, expiry_time=30
        )
        assert not handle.done()
        handle_id = handle.id
    # Process B, on the same store, finds the handle and receives its callback.
    async with client(sandbox) as c, FileSegments(c, receiver(web), handles=store) as files:
        [pending] = await files.pending()
        assert (pending.id, pending.operation, pending.segment_name) == (handle_id, "create", "vip")
        web.gate.set()
        outcome = await pending.wait(timeout=30)
        assert outcome == FileSegmentOutcome(
            "create", "vip", 201, values_found=2, values_processed=2, user_count=2,
            request_id=outcome.request_id, db_name=sandbox.db_name,
        )  # fmt: skip
        assert await files.pending() == []
    # Process C sees the outcome too.
    async with client(sandbox) as c, FileSegments(c, receiver(web), handles=store) as files:
        reopened = await files.handle(handle_id)
        assert reopened is not None
        assert reopened.outcome == outcome
        assert await reopened.wait() == outcome


async def test_a_callback_for_a_handle_no_one_has_reopened_is_kept_in_the_store(
    sandbox_and_web: tuple[Sandbox, Web], tmp_path: Path
) -> None:
    sandbox, web = sandbox_and_web
    store = tmp_path / "handles.sqlite3"
    async with client(sandbox) as c, FileSegments(c, receiver(web), handles=store) as files:
        handle = await files.create(
            "vip", f"{HOST}/files/a.csv", moeseg.FileOptions("id"), users=2, expiry_time=30
        )
    async with client(sandbox) as c, FileSegments(c, receiver(web), handles=store) as files:
        web.gate.set()
        await sandbox.wait_idle()  # the callback reached B's receiver, which settled the store
        assert [job.callback_status for job in sandbox.jobs] == [200]
        assert await files.pending() == []
        reopened = await files.handle(handle.id)
        assert reopened is not None
        assert reopened.done()
        assert (await reopened.wait()).user_count == 2
        assert reopened.accepted is not None
        assert reopened.accepted.cs_id == sandbox.find("vip").id  # type: ignore[union-attr]
        assert await files.handle("0123456789abcdef") is None


async def test_the_store_holds_no_secret(
    sandbox_and_web: tuple[Sandbox, Web], tmp_path: Path
) -> None:
    sandbox, web = sandbox_and_web
    store = tmp_path / "handles.sqlite3"
    async with client(sandbox) as c, FileSegments(c, receiver(web), handles=store) as files:
        handle = await files.create(
            "vip", f"{HOST}/files/a.csv", moeseg.FileOptions("id"), users=2, expiry_time=30
        )
        assert handle.callback_url is not None
        secret = handle.callback_url.rsplit(".", 1)[1]
        web.gate.set()
        await handle.wait(timeout=30)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("handles.sqlite3*"))
    assert handle.id.encode() in stored
    for never in (secret, sandbox.api_key, handle.callback_url):
        assert never.encode() not in stored


async def test_a_failed_request_leaves_nothing_in_the_store(
    sandbox_and_web: tuple[Sandbox, Web], tmp_path: Path
) -> None:
    sandbox, web = sandbox_and_web
    async with (
        client(sandbox) as c,
        FileSegments(c, receiver(web), handles=tmp_path / "h.sqlite3") as files,
    ):
        with pytest.raises(moeseg.NotFound):
            await files.add_users(
                "nobody", f"{HOST}/files/a.csv", moeseg.FileOptions("id"), users=1
            )
        assert await files.pending() == []
        assert web.receiver is not None
        assert web.receiver.pending == 0


async def test_one_receiver_keeps_its_handles_in_one_store(tmp_path: Path) -> None:
    rec = CallbackReceiver(public_url=f"{HOST}/cb")
    first = FileSegments(None, rec, handles=tmp_path / "a.sqlite3")  # type: ignore[arg-type]
    again = FileSegments(None, rec, handles=str(tmp_path / "a.sqlite3"))  # type: ignore[arg-type]
    same = FileSegments(None, rec)  # type: ignore[arg-type]
    assert first._store is again._store is same._store
    with pytest.raises(moeseg.ConfigurationError, match="one receiver per handle store"):
        FileSegments(None, rec, handles=tmp_path / "b.sqlite3")  # type: ignore[arg-type]


class ManualClock:
    """A wall clock the test moves (an injected clock: virtual time for the deadlines)."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


async def test_a_handle_expires_after_a_restart_and_a_late_callback_changes_nothing(
    sandbox_and_web: tuple[Sandbox, Web], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, web = sandbox_and_web
    store, clock = tmp_path / "handles.sqlite3", ManualClock()

    def files_of(c: moeseg.Client) -> FileSegments:
        return FileSegments(c, receiver(web), handles=store, callback_timeout=3600, clock=clock)

    async with client(sandbox) as c, files_of(c) as files:
        handle = await files.create(
            "vip", f"{HOST}/files/a.csv", moeseg.FileOptions("id"), users=2, expiry_time=30
        )
        assert handle.deadline == clock.t + 3600
    clock.t += 3599.0  # down for an hour, less one second: still pending after the restart
    async with client(sandbox) as c, files_of(c) as files:
        [pending] = await files.pending()
        with pytest.raises(CallbackTimeout):
            await pending.wait(timeout=0)
        assert not pending.expired
    clock.t += 1.0  # the deadline passes while no process runs
    async with client(sandbox) as c, files_of(c) as files:
        assert await files.pending() == []
        expired = await files.handle(handle.id)
        assert expired is not None
        assert expired.expired
        assert expired.done()
        assert expired.outcome is None
        with pytest.raises(CallbackTimeout, match="within 3600s") as info:
            await expired.wait()
        assert info.value.timeout == 3600
        web.gate.set()  # MoEngage calls back at last: answered 200, logged, ignored
        await sandbox.wait_idle()
        assert [job.callback_status for job in sandbox.jobs] == [200]
        assert "arrived after the handle expired" in caplog.text
        again = await files.handle(handle.id)
        assert again is not None
        assert again.expired


@pytest.mark.virtual_time
async def test_a_waiting_handle_expires_at_its_deadline(
    sandbox_and_web: tuple[Sandbox, Web],
) -> None:
    sandbox, web = sandbox_and_web
    async with (
        client(sandbox) as c,
        FileSegments(c, receiver(web), callback_timeout=600, clock=AnyioClock()) as files,
    ):
        handle = await files.create(
            "vip", f"{HOST}/files/a.csv", moeseg.FileOptions("id"), users=2, expiry_time=30
        )
        start = anyio.current_time()
        with pytest.raises(CallbackTimeout):
            await handle.wait(timeout=60)  # a wait shorter than the deadline: still pending
        assert not handle.done()
        done = await files.wait_all()
        assert done == [handle]
        assert handle.expired
        assert anyio.current_time() - start == pytest.approx(600)
        web.gate.set()
        await sandbox.wait_idle()
        assert handle.expired  # the late callback did not change the one outcome
        assert await files.pending() == []


class LoopbackCallbacks(httpx.AsyncBaseTransport):
    """The sandbox's downloads go to the gated files; its callbacks over real HTTP."""

    def __init__(self, web: Web) -> None:
        self.files = httpx.ASGITransport(app=web)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "service.test":
            return await self.files.handle_async_request(request)
        async with httpx.AsyncHTTPTransport() as http:
            answer = await http.handle_async_request(request)
            content = await answer.aread()
        return httpx.Response(answer.status_code, content=content)


@pytest.mark.slow
async def test_a_restart_over_loopback(tmp_path: Path) -> None:
    """Both receivers served by uvicorn on the same loopback port, one after the other."""
    web = Web()
    sandbox = Sandbox(SandboxConfig(fetch_transport=LoopbackCallbacks(web)))
    store = tmp_path / "handles.sqlite3"
    async with sandbox.running():
        first = CallbackReceiver()
        async with (
            client(sandbox) as c,
            first.serve(port=0) as url,
            FileSegments(c, first, handles=store) as files,
        ):
            handle = await files.create(
                "vip", f"{HOST}/files/a.csv", moeseg.FileOptions("id"), users=2, expiry_time=30
            )
        port = int(url.rsplit(":", 1)[1])
        second = CallbackReceiver(public_url=url)
        async with client(sandbox) as c, FileSegments(c, second, handles=store) as files:
            [pending] = await files.pending()
            async with second.serve(port=port):
                web.gate.set()
                assert (await pending.wait(timeout=30)).user_count == 2
        assert pending.id == handle.id
        assert [job.callback_status for job in sandbox.jobs] == [200]
