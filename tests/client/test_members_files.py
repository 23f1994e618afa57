"""Client.sync_members on file segments learns each job's outcome (FileSegments' callbacks)
before it commits: a failed or expired job raises, commits nothing, and a rerun resends.

In process and in virtual time: the sandbox downloads files and posts callbacks through an ASGI
app holding the files and the receiver side by side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

import moeseg
from moeseg._cohorts import MemberState
from moeseg.files import CallbackReceiver, CallbackTimeout, FileSegmentFailed, FileSegments
from moeseg.governor import AnyioClock, Governor, QuotaPolicy
from moeseg.sandbox import Sandbox, SandboxConfig

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

HOST = "http://files.test"


class Web:
    """The uploaded files and the callback receiver, with the faults a test switches on: the
    files cannot be downloaded (the job fails), or callbacks never arrive (the job expires)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.broken = False
        self.deaf = False
        self.receiver = CallbackReceiver(public_url=f"{HOST}/cb")
        self.app = Starlette(
            routes=[Route("/files/{name}", self.serve), Mount("/cb", app=self.callbacks)]
        )

    async def serve(self, request: Request) -> Response:
        if self.broken:
            return PlainTextResponse("gone", status_code=404)
        return Response(self.files[request.path_params["name"]])

    async def callbacks(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.deaf:
            await PlainTextResponse("down", status_code=503)(scope, receive, send)
        else:
            await self.receiver(scope, receive, send)

    async def upload(self, path: Path) -> str:
        name = f"{len(self.files)}.csv"
        self.files[name] = path.read_bytes()
        return f"{HOST}/files/{name}"


@pytest.fixture
async def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Sandbox, Web, FileSegments]]:
    web = Web()
    seed = tmp_path_factory.mktemp("seed") / "seed.csv"
    seed.write_text("uid\na\nb\n")
    sb = Sandbox(SandboxConfig(fetch_transport=httpx.ASGITransport(app=web.app)))
    async with (
        sb.running(),
        moeseg.Client(
            sb.workspace_id,
            sb.api_key,
            base_url="http://sandbox.test",
            db_name=sb.db_name,
            transport=httpx.ASGITransport(app=sb.app),
            governor=Governor(QuotaPolicy.moengage()),
        ) as client,
        FileSegments(client, web.receiver, callback_timeout=600, clock=AnyioClock()) as files,
    ):
        url = await web.upload(seed)
        handle = await files.create("Subs", url, moeseg.FileOptions("uid"), users=2, expiry_time=30)
        await handle.wait()
        yield sb, web, files


def members(sb: Sandbox) -> set[str]:
    seg = sb.find("Subs")
    assert seg is not None
    return set(seg.users)


async def test_a_failed_file_job_raises_commits_nothing_and_a_rerun_sends_it_again(
    world: tuple[Sandbox, Web, FileSegments], tmp_path: Path
) -> None:
    sb, web, files = world
    sync = dict(state_dir=tmp_path, uploader=web.upload, files=files, replace="never")
    await files.client.sync_members("Subs", ["a", "b"], **sync)
    web.broken = True  # MoEngage cannot download the file: the job fails, after its 202
    with pytest.raises(FileSegmentFailed) as failed:
        await files.client.sync_members("Subs", ["a", "c"], **sync)
    assert failed.value.status == 400
    assert failed.value.segment_name == "Subs"
    state = MemberState(tmp_path, sb.workspace_id)
    record = state.record("Subs")
    assert record is not None
    assert record.members == 2  # the snapshot is still the first sync's
    assert state.uncertain_path("Subs").exists()
    assert members(sb) == {"a", "b"}
    web.broken = False
    # The same list again: without the uncertain uids it would send nothing (the lost delta).
    start = anyio.current_time()
    again = await files.client.sync_members("Subs", ["a", "c"], **sync)
    # Every job had ended: the rerun did not wait for requests of the failed sync to arrive.
    assert anyio.current_time() - start < 30
    assert again.committed
    assert (again.added, again.removed) == (1, 1)
    assert members(sb) == {"a", "c"}
    assert not state.uncertain_path("Subs").exists()


async def test_an_expired_file_job_raises_commits_nothing_and_a_rerun_converges(
    world: tuple[Sandbox, Web, FileSegments], tmp_path: Path
) -> None:
    sb, web, files = world
    sync = dict(state_dir=tmp_path, uploader=web.upload, files=files, replace="never")
    await files.client.sync_members("Subs", ["a", "b"], **sync)
    web.deaf = True  # the callbacks never arrive
    start = anyio.current_time()
    with pytest.raises(CallbackTimeout) as late:
        await files.client.sync_members("Subs", ["b", "c"], **sync)
    assert anyio.current_time() - start == pytest.approx(600, abs=1)  # files' callback_timeout
    assert late.value.segment_name == "Subs"
    state = MemberState(tmp_path, sb.workspace_id)
    assert state.uncertain_path("Subs").exists()
    web.deaf = False
    start = anyio.current_time()
    again = await files.client.sync_members("Subs", ["b", "c"], **sync)
    # An expired job may still be applied: the rerun waited as after a kill (timeout + 6 s).
    assert anyio.current_time() - start >= 30
    assert again.committed
    assert members(sb) == {"b", "c"}
    record = state.record("Subs")
    assert record is not None
    assert record.members == 2


async def test_a_sync_killed_while_waiting_for_callbacks_converges_on_the_rerun(
    world: tuple[Sandbox, Web, FileSegments], tmp_path: Path
) -> None:
    sb, web, files = world
    sync = dict(state_dir=tmp_path, uploader=web.upload, files=files, replace="never")
    await files.client.sync_members("Subs", ["a", "b"], **sync)
    web.deaf = True
    with anyio.move_on_after(60):  # killed while its jobs wait for their callbacks
        await files.client.sync_members("Subs", ["b", "c"], **sync)
    web.deaf = False
    done = await files.client.sync_members("Subs", ["c", "d"], **sync)  # another list
    assert done.committed
    assert members(sb) == {"c", "d"}


async def test_the_happy_path_commits_after_every_callback_and_reports_progress(
    world: tuple[Sandbox, Web, FileSegments], tmp_path: Path
) -> None:
    sb, web, files = world
    seen: list[tuple[str, int]] = []
    sync = dict(
        state_dir=tmp_path,
        uploader=web.upload,
        files=files,
        on_progress=lambda a, n: seen.append((a, n)),
    )
    first = await files.client.sync_members("Subs", ["a", "c", "d"], replace="always", **sync)
    # The sync returned only after the job's callback: the sandbox already holds the members.
    assert members(sb) == {"a", "c", "d"}
    assert (first.method, first.committed, first.requests, first.notes) == ("replace", True, 1, ())
    assert seen == [("add_members", 3)]
    # One replace (one file op) is cheaper than an add and a remove (two): the plan says why.
    second = await files.client.sync_members("Subs", ["c", "d", "e"], **sync)
    assert second.method == "replace"
    assert "cheaper" in second.plan.reason  # type: ignore[union-attr]
    third = await files.client.sync_members("Subs", ["d", "e", "f"], replace="never", **sync)
    assert members(sb) == {"d", "e", "f"}
    assert (third.added, third.removed, third.requests, third.committed) == (1, 1, 2, True)
    assert sorted(seen[2:]) == [("add_members", 1), ("remove_members", 1)]
    assert [f.decode().splitlines() for f in list(web.files.values())[1:]] == [
        ["uid", "a", "c", "d"],
        ["uid", "c", "d", "e"],
        ["uid", "f"],
        ["uid", "c"],
    ]
    assert await files.pending() == []


async def test_a_file_segment_without_files_is_refused_before_anything_is_sent(
    world: tuple[Sandbox, Web, FileSegments], tmp_path: Path
) -> None:
    """Before: given a bare callback URL, a 202 counted as done, the snapshot was committed, and
    a job that failed later lost its delta for good (a rerun of the same list sent nothing).
    Now the outcome of every file job is awaited, so a sync without ``files=`` cannot start."""
    sb, web, files = world
    await files.client.sync_members(
        "Subs", ["a", "b"], state_dir=tmp_path, uploader=web.upload, files=files
    )
    sent = len(sb.log)
    with pytest.raises(moeseg.ConfigurationError, match="files="):
        await files.client.sync_members("Subs", ["a"], state_dir=tmp_path, uploader=web.upload)
    with pytest.raises(TypeError, match="callback_url"):
        await files.client.sync_members(  # type: ignore[call-arg]
            "Subs", ["a"], state_dir=tmp_path, uploader=web.upload,
            callback_url=f"{HOST}/x",
        )  # fmt: skip
    assert len(sb.log) == sent
    assert members(sb) == {"a", "b"}
