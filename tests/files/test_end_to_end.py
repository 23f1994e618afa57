"""End to end against the sandbox: it fetches each CSV from a loopback file server and POSTs the
callback to a CallbackReceiver served on loopback; ``wait()`` returns the counts.

Real sockets on 127.0.0.1 and real time: not virtual_time.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

import moeseg
from moeseg.files import (
    CallbackReceiver,
    CsvCheckError,
    FileSegmentFailed,
    FileSegmentOutcome,
    FileSegments,
)
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import FaultConfig, Sandbox, ServerErrorFault

# Real servers on loopback: in `make test`, outside `make test-fast`.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """Serve ``tmp_path`` over HTTP on 127.0.0.1 (a stand-in for S3)."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class World:
    """A sandbox, a client on it with a fresh governor, a served receiver, the facade."""

    def __init__(self, sandbox: Sandbox, client: moeseg.Client, governor: Governor) -> None:
        self.sandbox = sandbox
        self.client = client
        self.governor = governor
        self.receiver = CallbackReceiver()
        self.files = FileSegments(client, self.receiver)

    async def users_left(self) -> int:
        return (await self.governor.remaining())["file_users"][86400.0]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sandbox = Sandbox()
    governor = Governor(QuotaPolicy.moengage())
    async with (
        sandbox.running(),
        moeseg.Client(
            sandbox.workspace_id,
            sandbox.api_key,
            base_url="http://sandbox.invalid",
            db_name=sandbox.db_name,
            legacy_api_secret=sandbox.legacy_api_secret,
            governor=governor,
            transport=httpx.ASGITransport(app=sandbox.app),
        ) as client,
    ):
        w = World(sandbox, client, governor)
        async with w.receiver.serve(port=0):
            yield w


def csv(tmp_path: Path, name: str, *values: str) -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{v}\n" for v in values))
    return path


async def test_create_resolves_with_the_counts(
    world: World, tmp_path: Path, file_server: str
) -> None:
    csv(tmp_path, "vip.csv", "u1", "u2", "u3")
    handle = await world.files.create(
        "vip",
        f"{file_server}/vip.csv",
        file=moeseg.FileOptions("id"),
        csv_path=tmp_path / "vip.csv",
        expiry_time=30,
    )
    assert isinstance(handle.accepted, moeseg.segments.V2AcceptedBody)
    assert handle.accepted.cs_name == "vip"
    assert handle.accepted.cs_id
    outcome = await handle.wait(timeout=30)
    assert outcome == FileSegmentOutcome(
        operation="create",
        segment_name="vip",
        status=201,
        values_found=3,
        values_processed=3,
        user_count=3,
        request_id=outcome.request_id,
        db_name=world.sandbox.db_name,
    )
    assert outcome.request_id
    assert await world.users_left() == 2_000_000 - 3
    assert world.receiver.pending == 0


async def test_add_remove_replace(world: World, tmp_path: Path, file_server: str) -> None:
    csv(tmp_path, "base.csv", "u1", "u2")
    csv(tmp_path, "more.csv", "u3", "u4", "u5")
    csv(tmp_path, "less.csv", "u1", "u9")
    csv(tmp_path, "new.csv", "u4", "u6")
    files, url = world.files, file_server
    created = await files.create(
        "seg", f"{url}/base.csv", file=moeseg.FileOptions("id"), users=2, expiry_time=30
    )
    await created.wait(timeout=30)
    added = await files.add_users(
        "seg", f"{url}/more.csv", file=moeseg.FileOptions("id"), csv_path=tmp_path / "more.csv"
    )
    assert (await added.wait(timeout=30)).user_count == 3
    removed = await files.remove_users(
        "seg", f"{url}/less.csv", file=moeseg.FileOptions("id"), csv_path=tmp_path / "less.csv"
    )
    out = await removed.wait(timeout=30)
    assert (out.operation, out.values_found, out.user_count) == ("remove_users", 2, 1)
    replaced = await files.replace_users(
        "seg",
        f"{url}/new.csv",
        file=moeseg.FileOptions("id"),
        csv_path=tmp_path / "new.csv",
        new_users=1,
    )
    out = await replaced.wait(timeout=30)
    assert (out.operation, out.user_count) == ("replace_users", 2)
    # 2 + 3 + 2 (remove counts too) + 1 (replace: only the new user u6)
    assert await world.users_left() == 2_000_000 - 8
    assert world.sandbox.find("seg") is not None
    assert sorted(world.sandbox.find("seg").users) == ["u4", "u6"]  # type: ignore[union-attr]


async def test_a_failed_download_raises_the_callbacks_error(world: World, file_server: str) -> None:
    handle = await world.files.create(
        "missing",
        f"{file_server}/nowhere.csv",
        file=moeseg.FileOptions("id"),
        users=5,
        expiry_time=30,
    )
    with pytest.raises(FileSegmentFailed) as info:
        await handle.wait(timeout=30)
    assert info.value.status == 400
    assert info.value.error_message == (
        "File download failed. Created custom_segment contains 0 users."
    )


async def test_a_bad_csv_is_refused_before_anything_is_sent(
    world: World, tmp_path: Path, file_server: str
) -> None:
    csv(tmp_path, "bad.csv", "u1", "u2,", "u1")
    with pytest.raises(CsvCheckError) as info:
        await world.files.create(
            "bad", f"{file_server}/bad.csv", file=moeseg.FileOptions("id"),
            csv_path=tmp_path / "bad.csv", expiry_time=30,
        )  # fmt: skip
    assert [str(v) for v in info.value.violations] == [
        "line 2: value ends with a comma (trailing comma)",
        "line 3: duplicate of line 1",
    ]
    assert list(world.sandbox.log) == []
    assert await world.users_left() == 2_000_000
    assert (await world.governor.remaining())["file_ops"] == {3600.0: 10, 86400.0: 100}
    assert world.receiver.pending == 0


async def test_users_must_be_known(world: World, tmp_path: Path, file_server: str) -> None:
    csv(tmp_path, "three.csv", "u1", "u2", "u3")
    with pytest.raises(TypeError, match="pass csv_path="):
        await world.files.create(
            "x", f"{file_server}/three.csv", file=moeseg.FileOptions("id"), expiry_time=30
        )
    with pytest.raises(ValueError, match=r"users=4, but .* holds 3"):
        await world.files.create(
            "x", f"{file_server}/three.csv", file=moeseg.FileOptions("id"), users=4,
            csv_path=tmp_path / "three.csv", expiry_time=30,
        )  # fmt: skip
    with pytest.raises(ValueError, match="new_users=4 must lie between 0 and 3"):
        await world.files.replace_users(
            "x", f"{file_server}/three.csv", file=moeseg.FileOptions("id"), users=3, new_users=4
        )
    assert list(world.sandbox.log) == []


async def test_a_refused_request_leaves_no_pending_token(world: World, file_server: str) -> None:
    with pytest.raises(moeseg.NotFound):
        await world.files.add_users(
            "nobody", f"{file_server}/x.csv", file=moeseg.FileOptions("id"), users=1
        )
    assert world.receiver.pending == 0


async def test_legacy_csv_segment(world: World, tmp_path: Path, file_server: str) -> None:
    csv(tmp_path, "old.csv", "a@example.com", "b@example.com")
    with pytest.warns(DeprecationWarning, match="deprecated"):
        handle = await world.files.legacy_csv_segment(
            "OLD",
            f"{file_server}/old.csv",
            file=moeseg.FileOptions("email"),
            csv_path=tmp_path / "old.csv",
        )
    assert isinstance(handle.accepted, moeseg.segments.LegacyCsvResponse)
    assert handle.accepted.status == 200
    outcome = await handle.wait(timeout=30)
    assert (outcome.operation, outcome.status, outcome.user_count) == ("legacy_csv", 201, 2)
    assert outcome.db_name is None


async def test_many_operations_pending_at_once(
    world: World, tmp_path: Path, file_server: str
) -> None:
    n = 8  # within the 10 file operations an hour
    for i in range(n):
        csv(tmp_path, f"s{i}.csv", *(f"u{i}-{k}" for k in range(i + 1)))
    handles = []

    async def create(i: int) -> None:
        handles.append(
            await world.files.create(
                f"s{i}",
                f"{file_server}/s{i}.csv",
                file=moeseg.FileOptions("id"),
                csv_path=tmp_path / f"s{i}.csv",
                expiry_time=30,
            )
        )

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(create, i)
    assert world.receiver.pending + sum(h.done() for h in handles) == n
    counts = {h.segment_name: (await h.wait(timeout=30)).user_count for h in handles}
    assert counts == {f"s{i}": i + 1 for i in range(n)}
    assert await world.users_left() == 2_000_000 - sum(range(1, n + 1))


async def test_check_size_refuses_a_file_announced_above_150_mb(
    world: World, tmp_path: Path, file_server: str
) -> None:
    with (tmp_path / "huge.csv").open("wb") as f:
        f.truncate(150_000_001)  # sparse: costs no disk
    csv(tmp_path, "small.csv", "u1")
    files = FileSegments(world.client, world.receiver, check_size=True)
    with pytest.raises(CsvCheckError, match="file is 150,000,001 bytes"):
        await files.create(
            "huge",
            f"{file_server}/huge.csv",
            file=moeseg.FileOptions("id"),
            users=1,
            expiry_time=30,
        )
    assert list(world.sandbox.log) == []
    handle = await files.create(
        "small", f"{file_server}/small.csv", file=moeseg.FileOptions("id"), users=1, expiry_time=30
    )
    assert (await handle.wait(timeout=30)).user_count == 1


async def test_exactly_once_create_still_resolves_by_callback(
    world: World, tmp_path: Path, file_server: str
) -> None:
    """The first attempt is processed but answered 500; the client's retry meets 409 and
    recovers the segment; the callback of the first attempt still resolves the same handle."""
    world.sandbox.set_faults(
        FaultConfig(
            rules=(ServerErrorFault(status=500, when="after", routes={"file_create"}, times=1),)
        )
    )
    csv(tmp_path, "once.csv", "u1", "u2")
    handle = await world.files.create(
        "once", f"{file_server}/once.csv", file=moeseg.FileOptions("id"), users=2, expiry_time=30
    )
    assert isinstance(handle.accepted, moeseg.segments.V2AcceptedBody)
    assert handle.accepted.recovered
    assert handle.accepted.cs_id == world.sandbox.find("once").id  # type: ignore[union-attr]
    assert [r.status for r in world.sandbox.log if r.route == "file_create"] == [500, 409]
    assert (await handle.wait(timeout=30)).user_count == 2
    assert len(world.sandbox.jobs) == 1
