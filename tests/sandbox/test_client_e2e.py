"""The moeseg client and governor end to end against the sandbox (the one end-to-end suite;
it absorbed ``tests/client/test_sandbox.py``).

Over real loopback HTTP (uvicorn via ``sandbox.serve``): every endpoint and every documented
error, typed. In virtual time (ASGI transport): outcomes unknown to the client recovered exactly
once, and a simulated day of 1500 creates through client and governor, with and without faults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

import moeseg
from moeseg import Client
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import (
    DropConnection,
    FaultConfig,
    FaultRule,
    OtherTenant,
    Sandbox,
    SandboxConfig,
    ServerErrorFault,
)

from ._helpers import Loopback, attr_filter, definition, segment_ref

pytestmark = pytest.mark.anyio


def defn(name: str, *filters: dict[str, object]) -> moeseg.SegmentDefinition:
    return moeseg.from_payload(definition(name, *filters))


@asynccontextmanager
async def http_client(sb: Sandbox, **kw: object) -> AsyncIterator[Client]:
    """A client on a fresh governor, talking to the sandbox over real loopback HTTP."""
    async with (
        sb.serve(port=0) as base_url,
        Client(
            sb.workspace_id,
            sb.api_key,
            base_url=base_url,
            db_name=sb.db_name,
            legacy_api_secret=sb.legacy_api_secret,
            governor=Governor(QuotaPolicy.moengage()),
            **kw,  # type: ignore[arg-type]
        ) as client,
    ):
        yield client


@pytest.mark.slow  # real HTTP on loopback
async def test_filter_segment_lifecycle_over_http() -> None:
    sb = Sandbox()
    async with http_client(sb) as client:
        created = await client.create_segment(defn("e2e", attr_filter(value="Berlin")))
        (listed,) = await client.list_segments(name="e2e")
        got = await client.get_segment(created.id)
        updated = await client.update_segment(
            created.id, defn("e2e-renamed", attr_filter(value="Rome"))
        )
        everything = await client.list_segments()
    assert created.name == "e2e"
    assert not created.recovered
    assert listed.id == got.id == created.id
    assert moeseg.fingerprint(got) == moeseg.fingerprint(defn("x", attr_filter(value="Berlin")))
    assert updated.name == "e2e-renamed"
    assert [s.name for s in everything] == ["e2e-renamed"]


async def test_every_documented_error_reaches_the_client_typed() -> None:
    sb = Sandbox(SandboxConfig(active_segment_limit=3, max_nesting=2))
    async with http_client(sb, max_retries=0) as client:
        a = await client.create_segment(defn("a"))
        with pytest.raises(moeseg.NameConflict):
            await client.create_segment(defn("a", attr_filter(value="other")))
        with pytest.raises(moeseg.DefinitionConflict) as dup:
            await client.create_segment(defn("a-again", attr_filter(value="a")))
        assert (dup.value.existing_cs_id, dup.value.existing_cs_name) == (a.id, "a")
        with pytest.raises(moeseg.NotFound):
            await client.get_segment("0" * 24)
        with pytest.raises(moeseg.BadRequest):
            await client.get_segment("not-an-object-id")
        b = await client.create_segment(defn("b", segment_ref(a.id)))
        with pytest.raises(moeseg.CyclicReference):
            await client.update_segment(a.id, defn("a", segment_ref(b.id)))
        with pytest.raises(moeseg.QueryTooComplex):
            await client.create_segment(defn("deep", segment_ref(b.id)))
        await client.create_segment(defn("c"))
        with pytest.raises(moeseg.ActiveSegmentLimit) as full:
            await client.create_segment(defn("d"))
        assert (full.value.actual_count, full.value.limit) == (3, 3)
        await client.archive(name="c")
        with pytest.raises(moeseg.PermissionDenied):
            await client.update_segment(
                sb.find("c").id,  # type: ignore[union-attr]
                defn("c", attr_filter(value="zz")),
            )
        await client.unarchive(name="c")
    async with sb.serve(port=0) as base_url:
        async with Client(
            sb.workspace_id, "wrong-key", base_url=base_url, governor=Governor(), max_retries=0
        ) as bad:
            with pytest.raises(moeseg.AuthenticationError) as denied:
                await bad.list_segments()
            assert denied.value.status == 401
            assert "wrong-key" not in str(denied.value)
        async with Client(
            "UNKNOWN", sb.api_key, base_url=base_url, governor=Governor(), max_retries=0
        ) as unknown:
            with pytest.raises(moeseg.BadRequest):
                await unknown.list_segments()


@pytest.mark.slow  # real HTTP on loopback
async def test_create_is_exactly_once_when_the_connection_drops_over_http() -> None:
    faults = FaultConfig((DropConnection(routes={"create"}, times=1),))
    sb = Sandbox(SandboxConfig(faults=faults))
    async with http_client(sb) as client:
        got = await client.create_segment(defn("once"))
    assert got.recovered
    assert [s.name for s in sb.segments()] == ["once"]
    assert got.id == sb.segments()[0].id
    assert [r.route for r in sb.log] == ["create", "create", "list", "get"]
    assert [r.status for r in sb.log] == [0, 409, 200, 200]


@pytest.mark.slow  # real HTTP on loopback
async def test_create_is_exactly_once_after_a_5xx_over_http() -> None:
    faults = FaultConfig((ServerErrorFault(status=500, when="after", routes={"create"}, times=1),))
    sb = Sandbox(SandboxConfig(faults=faults))
    async with http_client(sb) as client:
        got = await client.create_segment(defn("once"))
    assert got.recovered
    assert len(sb.segments()) == 1


@pytest.mark.slow  # real HTTP on loopback
async def test_file_segments_archive_and_legacy_over_http(loopback: tuple[Loopback, str]) -> None:
    server, files = loopback
    server.files.update({"/u.csv": b"email\na@x.io\nb@x.io\n", "/v.csv": b"c@x.io\n"})
    sb = Sandbox()
    async with http_client(sb) as client:
        accepted = await client.create_file_segment(
            "files", f"{files}/u.csv", f"{files}/cb", moeseg.FileOptions("email"),
            users=2, expiry_time=30,
        )  # fmt: skip
        await sb.wait_idle()
        await client.add_users(
            "files", f"{files}/v.csv", f"{files}/cb", moeseg.FileOptions("email"), users=1
        )
        await sb.wait_idle()
        await client.replace_users(
            "files", f"{files}/v.csv", f"{files}/cb", moeseg.FileOptions("email"), users=1,
            segment_id=accepted.cs_id,
        )  # fmt: skip
        await sb.wait_idle()
        await client.remove_users(
            "files", f"{files}/v.csv", f"{files}/cb", moeseg.FileOptions("email"), users=1
        )
        await sb.wait_idle()
        await client.archive(segment_id=accepted.cs_id)
        await client.unarchive(name="files")
        with pytest.warns(DeprecationWarning, match="CSV segment API is deprecated"):
            legacy = await client.legacy_csv_segment(
                "LEGACY", f"{files}/u.csv", f"{files}/legacy", moeseg.FileOptions("email")
            )
        await sb.wait_idle()
    assert accepted.cs_name == "files"
    seg = sb.find("files")
    assert seg is not None
    assert seg.users == set()
    assert [cb["user_count"] for p, cb in server.received if p == "/cb"] == [2, 1, 1, 1]
    (legacy_cb,) = [cb for p, cb in server.received if p == "/legacy"]
    assert legacy_cb["status"] == 201
    assert legacy_cb["request_id"] == legacy.request_id


# ---------------------------------------------------------------- in process, virtual time


def files_transport() -> httpx.MockTransport:
    """Serves every CSV the sandbox downloads and accepts every callback it posts."""
    return httpx.MockTransport(lambda request: httpx.Response(200, content=b"u1\nu2\nu3\n"))


@asynccontextmanager
async def in_process(*rules: FaultRule, **config: object) -> AsyncIterator[tuple[Sandbox, Client]]:
    """A sandbox with ``rules`` and a client on the ASGI transport (file jobs running)."""
    sb = Sandbox(
        SandboxConfig(
            faults=FaultConfig(rules),
            fetch_transport=files_transport(),
            **config,  # type: ignore[arg-type]
        )
    )
    async with (
        sb.running(),
        Client(
            sb.workspace_id,
            sb.api_key,
            base_url="http://sandbox.invalid",
            db_name=sb.db_name,
            governor=Governor(QuotaPolicy.moengage()),
            transport=httpx.ASGITransport(app=sb.app),
        ) as client,
    ):
        yield sb, client
        await sb.wait_idle()


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
    async with in_process(fault) as (sb, client):
        segment = await client.create_segment(defn("once"))
    assert segment.recovered is True
    assert [s.id for s in sb.segments()] == [segment.id]


@pytest.mark.virtual_time
async def test_failure_before_processing_is_simply_retried() -> None:
    async with in_process(ServerErrorFault(routes={"create"}, times=2)) as (sb, client):
        segment = await client.create_segment(defn("twice_failed"))
    assert segment.recovered is False
    assert len(sb.segments()) == 1


@pytest.mark.virtual_time
async def test_dropped_file_segment_create_is_recovered() -> None:
    async with in_process(DropConnection(routes={"file_create"}, times=1)) as (sb, client):
        accepted = await client.create_file_segment(
            "files_once",
            "http://files.invalid/a.csv",
            "http://hooks.invalid/cb",
            moeseg.FileOptions("id"),
            users=3,
            expiry_time=7,
        )
    stored = sb.find("files_once")
    assert stored is not None
    assert accepted.cs_id == stored.id
    assert accepted.recovered
    assert len(sb.segments()) == 1


@pytest.mark.virtual_time
async def test_active_segment_limit_is_never_retried() -> None:
    async with in_process(active_segment_limit=1) as (sb, client):
        await client.create_segment(defn("first"))
        with pytest.raises(moeseg.ActiveSegmentLimit) as info:
            await client.create_segment(defn("second"))
    assert (info.value.actual_count, info.value.limit) == (1, 1)
    assert len([r for r in sb.log if r.route == "create"]) == 2


# ---------------------------------------------------------------- a simulated day, in process

N = 1500


def greedy_makespan(policy: QuotaPolicy, n: int) -> float:
    """When the n-th create could be admitted at best, starting from an empty workspace."""
    from moeseg.governor import GroupView, Plan, WindowView

    demand = tuple((policy.group(g), u) for g, u in policy.demand("create").items())
    empty = {
        g.name: GroupView(g.name, 0.0, 0, -1.0, tuple(WindowView(w, 0, ()) for w in g.windows))
        for g in policy.groups
    }
    plan = Plan(empty)
    return [plan.admit(demand) for _ in range(n)][-1]


async def run_day(
    sb: Sandbox, n: int = N, *, max_retries: int = 4
) -> tuple[list[moeseg.Segment], float]:
    policy = QuotaPolicy.moengage()
    results: list[moeseg.Segment] = []
    async with Client(
        sb.workspace_id,
        sb.api_key,
        base_url="http://sandbox.invalid",
        db_name=sb.db_name,
        transport=httpx.ASGITransport(app=sb.app),
        governor=Governor(policy),
        max_retries=max_retries,
    ) as client:
        start = anyio.current_time()

        async def one(i: int) -> None:
            results.append(await client.create_segment(defn(f"seg-{i:04d}")))

        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(one, i)
        return results, anyio.current_time() - start


@pytest.mark.slow
@pytest.mark.virtual_time
async def test_a_simulated_day_of_1500_creates_runs_at_the_greedy_optimum() -> None:
    sb = Sandbox(SandboxConfig(active_segment_limit=N))
    results, makespan = await run_day(sb)
    optimum = greedy_makespan(QuotaPolicy.moengage(), N)
    # Day 1: 200 an hour for 5 hours; day 2 from 86400 s: 200, 200, then 100 by 93660 s.
    assert optimum == pytest.approx(86400.0 + 2 * 3600.0 + 60.0)
    assert sb.too_many_requests == {}
    assert len(sb.log) == N
    assert sorted(s.name for s in results) == [f"seg-{i:04d}" for i in range(N)]
    assert len(sb.segments()) == N
    assert abs(makespan - optimum) <= 0.001 * optimum
    assert sb.max_in_window("segments", 60.0) == 50
    assert sb.max_in_window("segments", 3600.0) == 200
    assert sb.max_in_window("segments", 86400.0) == 1000


@pytest.mark.virtual_time
async def test_under_20_percent_faults_no_segment_is_lost_or_duplicated() -> None:
    faults = FaultConfig(
        (
            ServerErrorFault(status=503, probability=0.05, routes={"create"}),
            ServerErrorFault(status=500, probability=0.05, when="after", routes={"create"}),
            DropConnection(probability=0.1, routes={"create"}),
        ),
        seed=20,
    )
    sb = Sandbox(SandboxConfig(faults=faults))
    results, _makespan = await run_day(sb, 300, max_retries=10)
    created = sb.segments()
    assert sorted(s.name for s in created) == [f"seg-{i:04d}" for i in range(300)]
    assert len({s.fingerprint for s in created}) == 300
    by_name = {s.name: s.id for s in created}
    assert all(by_name[s.name] == s.id for s in results)
    assert len(results) == 300
    recovered = sum(s.recovered for s in results)
    faulted_after = sum(1 for r in sb.log if r.processed_status == 201 and r.status != 201)
    assert recovered == faulted_after > 0
    assert sb.too_many_requests.get("rate_limit", 0) == 0


@pytest.mark.virtual_time
async def test_the_governor_recovers_from_another_tenants_traffic() -> None:
    faults = FaultConfig((OtherTenant(group="segments", amount=1, probability=0.05),), seed=3)
    sb = Sandbox(SandboxConfig(faults=faults))
    results, _ = await run_day(sb, 300, max_retries=10)
    assert len(results) == 300
    assert len(sb.segments()) == 300
    assert sb.too_many_requests["rate_limit_other_tenant"] > 0  # the tenant did get in the way
    assert sb.too_many_requests.get("rate_limit", 0) == 0
