"""Construction: credentials from arguments or the environment, clear errors, a safe repr."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

import moeseg
from moeseg import Client, ConfigurationError
from moeseg.client._send import _LEASE_MARGIN
from moeseg.governor import QuotaPolicy

from .conftest import API_KEY, BASE, WORKSPACE, RecordingGovernor

ENV = ("MOENGAGE_WORKSPACE_ID", "MOENGAGE_API_KEY", "MOENGAGE_DC", "MOENGAGE_DB_NAME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def make(**kw: object) -> Client:
    kw.setdefault("governor", RecordingGovernor())
    return Client(**kw)  # type: ignore[arg-type]


def test_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", "ENVWS")
    monkeypatch.setenv("MOENGAGE_API_KEY", "env-key-123")
    monkeypatch.setenv("MOENGAGE_DC", "03")
    monkeypatch.setenv("MOENGAGE_DB_NAME", "envdb")
    c = make()
    assert c.workspace_id == "ENVWS"
    assert c.base_url == "https://api-03.moengage.com"
    assert c._sender.credentials.db_name == "envdb"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", "ENVWS")
    monkeypatch.setenv("MOENGAGE_API_KEY", "env-key-123")
    monkeypatch.setenv("MOENGAGE_DC", "03")
    c = make(workspace_id="ARGWS", api_key="arg-key", dc="101")
    assert c.workspace_id == "ARGWS"
    assert c.base_url == "https://api-101.moengage.com"


def test_base_url_wins_over_dc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOENGAGE_DC", "03")
    c = make(workspace_id=WORKSPACE, api_key=API_KEY, base_url="http://127.0.0.1:8080/")
    assert c.base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"api_key": API_KEY, "dc": "01"}, "MOENGAGE_WORKSPACE_ID"),
        ({"workspace_id": WORKSPACE, "dc": "01"}, "MOENGAGE_API_KEY"),
        ({"workspace_id": WORKSPACE, "api_key": "", "dc": "01"}, "MOENGAGE_API_KEY"),
        ({"workspace_id": WORKSPACE, "api_key": API_KEY}, "MOENGAGE_DC"),
        ({"workspace_id": WORKSPACE, "api_key": API_KEY, "dc": "07"}, "data center"),
        ({"workspace_id": WORKSPACE, "api_key": API_KEY, "base_url": "api.x"}, "http"),
        ({"workspace_id": WORKSPACE, "api_key": API_KEY, "dc": 1, "timeout": 0}, "timeout"),
        ({"workspace_id": WORKSPACE, "api_key": API_KEY, "dc": 1, "max_retries": -1}, "retries"),
        ({"workspace_id": WORKSPACE, "api_key": API_KEY, "dc": 1, "max_wait": -2}, "max_wait"),
        (
            {
                "workspace_id": WORKSPACE,
                "api_key": API_KEY,
                "dc": 1,
                "policy": QuotaPolicy.moengage().scaled(0.5),
            },
            "policy",
        ),
        (
            {
                "workspace_id": WORKSPACE,
                "api_key": API_KEY,
                "dc": 1,
                "transport": httpx.MockTransport(lambda r: httpx.Response(200)),
                "http_client": httpx.AsyncClient(),
            },
            "not both",
        ),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        make(**kwargs)
    assert API_KEY not in str(info.value)


def test_empty_environment_values_count_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOENGAGE_WORKSPACE_ID", "")
    with pytest.raises(ConfigurationError, match="workspace"):
        make(api_key=API_KEY, dc="01")


def test_repr_shows_workspace_and_base_url_only() -> None:
    c = make(workspace_id=WORKSPACE, api_key=API_KEY, dc="02", legacy_api_secret="shh-secret")
    assert (
        repr(c)
        == f"<moeseg.Client workspace_id='{WORKSPACE}' base_url='https://api-02.moengage.com'>"
    )
    assert API_KEY not in repr(c)


@pytest.mark.anyio
async def test_v2_call_without_db_name_sends_nothing() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.patch(f"{BASE}/v2/custom-segments/archive").respond(200, json={})
    governor = RecordingGovernor()
    async with make(
        workspace_id=WORKSPACE,
        api_key=API_KEY,
        dc="01",
        governor=governor,
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        with pytest.raises(ConfigurationError, match="MOENGAGE_DB_NAME"):
            await c.archive(name="x")
        with pytest.raises(ConfigurationError, match="db_name"):
            await c.create_file_segment(
                "f",
                "http://u.test",
                "http://c.test",
                users=1,
                file=moeseg.FileOptions("id"),
                expiry_time=7,
            )
    assert route.call_count == 0
    assert governor.demands == []


@pytest.mark.anyio
async def test_per_call_overrides_do_not_change_the_client() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(f"{BASE}/v3/custom-segments").respond(503)
    governor = RecordingGovernor()
    async with make(
        workspace_id=WORKSPACE,
        api_key=API_KEY,
        dc="01",
        governor=governor,
        max_retries=0,
        max_wait=5.0,
        timeout=7.0,
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        with pytest.raises(moeseg.UnexpectedResponse):
            await c.with_options(max_wait=1.5, timeout=2.0).list_segments()
        assert governor.max_waits == [1.5]
        assert route.calls.last.request.extensions["timeout"]["read"] == 2.0
        with pytest.raises(moeseg.UnexpectedResponse):
            await c.list_segments()
        assert governor.max_waits[-1] == 5.0
        assert route.calls.last.request.extensions["timeout"]["read"] == 7.0
        with (
            pytest.raises(moeseg.UnexpectedResponse),
            pytest.warns(DeprecationWarning, match="with_options"),
        ):
            await c.list_segments(max_wait=float("inf"))  # the old per-call keyword
        assert governor.max_waits[-1] is None
    assert governor.lease_timeouts == [
        2.0 + _LEASE_MARGIN,
        7.0 + _LEASE_MARGIN,
        7.0 + _LEASE_MARGIN,
    ]
    assert route.call_count == 3


@pytest.mark.anyio
async def test_with_options_is_a_light_copy_sharing_pool_and_governor() -> None:
    governor = RecordingGovernor()
    async with make(workspace_id=WORKSPACE, api_key=API_KEY, dc="01", governor=governor) as c:
        fast = c.with_options(timeout=2.0, max_retries=0, max_wait=1.0)
        assert fast is not c
        assert fast.governor is c.governor
        assert fast._sender is c._sender  # one connection pool, one set of credentials
        assert (fast._opts.timeout, fast._opts.max_retries, fast._opts.max_wait) == (2.0, 0, 1.0)
        assert c._opts.timeout == 30.0  # the original is unchanged
        assert fast.with_options(max_wait=None)._opts.max_wait is None
        assert repr(fast) == repr(c)
        with pytest.raises(ConfigurationError, match="timeout"):
            c.with_options(timeout=-1)
        with pytest.raises(ConfigurationError, match="max_retries"):
            c.with_options(max_retries=True)
        with pytest.raises(TypeError, match="unknown option"):
            c.with_options(retries=3)  # type: ignore[call-arg]


@pytest.mark.anyio
async def test_deprecated_spellings_still_work_with_a_warning() -> None:
    router = respx.MockRouter(assert_all_called=False)
    accepted = {"message": "ok", "success": True, "cs_id": "c1"}
    route = router.put(f"{BASE}/v2/custom-segments/file-segment/add-users").respond(
        202, json=accepted
    )
    governor = RecordingGovernor()
    async with make(
        workspace_id=WORKSPACE,
        api_key=API_KEY,
        dc="01",
        db_name="db",
        governor=governor,
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        with pytest.warns(DeprecationWarning, match="FileOptions"):
            await c.add_users(
                "s",
                "http://u.test",
                "http://cb.test",
                users=1,
                attribute_name="id",
                emails=["a@b.c"],
                cs_id="c1",
            )
    body = json.loads(route.calls.last.request.content)
    assert (body["attribute_name"], body["cs_id"], body["emails"]) == ("id", "c1", ["a@b.c"])


def test_file_options_check_the_column() -> None:
    assert moeseg.FileOptions("id", emails=["a@b.c"]).emails == ("a@b.c",)
    with pytest.raises(ValueError, match="attribute_name"):
        moeseg.FileOptions(" ")
