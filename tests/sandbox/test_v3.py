"""v3 filter segments: every documented answer for the input that produces it (raw httpx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import moeseg
from moeseg.sandbox import Sandbox, SandboxConfig

from ._helpers import (
    action_filter,
    asgi_client,
    attr_filter,
    basic,
    definition,
    nested,
    segment_ref,
    v2_headers,
    v3_headers,
)

pytestmark = pytest.mark.anyio

PATH = "/v3/custom-segments"


async def create(c: httpx.AsyncClient, sb: Sandbox, body: Any, **h: str) -> httpx.Response:
    return await c.post(PATH, json=body, headers=v3_headers(sb, **h))


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert body["type"] == "custom_segment"
    assert isinstance(body["response_id"], str)
    assert len(body["response_id"]) == 8
    assert "data" not in body
    return dict(body["error"])


async def test_create_returns_201_with_the_documented_data_and_echo() -> None:
    sb = Sandbox()
    body_sent = definition("seg", attr_filter(), action_filter())
    async with asgi_client(sb) as c:
        r = await create(c, sb, body_sent)
    assert r.status_code == 201
    body = r.json()
    assert body["type"] == "custom_segment"
    data = body["data"]
    assert set(data) == {
        "name",
        "id",
        "created_time",
        "updated_time",
        "type",
        "source",
        "description",
        "included_filters",
    }
    assert (data["name"], data["type"], data["source"]) == ("seg", "ELASTIC_SEARCH", "API")
    assert len(data["id"]) == 24
    assert data["description"] == moeseg.describe(moeseg.from_payload(body_sent))
    user, action = data["included_filters"]["filters"]
    assert user["value1"] == ""
    assert action["attributes"] == {"filter_operator": "and", "filters": []}
    assert sb.find("seg") is not None


async def test_excluded_filters_are_kept_and_echoed() -> None:
    sb = Sandbox()
    body = definition("seg")
    body["excluded_filters"] = {"filter_operator": "or", "filters": [attr_filter("x", "y")]}
    async with asgi_client(sb) as c:
        r = await create(c, sb, body)
        got = await c.get(f"{PATH}/{r.json()['data']['id']}", headers=v3_headers(sb))
    assert got.json()["data"]["excluded_filters"]["filters"][0]["value"] == "y"


async def test_list_all_and_by_exact_name() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        for name in ("alpha", "alpha2", "beta"):
            assert (await create(c, sb, definition(name))).status_code == 201
        everything = await c.get(PATH, headers=v3_headers(sb))
        exact = await c.get(PATH, params={"name": "alpha"}, headers=v3_headers(sb))
        none = await c.get(PATH, params={"name": "alp"}, headers=v3_headers(sb))
    assert everything.status_code == 200
    assert sorted(s["name"] for s in everything.json()["data"]) == ["alpha", "alpha2", "beta"]
    (item,) = exact.json()["data"]
    assert set(item) == {"name", "id", "created_time", "type", "source"}
    assert item["name"] == "alpha"
    assert none.json()["data"] == []


async def test_get_by_id_invalid_id_and_unknown_id() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        sid = (await create(c, sb, definition("seg"))).json()["data"]["id"]
        ok = await c.get(f"{PATH}/{sid}", headers=v3_headers(sb))
        bad = await c.get(f"{PATH}/not-an-id", headers=v3_headers(sb))
        missing = await c.get(f"{PATH}/{'0' * 24}", headers=v3_headers(sb))
    assert ok.status_code == 200
    assert ok.json()["data"]["id"] == sid
    assert bad.status_code == 400
    assert error(bad) == {
        "code": "Invalid request",
        "message": "Invalid bson object-id passed in the request",
    }
    assert missing.status_code == 404
    assert error(missing) == {
        "code": "Entity Not Found",
        "message": f"Custom segment not found with the given id: {'0' * 24}",
    }


async def test_update_changes_filters_and_name() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        sid = (await create(c, sb, definition("seg"))).json()["data"]["id"]
        new = definition("renamed", attr_filter(value="Lyon"))
        r = await c.patch(f"{PATH}/{sid}", json=new, headers=v3_headers(sb))
        kept = await c.patch(
            f"{PATH}/{sid}",
            json={
                "included_filters": new["included_filters"] | {"filter_operator": "or"},
                "updated_by": "a@b.c",
            },
            headers=v3_headers(sb),
        )
    assert r.status_code == 200
    assert r.json()["data"]["name"] == "renamed"
    assert r.json()["data"]["included_filters"]["filters"][0]["value"] == "Lyon"
    assert kept.status_code == 200
    assert kept.json()["data"]["name"] == "renamed"
    assert sb.find("seg") is None
    seg = sb.find("renamed")
    assert seg is not None
    assert seg.included_filters is not None
    assert seg.included_filters["filter_operator"] == "or"


async def test_update_of_file_or_archived_segment_is_forbidden() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        sid = (await create(c, sb, definition("seg"))).json()["data"]["id"]
        await c.patch(
            "/v2/custom-segments/archive",
            json={"cs_id": sid, "name": "seg"},
            headers=v2_headers(sb),
        )
        r = await c.patch(f"{PATH}/{sid}", json=definition("seg"), headers=v3_headers(sb))
    assert r.status_code == 403
    assert error(r) == {
        "code": "Forbidden operation",
        "message": "Update isn't supported for file-segments, internally created "
        "custom-segments, custom-segments imported from Analyze and archived custom-segments.",
    }


async def test_duplicate_name_is_409() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        await create(c, sb, definition("api_test_8"))
        r = await create(c, sb, definition("api_test_8", attr_filter(value="other")))
    assert r.status_code == 409
    assert error(r) == {
        "code": "Resource not created",
        "message": "Another custom-segment already exists with the same name: api_test_8. "
        "Please change the custom-segment name.",
    }


async def test_duplicate_definition_is_409_with_the_existing_segment() -> None:
    sb = Sandbox()
    first = definition("first", attr_filter("a", "1"), attr_filter("b", "2"))
    # Same definition, members in another order, and the server's echo noise added.
    again = definition("second", attr_filter("b", "2", value1=""), attr_filter("a", "1"))
    async with asgi_client(sb) as c:
        sid = (await create(c, sb, first)).json()["data"]["id"]
        r = await create(c, sb, again)
    assert r.status_code == 409
    assert error(r) == {
        "code": "Resource not created",
        "message": "Another custom-segment already exists containing the given filters: "
        "first. Please reuse the same or update the filters",
        "existing_cs_name": "first",
        "existing_cs_id": sid,
    }
    assert sb.find("second") is None


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"name": "x"}', b'{"name": 3, "included_filters": {}}']
)
async def test_invalid_format_is_400(body: bytes) -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        r = await c.post(PATH, content=body, headers=v3_headers(sb))
    assert r.status_code == 400
    assert error(r) == {
        "code": "Invalid request",
        "message": "Invalid request format. Please check the documentation to ensure that the "
        "request has been formed correctly.",
    }


INVALID_NAME = {
    "code": "Invalid Request",
    "message": "Invalid request. Please ensure that the filters are correct and the "
    "custom-segment name doesn't contain HTML characters/only whitespaces.",
}


@pytest.mark.parametrize("name", ["<b>bold</b>", "   ", "a<script>"])
async def test_name_with_html_or_only_whitespace_is_400(name: str) -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        r = await create(c, sb, definition(name, attr_filter()))
    assert r.status_code == 400
    assert error(r) == INVALID_NAME
    assert sb.segments() == []


async def test_filters_failing_model_validation_are_400() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        r = await create(c, sb, definition("seg", attr_filter(operator="bogus")))
    assert r.status_code == 400
    assert error(r) == INVALID_NAME
    assert sb.log[-1].cause == "invalid_filters"


CLIENT_NOT_FOUND = {
    "code": "Request Error",
    "message": "MoEngage Client not found. Please check values for headers - MOE-APPKEY or "
    "MOE-DBNAME",
}


async def test_unknown_app_key_or_db_name_is_400_client_not_found() -> None:
    sb = Sandbox()
    auth = basic(sb.workspace_id, sb.api_key)
    async with asgi_client(sb) as c:
        unknown_key = await c.get(PATH, headers={"MOE-APPKEY": "nope", "Authorization": auth})
        unknown_db = await c.get(PATH, headers={"MOE-DBNAME": "nope", "Authorization": auth})
        neither = await c.get(PATH, headers={"Authorization": auth})
        by_db = await c.get(PATH, headers={"MOE-DBNAME": sb.db_name, "Authorization": auth})
    for r in (unknown_key, unknown_db, neither):
        assert r.status_code == 400
        assert error(r) == CLIENT_NOT_FOUND
    assert by_db.status_code == 200


async def test_bad_credentials_are_401_with_the_documented_bodies() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        bad_key = v3_headers(sb, Authorization=basic(sb.workspace_id, "x"))
        bad_user = v3_headers(sb, Authorization=basic("other", sb.api_key))
        wrong_key = await c.get(PATH, headers=bad_key)
        wrong_user = await c.get(PATH, headers=bad_user)
        missing = await c.get(PATH, headers={"MOE-APPKEY": sb.workspace_id})
    assert wrong_key.status_code == wrong_user.status_code == missing.status_code == 401
    secret = {
        "code": "Authentication required",
        "message": "APP_SECRET key mismatch. Please login to the dashboard to verify key",
    }
    assert error(wrong_key) == secret
    assert error(missing) == secret
    assert error(wrong_user) == {
        "code": "Authentication required",
        "message": "Invalid APP_KEY used in Authentication Header",
    }
    assert sb.api_key not in repr(sb.log) + repr(sb.config)


async def test_cyclic_reference_through_custom_segments_is_412() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        a = (await create(c, sb, definition("a"))).json()["data"]["id"]
        b = (await create(c, sb, definition("b", segment_ref(a)))).json()["data"]["id"]
        r = await c.patch(
            f"{PATH}/{a}", json=definition("a", segment_ref(b)), headers=v3_headers(sb)
        )
    assert r.status_code == 412
    assert error(r) == {
        "code": "Cyclic Entity",
        "message": "Circular reference detected in the custom segment definition.",
    }


async def test_reference_to_an_unknown_segment_is_400() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        r = await create(c, sb, definition("a", segment_ref("0" * 24)))
    assert r.status_code == 400
    assert error(r) == INVALID_NAME


async def test_nesting_too_deep_is_413() -> None:
    sb = Sandbox(SandboxConfig(max_nesting=2))
    async with asgi_client(sb) as c:
        ok = await create(c, sb, definition("ok", nested(attr_filter())))
        deep = await create(c, sb, definition("deep", nested(nested(attr_filter()))))
        # Nesting through a referenced segment counts too.
        ok_id = ok.json()["data"]["id"]
        via_ref = await create(c, sb, definition("via", segment_ref(ok_id)))
    assert ok.status_code == 201
    for r in (deep, via_ref):
        assert r.status_code == 413
        assert error(r) == {
            "code": "Query has too many nesting levels",
            "message": "The query has more than 2 levels of nesting. Please reduce the segment "
            "nesting.",
        }


async def test_too_many_segments_referenced_is_413() -> None:
    sb = Sandbox(SandboxConfig(max_segments_per_query=2))
    async with asgi_client(sb) as c:
        ids = [(await create(c, sb, definition(n))).json()["data"]["id"] for n in "abc"]
        two = await create(c, sb, definition("two", *(segment_ref(i) for i in ids[:2])))
        three = await create(c, sb, definition("three", *(segment_ref(i) for i in ids)))
    assert two.status_code == 201
    assert three.status_code == 413
    assert error(three) == {
        "code": "Too many segments in a query",
        "message": "The query has more than 2 custom segments. Please reduce the custom segments.",
    }


async def test_a_sandbox_configured_above_the_default_limits_accepts_up_to_its_own() -> None:
    # The models' default caps (200 filters) must not turn a raised sandbox limit into a 400.
    sb = Sandbox(SandboxConfig(max_filters_per_query=250))
    filters = [attr_filter(value=str(i)) for i in range(251)]
    async with asgi_client(sb) as c:
        fits = await create(c, sb, definition("fits", *filters[:250]))
        r = await create(c, sb, definition("long", *filters))
    assert fits.status_code == 201
    assert r.status_code == 413


async def test_query_too_long_is_413() -> None:
    sb = Sandbox(SandboxConfig(max_filters_per_query=3))
    filters = [attr_filter(value=str(i)) for i in range(4)]
    async with asgi_client(sb) as c:
        fits = await create(c, sb, definition("fits", *filters[:3]))
        r = await create(c, sb, definition("long", *filters))
    assert fits.status_code == 201
    assert r.status_code == 413
    assert error(r) == {
        "code": "Query length limit exceeded",
        "message": "The query is too large to execute. Please reduce the filters.",
    }


async def test_active_segment_limit_is_429_and_archived_do_not_count() -> None:
    sb = Sandbox(SandboxConfig(active_segment_limit=2))
    async with asgi_client(sb) as c:
        await create(c, sb, definition("a"))
        await create(c, sb, definition("b"))
        full = await create(c, sb, definition("c"))
        await c.patch("/v2/custom-segments/archive", json={"name": "a"}, headers=v2_headers(sb))
        after_archive = await create(c, sb, definition("c"))
    assert full.status_code == 429
    assert error(full) == {
        "code": "Too Many Requests",
        "message": "Total active segments limit breached. Request rejected!",
        "actual_count": 2,
        "limit": 2,
    }
    assert after_archive.status_code == 201
    assert sb.too_many_requests == {"active_segment_limit": 1}


async def test_unknown_path_and_method() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        nowhere = await c.get("/v9/nothing", headers=v3_headers(sb))
        wrong_method = await c.delete(PATH, headers=v3_headers(sb))
    assert nowhere.status_code == 404
    assert wrong_method.status_code == 405


async def test_bodies_nested_past_the_parsers_limits_are_refused_not_crashed() -> None:
    sb = Sandbox()
    deep = attr_filter()
    for _ in range(400):
        deep = nested(deep)
    async with asgi_client(sb) as c:
        brackets = await c.post(PATH, content=b"[" * 50_000, headers=v3_headers(sb))
        too_deep = await c.post(
            PATH, content=json.dumps(definition("d", deep)), headers=v3_headers(sb)
        )
        still_up = await create(c, sb, definition("fine"))
    assert brackets.status_code == 400
    assert error(brackets)["code"] == "Invalid request"
    assert too_deep.status_code == 413
    assert error(too_deep)["code"] == "Query has too many nesting levels"
    assert still_up.status_code == 201
