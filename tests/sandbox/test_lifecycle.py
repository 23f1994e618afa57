"""What segments-as-code needs from the sandbox: archived names stay reserved, unarchive,
read-only segments made on the dashboard, ``updated_by`` / ``updated_time`` on update."""

from __future__ import annotations

import pytest

import moeseg
from moeseg.sandbox import Sandbox, SandboxConfig

from ._helpers import asgi_client, attr_filter, definition, v2_headers, v3_headers

pytestmark = pytest.mark.anyio

PATH = "/v3/custom-segments"
ARCHIVE = "/v2/custom-segments/archive"
UNARCHIVE = "/v2/custom-segments/unarchive"


async def test_an_archived_name_stays_reserved_and_unarchive_brings_it_back() -> None:
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        first = await c.post(PATH, json=definition("kept"), headers=v3_headers(sb))
        sid = first.json()["data"]["id"]
        assert (await c.patch(ARCHIVE, json={"name": "kept"}, headers=v2_headers(sb))).is_success
        again = await c.post(
            PATH, json=definition("kept", attr_filter(value="other")), headers=v3_headers(sb)
        )
        file_again = await c.post(
            "/v2/custom-segments/file-segment",
            json={
                "name": "kept",
                "attribute_name": "id",
                "attribute_type": "string",
                "file_url": "http://127.0.0.1:9/x.csv",
                "expiry_time": 7,
            },
            headers=v2_headers(sb),
        )
        back = await c.patch(UNARCHIVE, json={"name": "kept"}, headers=v2_headers(sb))
        updated = await c.patch(
            f"{PATH}/{sid}",
            json=definition("kept", attr_filter(value="new")),
            headers=v3_headers(sb),
        )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "Resource not created"
    assert file_again.status_code == 409
    assert back.json() == {
        "message": "Successfully unarchived the custom segment",
        "success": True,
        "cs_name": "kept",
        "cs_id": sid,
    }
    assert updated.status_code == 200
    assert [s.id for s in sb.segments()] == [sid]


async def test_dashboard_segments_are_read_only_to_the_api() -> None:
    sb = Sandbox()
    seeded = sb.seed_segment(definition("from-dashboard"))
    async with asgi_client(sb) as c:
        listed = await c.get(PATH, headers=v3_headers(sb))
        got = await c.get(f"{PATH}/{seeded.id}", headers=v3_headers(sb))
        refused = await c.patch(
            f"{PATH}/{seeded.id}",
            json=definition("from-dashboard", attr_filter(value="x")),
            headers=v3_headers(sb),
        )
        archived = await c.patch(ARCHIVE, json={"cs_id": seeded.id}, headers=v2_headers(sb))
    assert [(s["name"], s["source"]) for s in listed.json()["data"]] == [
        ("from-dashboard", "DASHBOARD")
    ]
    assert got.json()["data"]["source"] == "DASHBOARD"
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Forbidden operation"
    assert archived.status_code == 200
    assert sb.log[0].route == "list"  # seeding sent no request and spent no quota
    assert sb.max_in_window("segments", 60.0) == 2


async def test_seeding_checks_the_definition_and_uniqueness() -> None:
    sb = Sandbox(SandboxConfig())
    plain = sb.seed_segment(definition("api-made"), source="API")
    old = sb.seed_segment(definition("old", attr_filter(value="o")), archived=True)
    assert (plain.source, plain.archived, old.archived) == ("API", False, True)
    with pytest.raises(ValueError, match="already called 'api-made'"):
        sb.seed_segment(definition("api-made", attr_filter(value="other")))
    with pytest.raises(ValueError, match="definition"):
        sb.seed_segment(definition("twin", attr_filter(value="api-made")))
    with pytest.raises(moeseg.SegmentValidationError):
        sb.seed_segment({"name": "bad", "included_filters": {"filter_operator": "and"}})


async def test_update_records_updated_by_and_moves_updated_time_only() -> None:
    now = [1000.0]
    sb = Sandbox(SandboxConfig(clock=lambda: now[0]))
    async with asgi_client(sb) as c:
        created = (await c.post(PATH, json=definition("s"), headers=v3_headers(sb))).json()["data"]
        now[0] += 90.0
        body = {**definition("s", attr_filter(value="later")), "updated_by": "ops@example.com"}
        updated = await c.patch(f"{PATH}/{created['id']}", json=body, headers=v3_headers(sb))
        bad = [
            await c.patch(
                f"{PATH}/{created['id']}",
                json={**definition("s", attr_filter(value="z")), "updated_by": who},
                headers=v3_headers(sb),
            )
            for who in ("not-an-email", 7, "")
        ]
    data = updated.json()["data"]
    assert data["created_time"] == created["created_time"]
    assert data["updated_time"] > created["updated_time"]
    assert "updated_by" not in data  # MoEngage's answers do not echo it
    assert sb.find("s").updated_by == "ops@example.com"  # type: ignore[union-attr]
    assert [r.status_code for r in bad] == [400, 400, 400]
    assert bad[0].json()["error"]["code"] == "Invalid request"
    assert sb.log[-1].detail == "updated_by"
    assert sb.find("s").included_filters["filters"][0]["value"] == "later"  # type: ignore[union-attr]
