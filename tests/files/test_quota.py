"""The users quota: file operations are admitted by their user count (virtual time, in process).

The sandbox downloads files and posts callbacks through an in-process ASGI app (files and the
receiver mounted side by side), so a simulated day passes in milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

import moeseg
from moeseg.files import CallbackReceiver, FileSegments
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import Sandbox, SandboxConfig

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

HOST = "http://files.test"
FILES = {"a.csv": "u1\nu2\n", "b.csv": "u3\nu4\n"}


async def serve_file(request: Request) -> Response:
    return PlainTextResponse(FILES[request.path_params["name"]])


class World:
    def __init__(self) -> None:
        self.receiver = CallbackReceiver(public_url=f"{HOST}/cb")
        web = Starlette(
            routes=[Route("/files/{name}", serve_file), Mount("/cb", app=self.receiver)]
        )
        self.sandbox = Sandbox(SandboxConfig(fetch_transport=httpx.ASGITransport(app=web)))
        self.governor = Governor(QuotaPolicy.moengage())


@pytest.fixture
async def world() -> AsyncIterator[tuple[World, FileSegments]]:
    w = World()
    async with (
        w.sandbox.running(),
        moeseg.Client(
            w.sandbox.workspace_id,
            w.sandbox.api_key,
            base_url="http://sandbox.invalid",
            db_name=w.sandbox.db_name,
            governor=w.governor,
            transport=httpx.ASGITransport(app=w.sandbox.app),
        ) as client,
    ):
        yield w, FileSegments(client, w.receiver)


def bounded(files: FileSegments, max_wait: float) -> FileSegments:
    """The same file operations with a bound on each quota wait."""
    return FileSegments(files.client.with_options(max_wait=max_wait), files.receiver)


async def test_users_are_the_weight_of_the_daily_quota(world: tuple[World, FileSegments]) -> None:
    w, files = world
    start = anyio.current_time()
    first = await files.create(
        "a", f"{HOST}/files/a.csv", file=moeseg.FileOptions("id"), users=1_500_000, expiry_time=30
    )
    assert (await first.wait(timeout=60)).user_count == 2
    # 1.5M + 1M users exceed 2M a day: refused at once when the caller cannot wait that long.
    with pytest.raises(moeseg.QuotaWaitTooLong) as info:
        await bounded(files, 3600).create(
            "b", f"{HOST}/files/b.csv", moeseg.FileOptions("id"), users=1_000_000, expiry_time=30
        )
    assert info.value.group == "file_users"
    assert w.receiver.pending == 0  # the unused callback token was withdrawn
    assert [r.route for r in w.sandbox.log] == ["file_create"]
    # Without a bound it waits for the day window to slide past the first upload.
    second = await files.create(
        "b", f"{HOST}/files/b.csv", file=moeseg.FileOptions("id"), users=1_000_000, expiry_time=30
    )
    assert anyio.current_time() - start >= 86400
    assert (await second.wait(timeout=60)).user_count == 2


async def test_replace_counts_only_new_users(world: tuple[World, FileSegments]) -> None:
    w, files = world
    created = await files.create(
        "a", f"{HOST}/files/a.csv", file=moeseg.FileOptions("id"), users=1_500_000, expiry_time=30
    )
    await created.wait(timeout=60)
    start = anyio.current_time()
    # All 1.9M counted: over the day's 2M, so it would wait; 100k new users fit at once.
    with pytest.raises(moeseg.QuotaWaitTooLong):
        await bounded(files, 60).replace_users(
            "a", f"{HOST}/files/b.csv", moeseg.FileOptions("id"), users=1_900_000
        )
    replaced = await bounded(files, 60).replace_users(
        "a", f"{HOST}/files/b.csv", moeseg.FileOptions("id"), users=1_900_000, new_users=100_000
    )
    assert anyio.current_time() - start < 60
    assert (await replaced.wait(timeout=60)).operation == "replace_users"
    assert (await w.governor.remaining())["file_users"][86400.0] == 400_000
