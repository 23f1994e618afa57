"""moeseg.SyncClient: the blocking facade, against the in-process sandbox (ASGI transport)."""

from __future__ import annotations

import asyncio
import gc
import inspect
import pickle
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

import moeseg
from moeseg.governor import Governor, QuotaGroup, QuotaPolicy, Window, get_governor
from moeseg.sandbox import Sandbox, SandboxConfig, WorkspaceCredentials

BASE = "http://sandbox.invalid"


def defn(name: str, value: str = "Paris") -> moeseg.SegmentDefinition:
    return moeseg.from_payload(
        {
            "name": name,
            "included_filters": {
                "filter_operator": "and",
                "filters": [
                    {
                        "filter_type": "user_attributes",
                        "name": "city",
                        "data_type": "string",
                        "operator": "is",
                        "value": value,
                        "negate": False,
                        "case_sensitive": False,
                    }
                ],
            },
        }
    )


def sync_client(sb: Sandbox, **kw: object) -> moeseg.SyncClient:
    return moeseg.SyncClient(
        sb.workspace_id,
        sb.api_key,
        base_url=BASE,
        db_name=sb.db_name,
        transport=httpx.ASGITransport(app=sb.app),
        **kw,  # type: ignore[arg-type]
    )


def fresh_sandbox() -> Sandbox:
    """A sandbox on a workspace id of its own (the default governor registry is per process),
    keeping time by the monotonic clock (its app is used from more than one event loop)."""
    ws = WorkspaceCredentials(workspace_id=f"ws-sync-{uuid.uuid4().hex[:8]}")
    return Sandbox(SandboxConfig(workspaces=(ws,), clock=time.monotonic))


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox()


@pytest.fixture
def client(sb: Sandbox) -> Iterator[moeseg.SyncClient]:
    with sync_client(sb, governor=Governor(QuotaPolicy.moengage())) as c:
        yield c


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_create_list_get_round_trip(sb: Sandbox, backend: str) -> None:
    with sync_client(sb, governor=Governor(QuotaPolicy.moengage()), backend=backend) as client:
        created = client.create_segment(defn("sync-one"))
        assert created.name == "sync-one"
        assert created.id
        assert [s.id for s in client.list_segments("sync-one")] == [created.id]
        got = client.get_segment(created.id)
        assert got.name == "sync-one"
        assert moeseg.fingerprint(got) == moeseg.fingerprint(defn("sync-one"))
        assert client.find_created("sync-one", moeseg.fingerprint(defn("sync-one"))) == got


def test_typed_errors_come_out_unchanged(client: moeseg.SyncClient) -> None:
    with pytest.raises(moeseg.NotFound) as info:
        client.get_segment("0" * 24)  # a well-formed id no segment has
    assert info.value.status == 404
    client.create_segment(defn("twice"))
    with pytest.raises(moeseg.NameConflict):
        client.create_segment(defn("twice", value="Rome"))


def test_archive_by_id(client: moeseg.SyncClient, sb: Sandbox) -> None:
    seg = client.create_segment(defn("to-archive"))
    assert client.archive(segment_id=seg.id).success
    assert client.unarchive(name="to-archive").success


def test_with_options_max_wait_zero_when_quota_is_spent(sb: Sandbox) -> None:
    policy = QuotaPolicy.moengage().with_group(QuotaGroup("segments", (Window(1, 60.0),)))
    with sync_client(sb, governor=Governor(policy)) as client:
        client.create_segment(defn("only-one"))
        impatient = client.with_options(max_wait=0)
        assert isinstance(impatient, moeseg.SyncClient)
        with pytest.raises(moeseg.QuotaWaitTooLong):
            impatient.list_segments()
        assert client.get_segment(sb.segments()[0].id).name == "only-one"  # other group


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_calls_inside_an_event_loop_raise_instead_of_hanging(
    client: moeseg.SyncClient,
) -> None:
    with pytest.raises(moeseg.ConfigurationError, match=r"moeseg\.Client with await"):
        client.list_segments()
    with pytest.raises(moeseg.ConfigurationError, match="event loop"):
        moeseg.SyncClient("ws", "key", base_url=BASE)


def test_a_callback_on_the_client_loop_cannot_call_back_in(client: moeseg.SyncClient) -> None:
    seen: list[BaseException] = []

    def on_send() -> None:
        try:
            client.list_segments()
        except moeseg.ConfigurationError as exc:
            seen.append(exc)

    client.create_segment(defn("cb"), on_send=on_send)
    assert len(seen) == 1


def test_closed_client_raises(sb: Sandbox) -> None:
    client = sync_client(sb, governor=Governor(QuotaPolicy.moengage()))
    view = client.with_options(timeout=5)
    threads = threading.active_count()
    client.close()
    client.close()  # idempotent
    assert threading.active_count() < threads  # the loop thread is gone
    for c in (client, view):
        with pytest.raises(moeseg.ConfigurationError, match="after close"):
            c.list_segments()
    with pytest.raises(moeseg.ConfigurationError, match="after close"):
        client.with_options(max_wait=1)


def test_bad_configuration_is_raised_at_construction_and_leaves_no_thread() -> None:
    threads = threading.active_count()
    with pytest.raises(moeseg.ConfigurationError, match="api_key"):
        moeseg.SyncClient("ws", "", base_url=BASE)
    assert threading.active_count() == threads


def test_repr_holds_no_secret_and_pickling_is_refused(client: moeseg.SyncClient) -> None:
    text = repr(client)
    assert text.startswith("<moeseg.SyncClient workspace_id=")
    assert "sandbox-api-key" not in text
    assert repr(moeseg.SyncClient) == "<class 'moeseg.SyncClient'>"
    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_quota_is_shared_with_async_clients_of_the_workspace() -> None:
    sb = fresh_sandbox()
    ws = sb.workspace_id
    gov = get_governor(ws)

    async def async_list() -> None:
        async with moeseg.Client(
            ws,
            sb.api_key,
            base_url=BASE,
            transport=httpx.ASGITransport(app=sb.app),
        ) as aclient:
            assert aclient.governor is gov
            await aclient.list_segments()

    with sync_client(sb) as client:
        assert client.governor is gov
        client.create_segment(defn("shared"))
        asyncio.run(async_list())
        left = asyncio.run(gov.remaining())
    assert left["segments"][60.0] == 50 - 2


def test_a_client_nobody_closed_is_closed_when_collected(sb: Sandbox) -> None:
    threads = threading.active_count()
    client = sync_client(sb, governor=Governor(QuotaPolicy.moengage()))
    view = client.with_options(timeout=5)
    del client
    gc.collect()
    assert view.list_segments() == []  # the view keeps the loop alive
    del view
    gc.collect()
    assert threading.active_count() == threads


def test_a_client_nobody_closed_does_not_hang_the_interpreter_exit() -> None:
    code = "import moeseg; c = moeseg.SyncClient('ws', 'key', base_url='http://x.invalid')"
    done = subprocess.run([sys.executable, "-c", code], timeout=30, check=False)
    assert done.returncode == 0


def test_the_constructor_mirrors_client_and_the_methods_match() -> None:
    # SyncClient spells out Client's signature: this keeps the two from drifting apart.
    sync_params = dict(inspect.signature(moeseg.SyncClient.__init__).parameters)
    sync_params.pop("backend")
    client_params = dict(inspect.signature(moeseg.Client.__init__).parameters)
    assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
        (p.name, p.kind, p.default) for p in client_params.values()
    ]
    public = {
        n
        for n, v in vars(moeseg.Client).items()
        if inspect.iscoroutinefunction(v) and not n.startswith("_") and n != "aclose"
    }
    for base in moeseg.Client.__mro__[1:]:
        public |= {
            n
            for n, v in vars(base).items()
            if inspect.iscoroutinefunction(v) and not n.startswith("_") and n != "aclose"
        }
    assert public <= set(dir(moeseg.SyncClient))
