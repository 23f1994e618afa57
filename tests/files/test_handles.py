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
from moeseg.files import CallbackReceiver, FileSegmentOutcome, FileSegments
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
