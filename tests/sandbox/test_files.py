"""v2 file segments, archive/unarchive and the legacy CSV API, with real loopback file serving
and callbacks (raw httpx against the ASGI app; the sandbox downloads over loopback)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from moeseg.sandbox import (
    QuotaGroupSpec,
    QuotaWindow,
    Sandbox,
    SandboxConfig,
    default_quota_groups,
)

from ._helpers import Loopback, asgi_client, basic, definition, signature, v2_headers, v3_headers

pytestmark = pytest.mark.anyio

FS = "/v2/custom-segments/file-segment"
CSV = b'email\na@x.io\nb@x.io\nc@x.io\nb@x.io\n"quoted"\nd#e\n\nend,\n'


def file_body(name: str, base: str, path: str = "/users.csv", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "attribute_name": "email",
        "attribute_type": "string",
        "file_url": f"{base}{path}",
        "callback_url": f"{base}/callback",
        "expiry_time": 30,
    }
    body.update(extra)
    return body


async def test_create_file_segment_accepts_then_calls_back(loopback: tuple[Loopback, str]) -> None:
    server, base = loopback
    server.files["/users.csv"] = CSV
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        r = await c.post(FS, json=file_body("fs", base), headers=v2_headers(sb))
        assert r.status_code == 202
        seg = sb.find("fs")
        assert seg is not None
        assert seg.users == set()  # created at once with zero users
    assert r.json() == {
        "message": "File-segment creation request accepted",
        "success": True,
        "cs_name": "fs",
        "cs_id": seg.id,
    }
    ((path, callback),) = server.received
    assert path == "/callback"
    assert callback == {
        "db_name": sb.db_name,
        "segment_name": "fs",
        "request_id": sb.jobs[0].request_id,
        "values_found": 8,
        "values_processed": 3,
        "user_count": 3,
        "status": 201,
    }
    assert seg.users == {"a@x.io", "b@x.io", "c@x.io"}
    assert sb.jobs[0].callback_status == 200


async def test_add_remove_replace_users(loopback: tuple[Loopback, str]) -> None:
    server, base = loopback
    server.files.update(
        {"/a.csv": b"u1\nu2\n", "/b.csv": b"u3\n", "/c.csv": b"u1\nu9\n", "/d.csv": b"u7\n"}
    )
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        created = await c.post(FS, json=file_body("fs", base, "/a.csv"), headers=v2_headers(sb))
        cs_id = created.json()["cs_id"]
        await sb.wait_idle()
        add = await c.put(
            f"{FS}/add-users", json=file_body("fs", base, "/b.csv"), headers=v2_headers(sb)
        )
        await sb.wait_idle()
        body = file_body("ignored-name", base, "/c.csv", cs_id=cs_id)  # cs_id wins over name
        remove = await c.put(f"{FS}/remove-users", json=body, headers=v2_headers(sb))
        await sb.wait_idle()
        seg = sb.find("fs")
        assert seg is not None
        assert seg.users == {"u2", "u3"}
        replace = await c.put(
            f"{FS}/replace", json=file_body("fs", base, "/d.csv"), headers=v2_headers(sb)
        )
    assert [r.status_code for r in (add, remove, replace)] == [202, 202, 202]
    assert add.json()["message"] == "File-segment user-add request accepted"
    assert remove.json()["message"] == "File-segment user-remove request accepted"
    assert replace.json() == {
        "message": "File-segment user-replace request accepted",
        "success": True,
        "cs_name": "fs",
        "cs_id": cs_id,
    }
    assert seg.users == {"u7"}
    assert [cb["user_count"] for _p, cb in server.received] == [2, 1, 1, 1]


async def test_file_failures_call_back_with_the_documented_bodies(
    loopback: tuple[Loopback, str],
) -> None:
    server, base = loopback
    server.files["/big.csv"] = b"x" * 2048
    server.files["/two.csv"] = b"a,b\n"
    sb = Sandbox(SandboxConfig(max_file_bytes=1024))
    async with sb.running(), asgi_client(sb) as c:
        for name, path in (("missing", "/nope.csv"), ("big", "/big.csv"), ("two", "/two.csv")):
            r = await c.post(FS, json=file_body(name, base, path), headers=v2_headers(sb))
            assert r.status_code == 202
    got = {cb["segment_name"]: cb for _p, cb in server.received}
    assert got["missing"] == {
        "db_name": sb.db_name,
        "segment_name": "missing",
        "request_id": got["missing"]["request_id"],
        "status": 400,
        "error_message": "File download failed. Created custom_segment contains 0 users.",
    }
    assert got["big"]["error_message"] == (
        "File size cannot be greater than 0.000976562MB. Created custom_segment contains 0 users."
    )
    assert got["two"]["status"] == 400
    assert got["two"]["error_message"].startswith("File should have a single column.")


async def test_default_file_size_message_names_150mb() -> None:
    cfg = SandboxConfig()
    assert cfg.max_file_bytes == 150 * 1024 * 1024
    sb = Sandbox(
        SandboxConfig(
            fetch_transport=httpx.MockTransport(
                lambda req: httpx.Response(
                    200, headers={"content-length": str(cfg.max_file_bytes + 1)}
                )
            )
        )
    )
    async with sb.running(), asgi_client(sb) as c:
        await c.post(FS, json=file_body("big", "http://files.invalid"), headers=v2_headers(sb))
    assert sb.jobs[0].callback["error_message"] == (
        "File size cannot be greater than 150MB. Created custom_segment contains 0 users."
    )


async def test_users_per_day_limit_fails_the_job(loopback: tuple[Loopback, str]) -> None:
    server, base = loopback
    server.files.update({"/three.csv": b"a\nb\nc\n", "/two.csv": b"d\ne\n"})
    groups = tuple(
        QuotaGroupSpec("file_users", (QuotaWindow(4, 86400.0),), weighted=True)
        if g.name == "file_users"
        else g
        for g in default_quota_groups()
    )
    sb = Sandbox(SandboxConfig(quota_groups=groups))
    async with sb.running(), asgi_client(sb) as c:
        await c.post(FS, json=file_body("first", base, "/three.csv"), headers=v2_headers(sb))
        await sb.wait_idle()
        await c.post(FS, json=file_body("second", base, "/two.csv"), headers=v2_headers(sb))
    first, second = (cb for _p, cb in server.received)
    assert first["status"] == 201
    assert second["status"] == 400
    assert second["error_message"].startswith("File segment users limit breached.")


async def test_v2_validation_auth_conflict_and_not_found(loopback: tuple[Loopback, str]) -> None:
    server, base = loopback
    server.files["/users.csv"] = b"a\n"
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        body = file_body("fs", base)
        del body["file_url"]
        missing = await c.post(FS, json=body, headers=v2_headers(sb))
        bad_auth = await c.post(
            FS,
            json=file_body("fs", base),
            headers={"MOE-DBNAME": sb.db_name, "Authorization": basic(sb.workspace_id, "no")},
        )
        auth_only = {"Authorization": basic(sb.workspace_id, sb.api_key)}
        no_db = await c.post(FS, json=file_body("fs", base), headers=auth_only)
        ok = await c.post(FS, json=file_body("fs", base), headers=v2_headers(sb))
        dup = await c.post(FS, json=file_body("fs", base), headers=v2_headers(sb))
        unknown = await c.put(
            f"{FS}/add-users", json=file_body("ghost", base), headers=v2_headers(sb)
        )
        await c.post("/v3/custom-segments", json=definition("filter"), headers=v3_headers(sb))
        not_file = await c.put(
            f"{FS}/add-users", json=file_body("filter", base), headers=v2_headers(sb)
        )
    assert missing.status_code == 400
    assert missing.json() == {
        "title": "Invalid Request",
        "description": "Mandatory field missing in the request: file_url",
    }
    assert bad_auth.status_code == 401
    assert bad_auth.json() == {
        "title": "Authentication required",
        "description": "Invalid Workspace ID or API key used in the Authorization header",
    }
    assert no_db.status_code == 400
    assert set(no_db.json()) == {"title", "description"}
    assert ok.status_code == 202
    assert dup.status_code == 409
    assert dup.json() == {
        "title": "Resource not created",
        "description": "Name already exists : fs",
    }
    assert unknown.status_code == 404
    assert unknown.json() == {
        "title": "Entity Not Found",
        "description": "Segment not found with the given name: ghost",
    }
    assert not_file.status_code == 400


async def test_archive_and_unarchive_by_name_or_id() -> None:
    sb = Sandbox(SandboxConfig(active_segment_limit=1))
    async with asgi_client(sb) as c:
        sid = (
            await c.post("/v3/custom-segments", json=definition("a"), headers=v3_headers(sb))
        ).json()["data"]["id"]
        archived = await c.patch(
            "/v2/custom-segments/archive", json={"name": "a"}, headers=v2_headers(sb)
        )
        other = await c.post("/v3/custom-segments", json=definition("b"), headers=v3_headers(sb))
        blocked = await c.patch(
            "/v2/custom-segments/unarchive", json={"cs_id": sid}, headers=v2_headers(sb)
        )
        await c.patch("/v2/custom-segments/archive", json={"name": "b"}, headers=v2_headers(sb))
        unarchived = await c.patch(
            "/v2/custom-segments/unarchive", json={"cs_id": sid}, headers=v2_headers(sb)
        )
        missing = await c.patch(
            "/v2/custom-segments/archive", json={"name": "zz"}, headers=v2_headers(sb)
        )
        listed = await c.get("/v3/custom-segments", headers=v3_headers(sb))
    assert archived.status_code == 200
    assert archived.json() == {
        "message": "Successfully archived the custom segment",
        "success": True,
        "cs_name": "a",
        "cs_id": sid,
    }
    assert other.status_code == 201  # the archived one does not count
    assert blocked.status_code == 429
    assert blocked.json()["title"] == "Too Many Requests"
    assert unarchived.status_code == 200
    assert unarchived.json()["message"] == "Successfully unarchived the custom segment"
    assert missing.status_code == 404
    assert len(listed.json()["data"]) == 2  # archived segments are still listed


async def test_file_jobs_need_a_running_sandbox() -> None:
    sb = Sandbox()
    async with asgi_client(sb) as c:
        with pytest.raises(RuntimeError, match=r"sandbox\.running"):
            await c.post(FS, json=file_body("fs", "http://127.0.0.1:9"), headers=v2_headers(sb))
    assert sb.segments() == []


async def test_no_request_leaves_loopback() -> None:
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        await c.post(FS, json=file_body("fs", "http://example.com"), headers=v2_headers(sb))
    (job,) = sb.jobs
    assert job.callback["error_message"] == (
        "File download failed. Created custom_segment contains 0 users."
    )
    assert job.callback_status is None
    assert job.callback_error is not None
    assert "not on loopback" in job.callback_error


# ---------------------------------------------------------------- legacy CSV API


def legacy_body(sb: Sandbox, name: str, base: str, *, secret: str | None = None) -> dict[str, Any]:
    return {
        "appId": sb.workspace_id,
        "attribute": "email",
        "attributeType": "string",
        "segName": name,
        "csvUrl": f"{base}/users.csv",
        "callback": f"{base}/legacy-callback",
        "signature": signature(sb.workspace_id, name, secret or sb.legacy_api_secret),
    }


async def test_legacy_csv_with_good_signature(loopback: tuple[Loopback, str]) -> None:
    server, base = loopback
    server.files["/users.csv"] = b"a@x.io\nb@x.io\n"
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        r = await c.post("/csv_segment", json=legacy_body(sb, "TEST", base))
        dup = await c.post("/csv_segment", json=legacy_body(sb, "TEST", base))
    assert r.status_code == 200
    request_id = r.json()["request_id"]
    assert r.json() == {"status": 200, "request_id": request_id, "segment_name": "TEST"}
    assert dup.status_code == 409
    assert dup.json() == {
        "status": 409,
        "request_id": dup.json()["request_id"],
        "error_message": "duplicate request",
        "segment_name": "TEST",
    }
    ((path, callback),) = server.received
    assert path == "/legacy-callback"
    assert callback == {
        "status": 201,
        "values_found": 2,
        "values_processed": 2,
        "request_id": request_id,
        "user_count": 2,
        "segment_name": "TEST",
    }


async def test_legacy_csv_bad_signature_and_bad_values() -> None:
    sb = Sandbox()
    base = "http://127.0.0.1:9"
    async with sb.running(), asgi_client(sb) as c:
        bad_sig = await c.post("/csv_segment", json=legacy_body(sb, "T", base, secret="wrong"))
        no_app = await c.post("/csv_segment", json=legacy_body(sb, "T", base) | {"appId": "x"})
        body = legacy_body(sb, "T", base)
        del body["csvUrl"]
        missing = await c.post("/csv_segment", json=body)
        bad_type = await c.post(
            "/csv_segment", json=legacy_body(sb, "T", base) | {"attributeType": "blob"}
        )
    assert bad_sig.status_code == 401
    assert bad_sig.json() == {"status": 401, "error_message": "Unauthorized"}
    assert no_app.status_code == 400
    assert no_app.json() == {"status": 400, "error_message": "Bad Value for appId"}
    assert missing.json() == {"status": 400, "error_message": "Bad Value for csvUrl"}
    assert bad_type.json() == {"status": 400, "error_message": "Bad Value for attributeType"}
    assert sb.segments() == []


async def test_legacy_download_failure_callback(loopback: tuple[Loopback, str]) -> None:
    server, base = loopback
    sb = Sandbox()
    async with sb.running(), asgi_client(sb) as c:
        r = await c.post("/csv_segment", json=legacy_body(sb, "TEST", base))
    ((_path, callback),) = server.received
    assert callback == {
        "status": 400,
        "error_message": "File download failed.",
        "request_id": r.json()["request_id"],
        "segment_name": "TEST",
    }


async def test_a_job_is_recorded_before_its_callback_is_sent() -> None:
    """Whoever the callback wakes finds the job in ``sandbox.jobs`` already (a test awaiting the
    callback used to race the sandbox appending the job after the POST)."""
    seen: list[list[tuple[str, int, int | None]]] = []

    def serve(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            seen.append([(j.segment_name, j.status, j.callback_status) for j in sb.jobs])
            return httpx.Response(200)
        return httpx.Response(200, content=b"u1\nu2\n")

    sb = Sandbox(SandboxConfig(fetch_transport=httpx.MockTransport(serve)))
    async with sb.running(), asgi_client(sb) as c:
        r = await c.post(FS, json=file_body("fs", "http://files.test"), headers=v2_headers(sb))
        assert r.status_code == 202
    assert seen == [[("fs", 201, None)]]
    (job,) = sb.jobs
    assert (job.callback_status, job.callback_error) == (200, None)
