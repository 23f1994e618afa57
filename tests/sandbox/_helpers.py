"""Raw-httpx helpers for driving the sandbox (no moeseg client involved)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from moeseg.sandbox import Sandbox

BASE = "http://sandbox.invalid"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def v3_headers(sb: Sandbox, **override: str) -> dict[str, str]:
    h = {"MOE-APPKEY": sb.workspace_id, "Authorization": basic(sb.workspace_id, sb.api_key)}
    h.update(override)
    return h


def v2_headers(sb: Sandbox) -> dict[str, str]:
    return {"MOE-DBNAME": sb.db_name, "Authorization": basic(sb.workspace_id, sb.api_key)}


def signature(app_id: str, name: str, secret: str) -> str:
    return hashlib.sha256(f"{app_id}|{name}|{secret}".encode()).hexdigest()


@asynccontextmanager
async def asgi_client(sb: Sandbox, base_url: str = BASE) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sb.app), base_url=base_url
    ) as client:
        yield client


def attr_filter(name: str = "city", value: Any = "Paris", **extra: Any) -> dict[str, Any]:
    f = {
        "filter_type": "user_attributes",
        "name": name,
        "data_type": "string",
        "operator": "is",
        "value": value,
        "negate": False,
        "case_sensitive": False,
    }
    f.update(extra)
    return f


def action_filter(action: str = "MOE_EMAIL_SENT") -> dict[str, Any]:
    return {
        "filter_type": "actions",
        "action_name": action,
        "executed": True,
        "execution": {"type": "atleast", "count": 1},
        "primary_time_range": {
            "type": "inTheLast",
            "value": 30,
            "value_type": "relative_past",
            "period_unit": "days",
        },
    }


def definition(name: str, *filters: dict[str, Any], op: str = "and") -> dict[str, Any]:
    return {
        "name": name,
        "included_filters": {
            "filter_operator": op,
            "filters": list(filters) or [attr_filter(value=name)],
        },
    }


def segment_ref(segment_id: str) -> dict[str, Any]:
    return {"filter_type": "custom_segments", "id": segment_id, "name": "ref"}


def nested(*filters: dict[str, Any], op: str = "or") -> dict[str, Any]:
    return {"filter_type": "nested_filters", "filter_operator": op, "filters": list(filters)}


@attrs.define
class Loopback:
    """A loopback HTTP server for tests: serves ``files`` (path -> bytes) and records every
    POST body (the callbacks) in ``received``."""

    files: dict[str, bytes] = attrs.field(factory=dict)
    received: list[tuple[str, Any]] = attrs.field(factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, data = 404, b"not found"
        if scope["method"] == "GET" and scope["path"] in self.files:
            status, data = 200, self.files[scope["path"]]
        elif scope["method"] == "POST":
            import json

            self.received.append((scope["path"], json.loads(body)))
            status, data = 200, b"ok"
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": data})
