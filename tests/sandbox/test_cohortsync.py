"""POST /v1/integrations/cohortsync: every documented answer for the input that produces it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from moeseg.sandbox import FaultConfig, Sandbox, SandboxConfig, ServerErrorFault

from ._helpers import asgi_client, basic, definition, v2_headers, v3_headers

pytestmark = pytest.mark.anyio

PATH = "/v1/integrations/cohortsync"


def body(action: str = "add_members", *uids: str, name: str = "Fans", cid: str = "c1") -> Any:
    return {
        "action": action,
        "partner": "moeseg",
        "parameters": {
            "cohort_name": name,
            "cohort_id": cid,
            "members": [{"uid": u} for u in (uids or ("u1", "u2"))],
        },
    }


async def post(c: httpx.AsyncClient, sb: Sandbox, data: Any, **headers: str) -> httpx.Response:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    h = {**v3_headers(sb), "Content-Type": "application/json", **headers}
    return await c.post(PATH, content=raw, headers=h)


def fail(r: httpx.Response) -> dict[str, Any]:
    got = r.json()
    assert got["status"] == "fail"
    assert set(got) == {"status", "error"}
    assert len(got["error"]["request_id"]) == 8
    return dict(got["error"])


async def test_first_add_creates_a_listed_cohort_segment_and_adds_known_users() -> None:
    sb = Sandbox(SandboxConfig(known_uids=frozenset({"u1", "u3"})))
    async with asgi_client(sb) as c:
        r = await post(c, sb, body("add_members", "u1", "u2", "u3"))
        listed = await c.get("/v3/custom-segments", headers=v3_headers(sb))
        seg = sb.find("Fans")
        assert seg is not None
        got = await c.get(f"/v3/custom-segments/{seg.id}", headers=v3_headers(sb))
    assert r.status_code == 200
    assert r.json() == {
        "status": "success",
        "message": "Your request has been accepted and will be processed soon.",
    }
    assert seg.users == {"u1", "u3"}  # u2 is no known user: not matched, not created
    (item,) = listed.json()["data"]
    assert (item["name"], item["type"], item["source"]) == ("Fans", "FILE", "COHORT_SYNC")
    assert got.json()["data"]["source"] == "COHORT_SYNC"
    assert sb.log[0].route == "cohort_sync"
    assert sb.log[0].group == "cohort_sync"


async def test_remove_and_add_change_the_member_set_by_cohort_id() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        await post(c, sb, body("add_members", "a", "b", "c"))
        await post(c, sb, body("remove_members", "b", "zz"))
        await post(c, sb, body("add_members", "d", name="Renamed"))
    seg = sb.find("Renamed")
    assert seg is not None
    assert seg.users == {"a", "c", "d"}
    assert len(sb.segments()) == 1


async def test_remove_from_an_unknown_cohort_is_accepted_and_creates_nothing() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        r = await post(c, sb, body("remove_members"))
    assert r.status_code == 200
    assert sb.segments() == []


async def test_file_and_dashboard_segments_are_refused() -> None:
    sb = Sandbox()
    sb.seed_segment(definition("Dash"))
    async with sb.running(), asgi_client(sb) as c:
        r = await post(c, sb, body(name="Dash"))
        file_body = {
            "name": "File",
            "attribute_name": "uid",
            "attribute_type": "string",
            "file_url": "http://127.0.0.1:9/none.csv",
            "expiry_time": 30,
        }
        created = await c.post(
            "/v2/custom-segments/file-segment", json=file_body, headers=v2_headers(sb)
        )
        r2 = await post(c, sb, body(name="File", cid="c2"))
    assert created.status_code == 202
    for answer in (r, r2):
        assert answer.status_code == 400
        err = fail(answer)
        assert err["attribute"] == "cohort_name"
        assert err["type"] == "InvalidAttributeError"


async def test_a_cohort_segment_is_not_a_file_segment_to_the_file_api() -> None:
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        await post(c, sb, body())
        r = await c.put(
            "/v2/custom-segments/file-segment/add-users",
            json={
                "name": "Fans",
                "attribute_name": "uid",
                "attribute_type": "string",
                "file_url": "http://127.0.0.1:9/x.csv",
            },
            headers=v2_headers(sb),
        )
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("data", "attribute"),
    [
        ({"partner": "p", "parameters": {}}, "action"),
        ({"action": "add_members", "parameters": {}}, "partner"),
        ({"action": "add_members", "partner": "p"}, "parameters"),
        (
            {"action": "add_members", "partner": "p", "parameters": {"cohort_id": "c"}},
            "cohort_name",
        ),
    ],
)
async def test_missing_attribute_is_named(data: Any, attribute: str) -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        r = await post(c, sb, data)
    assert r.status_code == 400
    err = fail(r)
    assert err == {
        "attribute": attribute,
        "message": f"{attribute} is not found in the payload",
        "type": "MissingAttributeError",
        "request_id": err["request_id"],
    }


async def test_malformed_json_bad_names_and_bad_actions_are_400() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        malformed = await post(c, sb, b'{"action": ')
        not_utf8 = await post(c, sb, b'{"action": "\xff"}')
        bad_name = await post(c, sb, body(name="a|b"))
        bad_action = await post(c, sb, {**body(), "action": "replace"})
    assert fail(malformed)["type"] == "Malformed JSON"
    assert fail(not_utf8)["message"].startswith("Could not decode the request body")
    assert fail(bad_name)["attribute"] == "cohort_name"
    assert fail(bad_action)["attribute"] == "action"


async def test_auth_answers_the_three_documented_401s_and_a_missing_app_key() -> None:
    sb = Sandbox()
    ws, key = sb.workspace_id, sb.api_key
    async with asgi_client(sb) as c:
        no_header = await c.post(
            PATH, json=body(), headers={"MOE-APPKEY": ws, "Content-Type": "application/json"}
        )
        wrong_key = await post(c, sb, body(), Authorization=basic(ws, "nope"))
        mismatch = await post(c, sb, body(), **{"MOE-APPKEY": "OTHER"})
        no_appkey = await c.post(PATH, json=body(), headers={"Authorization": basic(ws, key)})
    assert (no_header.status_code, fail(no_header)["message"]) == (
        401,
        "Authentication Header Required",
    )
    assert fail(wrong_key)["type"] == "Authentication required"
    assert fail(mismatch)["type"] == "Authentication Mismatch"
    assert no_appkey.status_code == 400
    assert fail(no_appkey)["attribute"] == "MOE-APPKEY"
    assert sb.segments() == []


@pytest.mark.parametrize(
    "kind", ["Account Suspended", "Account Temporarily Suspended", "BlockedClient"]
)
async def test_a_suspended_account_gets_403_of_its_kind(kind: str) -> None:
    sb = Sandbox(SandboxConfig(suspended={"SANDBOX_WORKSPACE": kind}))
    async with asgi_client(sb) as c:
        r = await post(c, sb, body())
    assert r.status_code == 403
    assert fail(r)["type"] == kind
    assert sb.segments() == []


async def test_content_type_must_be_json() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        r = await post(c, sb, body(), **{"Content-Type": "text/plain"})
    assert (r.status_code, fail(r)["type"]) == (415, "Unsupported media type")


async def test_a_body_of_128000_bytes_passes_and_one_more_byte_is_413() -> None:
    sb = Sandbox()
    base = json.dumps(body("add_members", ""), separators=(",", ":")).encode()
    pad = 128_000 - len(base)
    exact = json.dumps(body("add_members", "x" * pad), separators=(",", ":")).encode()
    over = json.dumps(body("add_members", "x" * (pad + 1)), separators=(",", ":")).encode()
    assert len(exact) == 128_000
    async with asgi_client(sb) as c:
        ok = await post(c, sb, exact)
        big = await post(c, sb, over)
    assert ok.status_code == 200
    assert (big.status_code, fail(big)["message"]) == (413, "Payload can not exceed 128KB")


@pytest.mark.virtual_time
async def test_the_301st_request_in_a_minute_is_429_in_the_cohort_shape() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        for _ in range(300):
            assert (await post(c, sb, body())).status_code == 200
        r = await post(c, sb, body())
    assert r.status_code == 429
    assert fail(r)["type"] == "Rate Limits Exceeded"


async def test_injected_server_error_has_the_cohort_body() -> None:
    rule = ServerErrorFault(status=500, routes={"cohort_sync"})
    sb = Sandbox(SandboxConfig(faults=FaultConfig((rule,))))
    async with asgi_client(sb) as c:
        r = await post(c, sb, body())
    assert r.status_code == 500
    assert fail(r)["type"] == "Server Error"
    assert sb.segments() == []
