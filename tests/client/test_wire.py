"""The wire shape of every endpoint: method, URL, headers, JSON body; and what comes back."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest
import respx

import moeseg
from moeseg import Client, Segment, SegmentUpdate
from moeseg.segments import V2AcceptedBody

from .conftest import (
    API_KEY,
    BASE,
    DB_NAME,
    LEGACY_SECRET,
    SAMPLE_PAYLOAD,
    WORKSPACE,
    RecordingGovernor,
    list_body,
    sample_definition,
    segment_body,
)

pytestmark = pytest.mark.anyio

BASIC = "Basic " + base64.b64encode(f"{WORKSPACE}:{API_KEY}".encode()).decode()


def only_request(route: respx.Route) -> httpx.Request:
    assert route.call_count == 1
    return route.calls.last.request


def assert_v3_headers(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == BASIC
    assert request.headers["MOE-APPKEY"] == WORKSPACE
    assert "MOE-DBNAME" not in request.headers


def assert_v2_headers(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == BASIC
    assert request.headers["MOE-DBNAME"] == DB_NAME
    assert "MOE-APPKEY" not in request.headers
    assert request.headers["Content-Type"] == "application/json"


async def test_create_segment(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.post(f"{BASE}/v3/custom-segments").respond(201, json=segment_body())
    segment = await client.create_segment(sample_definition())
    request = only_request(route)
    assert_v3_headers(request)
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == SAMPLE_PAYLOAD
    assert isinstance(segment, Segment)
    assert (segment.id, segment.name, segment.recovered) == ("seg-1", "segment_example_name", False)
    assert segment.included_filters is not None
    assert governor.demands == [{"segments": 1}]
    assert governor.settled == ["complete"]


async def test_list_segments(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.get(f"{BASE}/v3/custom-segments").respond(
        200, json=list_body(("a", "1"), ("b", "2"))
    )
    segments = await client.list_segments()
    request = only_request(route)
    assert_v3_headers(request)
    assert request.url.query == b""
    assert [(s.name, s.id) for s in segments] == [("a", "1"), ("b", "2")]
    assert governor.demands == [{"segments": 1}]


async def test_list_segments_by_exact_name(client: Client, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/v3/custom-segments").respond(200, json=list_body())
    assert await client.list_segments("buyers & co/eu") == []
    request = only_request(route)
    assert request.url.params["name"] == "buyers & co/eu"
    assert request.url.path == "/v3/custom-segments"


async def test_get_segment(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.get(f"{BASE}/v3/custom-segments/6388a97a02adb9071ca84ce9").respond(
        200, json=segment_body(seg_id="6388a97a02adb9071ca84ce9")
    )
    segment = await client.get_segment("6388a97a02adb9071ca84ce9")
    assert_v3_headers(only_request(route))
    assert segment.id == "6388a97a02adb9071ca84ce9"
    assert governor.demands == [{"segment_reads": 1}]


async def test_get_segment_quotes_the_id(client: Client, router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/v3/custom-segments/a%2Fb").respond(200, json=segment_body())
    await client.get_segment("a/b")
    assert only_request(route).url.raw_path == b"/v3/custom-segments/a%2Fb"


async def test_an_empty_segment_id_is_refused(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    with pytest.raises(ValueError, match="segment_id"):
        await client.get_segment("")
    with pytest.raises(ValueError, match="segment_id"):
        await client.update_segment("", SegmentUpdate(sample_definition().included_filters))
    assert governor.demands == []


async def test_update_segment(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.patch(f"{BASE}/v3/custom-segments/seg-1").respond(
        200, json=segment_body(name="renamed")
    )
    update = SegmentUpdate(
        included_filters=sample_definition().included_filters,
        name="renamed",
        updated_by="admin@example.com",
    )
    segment = await client.update_segment("seg-1", update)
    request = only_request(route)
    assert_v3_headers(request)
    assert json.loads(request.content) == {
        "name": "renamed",
        "included_filters": SAMPLE_PAYLOAD["included_filters"],
        "updated_by": "admin@example.com",
    }
    assert segment.name == "renamed"
    assert governor.demands == [{"segments": 1}]


ACCEPTED = {
    "message": "File-segment creation request accepted",
    "success": True,
    "cs_name": "file_seg",
    "cs_id": "cs-9",
}


async def test_create_file_segment(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor
) -> None:
    route = router.post(f"{BASE}/v2/custom-segments/file-segment").respond(202, json=ACCEPTED)
    result = await client.create_file_segment(
        "file_seg",
        "https://files.example/users.csv",
        "https://hooks.example/cb",
        users=1500,
        file=moeseg.FileOptions("uid", emails=["ops@example.com"]),
        expiry_time=30,
    )
    request = only_request(route)
    assert_v2_headers(request)
    assert json.loads(request.content) == {
        "name": "file_seg",
        "file_url": "https://files.example/users.csv",
        "callback_url": "https://hooks.example/cb",
        "attribute_name": "uid",
        "attribute_type": "string",
        "emails": ["ops@example.com"],
        "expiry_time": 30,
    }
    assert result == V2AcceptedBody(**ACCEPTED)
    assert governor.demands == [{"file_ops": 1, "file_users": 1500}]


@pytest.mark.parametrize(
    ("method_name", "path", "operation"),
    [
        ("add_users", "add-users", "file_add"),
        ("remove_users", "remove-users", "file_remove"),
        ("replace_users", "replace", "file_replace"),
    ],
)
async def test_file_segment_users(
    client: Client,
    router: respx.MockRouter,
    governor: RecordingGovernor,
    method_name: str,
    path: str,
    operation: str,
) -> None:
    body = {"message": "accepted", "success": True, "cs_name": "file_seg", "cs_id": "cs-9"}
    route = router.put(f"{BASE}/v2/custom-segments/file-segment/{path}").respond(202, json=body)
    result = await getattr(client, method_name)(
        "file_seg",
        "https://files.example/more.csv",
        "https://hooks.example/cb",
        users=20,
        file=moeseg.FileOptions("email", attribute_type="string"),
        segment_id="cs-9",
    )
    request = only_request(route)
    assert request.method == "PUT"
    assert_v2_headers(request)
    assert json.loads(request.content) == {
        "name": "file_seg",
        "file_url": "https://files.example/more.csv",
        "callback_url": "https://hooks.example/cb",
        "attribute_name": "email",
        "attribute_type": "string",
        "cs_id": "cs-9",
    }
    assert result.cs_id == "cs-9"
    assert governor.demands == [governor.policy.demand(operation, users=20)]
    assert governor.demands == [{"file_ops": 1, "file_users": 20}]


@pytest.mark.parametrize("action", ["archive", "unarchive"])
@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"name": "old_seg"}, {"name": "old_seg"}),
        ({"name": "old_seg", "segment_id": "cs-3"}, {"name": "old_seg", "cs_id": "cs-3"}),
    ],
)
async def test_archive_and_unarchive(
    client: Client,
    router: respx.MockRouter,
    governor: RecordingGovernor,
    action: str,
    kwargs: dict[str, str],
    body: dict[str, str],
) -> None:
    reply = {"message": f"Successfully {action}d the custom segment", "success": True}
    route = router.patch(f"{BASE}/v2/custom-segments/{action}").respond(200, json=reply)
    result = await getattr(client, action)(**kwargs)
    request = only_request(route)
    assert_v2_headers(request)
    assert json.loads(request.content) == body
    assert result.success is True
    assert governor.demands == []  # no published quota: never governed, never delayed


@pytest.mark.parametrize("action", ["archive", "unarchive"])
async def test_archive_by_id_alone_looks_the_required_name_up(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor, action: str
) -> None:
    """Issue 12 §2: MoEngage's spec requires ``name``; one get by id (charged) finds it."""
    reply = {"message": f"Successfully {action}d the custom segment", "success": True}
    route = router.patch(f"{BASE}/v2/custom-segments/{action}").respond(200, json=reply)
    got = router.get(f"{BASE}/v3/custom-segments/cs-3").respond(
        200, json={"data": {"id": "cs-3", "name": "old_seg"}}
    )
    result = await getattr(client, action)(segment_id="cs-3")
    assert json.loads(only_request(route).content) == {"name": "old_seg", "cs_id": "cs-3"}
    assert got.call_count == 1
    assert governor.demands == [{"get": 1}] or len(governor.demands) == 1
    assert result.success is True
    with pytest.warns(DeprecationWarning, match="segment_id"):
        await getattr(client, action)(cs_id="cs-3")


async def test_archive_needs_a_name_or_id(client: Client) -> None:
    with pytest.raises(TypeError, match="name= or segment_id="):
        await client.archive()


async def test_legacy_csv_segment(client: Client, router: respx.MockRouter) -> None:
    route = router.post("https://api.moengage.com/csv_segment").respond(
        200, json={"status": 200, "request_id": "d5a2", "segment_name": "TEST"}
    )
    with pytest.warns(DeprecationWarning, match="create_file_segment"):
        result = await client.legacy_csv_segment(
            "TEST",
            "https://files.example/users.csv",
            "http://localhost:12345",
            file=moeseg.FileOptions("email", emails=["ops@example.com"]),
        )
    request = only_request(route)
    assert request.headers["Authorization"] == BASIC
    assert "MOE-APPKEY" not in request.headers
    assert "MOE-DBNAME" not in request.headers
    expected_signature = hashlib.sha256(f"{WORKSPACE}|TEST|{LEGACY_SECRET}".encode()).hexdigest()
    assert json.loads(request.content) == {
        "appId": WORKSPACE,
        "segName": "TEST",
        "attribute": "email",
        "attributeType": "string",
        "csvUrl": "https://files.example/users.csv",
        "callback": "http://localhost:12345",
        "signature": expected_signature,
        "emails": ["ops@example.com"],
    }
    assert LEGACY_SECRET.encode() not in request.content
    assert (result.status, result.request_id, result.segment_name) == (200, "d5a2", "TEST")


async def test_legacy_error_in_a_200_body_is_raised(
    client: Client, router: respx.MockRouter
) -> None:
    body = {"status": 409, "request_id": "d5a2", "error_message": "duplicate request"}
    router.post("https://api.moengage.com/csv_segment").respond(200, json=body)
    with (
        pytest.warns(DeprecationWarning, match="deprecated"),
        pytest.raises(moeseg.NameConflict) as info,
    ):
        await client.legacy_csv_segment(
            "TEST", "http://u.test", "http://c.test", file=moeseg.FileOptions("email")
        )
    assert info.value.status == 409
    assert info.value.response_id == "d5a2"


async def test_legacy_needs_the_secret(router: respx.MockRouter) -> None:
    async with Client(
        WORKSPACE,
        API_KEY,
        dc="01",
        governor=RecordingGovernor(),
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        with (
            pytest.warns(DeprecationWarning, match="deprecated"),
            pytest.raises(moeseg.ConfigurationError),
        ):
            await c.legacy_csv_segment(
                "TEST", "http://u.test", "http://c.test", file=moeseg.FileOptions("email")
            )


async def test_explicit_app_key_and_legacy_app_id(router: respx.MockRouter) -> None:
    v3 = router.get(f"{BASE}/v3/custom-segments").respond(200, json=list_body())
    legacy = router.post("https://legacy.example/csv_segment").respond(200, json={"status": 200})
    async with Client(
        WORKSPACE,
        API_KEY,
        dc=1,
        app_key="APPKEY",
        legacy_app_id="LEGACYAPP",
        legacy_base_url="https://legacy.example/",
        legacy_api_secret=LEGACY_SECRET,
        governor=RecordingGovernor(),
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        await c.list_segments()
        with pytest.warns(DeprecationWarning, match="deprecated"):
            await c.legacy_csv_segment(
                "S", "http://u.test", "http://c.test", file=moeseg.FileOptions("email")
            )
    assert only_request(v3).headers["MOE-APPKEY"] == "APPKEY"
    sent = json.loads(only_request(legacy).content)
    assert sent["appId"] == "LEGACYAPP"
    assert sent["signature"] == hashlib.sha256(f"LEGACYAPP|S|{LEGACY_SECRET}".encode()).hexdigest()


async def test_base_url_serves_the_legacy_api_too(router: respx.MockRouter) -> None:
    route = router.post("http://sandbox.invalid/csv_segment").respond(200, json={"status": 200})
    async with Client(
        WORKSPACE,
        API_KEY,
        base_url="http://sandbox.invalid/",
        legacy_api_secret=LEGACY_SECRET,
        governor=RecordingGovernor(),
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        assert c.base_url == "http://sandbox.invalid"
        with pytest.warns(DeprecationWarning, match="deprecated"):
            await c.legacy_csv_segment(
                "S", "http://u.test", "http://c.test", file=moeseg.FileOptions("email")
            )
    assert route.call_count == 1


@pytest.mark.parametrize("dc", ["02", "05", "06", "101"])
async def test_data_center_host(router: respx.MockRouter, dc: str) -> None:
    route = router.get(f"https://api-{dc}.moengage.com/v3/custom-segments").respond(
        200, json=list_body()
    )
    async with Client(
        WORKSPACE,
        API_KEY,
        dc=dc,
        governor=RecordingGovernor(),
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        await c.list_segments()
    assert route.call_count == 1


async def test_callers_http_client_is_used_and_left_open(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/v3/custom-segments").respond(200, json=list_body())
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        async with Client(
            WORKSPACE, API_KEY, dc="01", governor=RecordingGovernor(), http_client=http
        ) as c:
            await c.list_segments()
        assert not http.is_closed
    assert route.call_count == 1


async def test_own_http_client_is_closed_on_exit(router: respx.MockRouter) -> None:
    c = Client(
        WORKSPACE,
        API_KEY,
        dc="01",
        governor=RecordingGovernor(),
        transport=httpx.MockTransport(router.async_handler),
    )
    async with c:
        pass
    assert c._sender.http.is_closed
