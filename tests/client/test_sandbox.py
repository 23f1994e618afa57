"""End to end against the sandbox: in process (ASGI, virtual time) and over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

import moeseg
from moeseg import Client, SegmentUpdate
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import (
    DropConnection,
    FaultConfig,
    FaultRule,
    Sandbox,
    SandboxConfig,
    ServerErrorFault,
)

from .conftest import sample_definition

pytestmark = pytest.mark.anyio

FILES = "http://files.invalid"
HOOK = "http://hooks.invalid/callback"


def files_transport() -> httpx.MockTransport:
    """Serves every CSV the sandbox downloads and accepts every callback it posts."""
    return httpx.MockTransport(lambda request: httpx.Response(200, content=b"u1\nu2\nu3\n"))


def make_sandbox(*rules: FaultRule, **config: object) -> Sandbox:
    return Sandbox(
        SandboxConfig(
            faults=FaultConfig(rules=rules),
            fetch_transport=files_transport(),
            **config,  # type: ignore[arg-type]
        )
    )


@asynccontextmanager
async def in_process(
    sb: Sandbox, policy: QuotaPolicy | None = None, **kw: object
) -> AsyncIterator[Client]:
    async with (
        sb.running(),
        Client(
            sb.workspace_id,
            sb.api_key,
            base_url="http://sandbox.invalid",
            db_name=sb.db_name,
            legacy_api_secret=sb.legacy_api_secret,
            governor=Governor(policy or QuotaPolicy.moengage()),
            transport=httpx.ASGITransport(app=sb.app),
            **kw,  # type: ignore[arg-type]
        ) as client,
    ):
        yield client
        await sb.wait_idle()


def other_filters() -> moeseg.FilterGroup:
    payload = {
        "name": "x",
        "included_filters": {
            "filter_operator": "and",
            "filters": [
                {
                    "filter_type": "user_attributes",
                    "name": "city",
                    "data_type": "string",
                    "operator": "is",
                    "value": "Paris",
                }
            ],
        },
    }
    return moeseg.from_payload(payload).included_filters


@pytest.mark.virtual_time
async def test_every_endpoint(recwarn: pytest.WarningsRecorder) -> None:
    sb = make_sandbox()
    async with in_process(sb) as client:
        created = await client.create_segment(sample_definition("buyers"))
        assert created.recovered is False
        fetched = await client.get_segment(created.id)
        assert fetched.name == "buyers"
        assert moeseg.fingerprint(fetched) == moeseg.fingerprint(sample_definition())
        assert [s.id for s in await client.list_segments("buyers")] == [created.id]
        assert created.id in {s.id for s in await client.list_segments()}
        updated = await client.update_segment(
            created.id, SegmentUpdate(included_filters=other_filters(), name="parisians")
        )
        assert updated.name == "parisians"
        assert (await client.archive(segment_id=created.id)).success is True
        assert (await client.unarchive(name="parisians")).success is True

        accepted = await client.create_file_segment(
            "from_file",
            f"{FILES}/a.csv",
            HOOK,
            users=3,
            file=moeseg.FileOptions("id"),
            expiry_time=7,
        )
        assert accepted.cs_id is not None
        for method in (client.add_users, client.remove_users, client.replace_users):
            again = await method(
                "from_file",
                f"{FILES}/b.csv",
                HOOK,
                users=3,
                file=moeseg.FileOptions("id"),
                segment_id=accepted.cs_id,
            )
            assert again.cs_id == accepted.cs_id
        legacy = await client.legacy_csv_segment(
            "legacy_seg", f"{FILES}/l.csv", HOOK, file=moeseg.FileOptions("email")
        )
        assert legacy.status == 200
    assert any(w.category is DeprecationWarning for w in recwarn)
    assert {s.name for s in sb.segments()} == {"parisians", "from_file", "legacy_seg"}
    assert sum(sb.too_many_requests.values()) == 0


@pytest.mark.virtual_time
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(ServerErrorFault(when="after", routes={"create"}, times=1), id="500-after"),
        pytest.param(
            ServerErrorFault(status=502, html=True, when="after", routes={"create"}, times=1),
            id="502-html-after",
        ),
        pytest.param(DropConnection(routes={"create"}, times=1), id="dropped"),
    ],
)
async def test_create_with_unknown_outcome_is_recovered_exactly_once(fault: FaultRule) -> None:
    sb = make_sandbox(fault)
    async with in_process(sb) as client:
        segment = await client.create_segment(sample_definition("once"))
    assert segment.recovered is True
    assert [s.id for s in sb.segments()] == [segment.id]


@pytest.mark.virtual_time
async def test_failure_before_processing_is_simply_retried() -> None:
    sb = make_sandbox(ServerErrorFault(when="before", routes={"create"}, times=2))
    async with in_process(sb) as client:
        segment = await client.create_segment(sample_definition("twice_failed"))
    assert segment.recovered is False
    assert len(sb.segments()) == 1


@pytest.mark.virtual_time
async def test_dropped_file_segment_create_is_recovered() -> None:
    sb = make_sandbox(DropConnection(routes={"file_create"}, times=1))
    async with in_process(sb) as client:
        accepted = await client.create_file_segment(
            "files_once",
            f"{FILES}/a.csv",
            HOOK,
            users=3,
            file=moeseg.FileOptions("id"),
            expiry_time=7,
        )
    stored = sb.find("files_once")
    assert stored is not None
    assert accepted.cs_id == stored.id
    assert accepted.recovered
    assert len(sb.segments()) == 1


@pytest.mark.virtual_time
async def test_a_burst_is_never_rate_limited_and_runs_at_full_speed() -> None:
    sb = make_sandbox()
    start = anyio.current_time()
    async with in_process(sb) as client, anyio.create_task_group() as tg:
        for i in range(120):
            tg.start_soon(client.create_segment, sample_definition(f"burst_{i}", f"v{i}"))
    assert len(sb.segments()) == 120
    assert sum(sb.too_many_requests.values()) == 0
    assert sb.max_in_window("segments", 60.0) == 50
    assert anyio.current_time() - start < 121.0  # 50 at once, 50 a minute later, 20 after that


@pytest.mark.virtual_time
async def test_another_tenant_spending_quota_is_absorbed() -> None:
    scale = 0.001
    sb = make_sandbox(time_scale=scale)
    async with in_process(sb, QuotaPolicy.moengage().scaled(scale)) as client:
        sb.spend("segments", 50)  # someone else took the whole minute window
        segment = await client.create_segment(sample_definition("patient"))
    assert segment.recovered is False
    assert sb.too_many_requests["rate_limit_other_tenant"] + sb.too_many_requests["rate_limit"] == 1


@pytest.mark.virtual_time
async def test_active_segment_limit_is_never_retried() -> None:
    sb = make_sandbox(active_segment_limit=1)
    async with in_process(sb) as client:
        await client.create_segment(sample_definition("first"))
        with pytest.raises(moeseg.ActiveSegmentLimit) as info:
            await client.create_segment(
                moeseg.SegmentDefinition(name="second", included_filters=other_filters())
            )
    assert (info.value.actual_count, info.value.limit) == (1, 1)
    assert len([r for r in sb.log if r.route == "create"]) == 2


@pytest.mark.virtual_time
async def test_wrong_key_is_an_authentication_error() -> None:
    sb = make_sandbox()
    async with (
        sb.running(),
        Client(
            sb.workspace_id,
            "not-the-key",
            base_url="http://sandbox.invalid",
            governor=Governor(),
            transport=httpx.ASGITransport(app=sb.app),
        ) as client,
    ):
        with pytest.raises(moeseg.AuthenticationError) as info:
            await client.list_segments()
    assert info.value.status == 401
    assert "not-the-key" not in str(info.value)


async def test_over_real_loopback_http() -> None:
    sb = make_sandbox(ServerErrorFault(when="after", routes={"create"}, times=1))
    async with (
        sb.serve(port=0) as base_url,
        Client(
            sb.workspace_id,
            sb.api_key,
            base_url=base_url,
            db_name=sb.db_name,
            governor=Governor(),
        ) as client,
    ):
        assert base_url.startswith("http://127.0.0.1:")
        client._sender._backoff = moeseg.client._retry.Backoff(base=0.02, cap=0.05)
        created = await client.create_segment(sample_definition("over_http"))
        assert created.recovered is True
        assert (await client.get_segment(created.id)).name == "over_http"
        assert [s.id for s in await client.list_segments("over_http")] == [created.id]
        done = await client.archive(name="over_http")
        assert done.success is True
    assert len(sb.segments()) == 1
