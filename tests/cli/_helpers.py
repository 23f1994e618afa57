"""Shared helpers of the cli tests: definitions, and clients on an in-process sandbox."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

import moeseg
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import Sandbox, SandboxConfig


def payload(name: str, city: str, *, ltv: float | None = None) -> dict[str, Any]:
    """A small valid request body; distinct ``(city, ltv)`` give distinct fingerprints."""
    filters: list[dict[str, Any]] = [
        {
            "filter_type": "user_attributes",
            "name": "City",
            "data_type": "string",
            "operator": "is",
            "value": city,
            "negate": False,
            "case_sensitive": False,
        }
    ]
    if ltv is not None:
        filters.append(
            {
                "filter_type": "user_attributes",
                "name": "ltv",
                "data_type": "double",
                "operator": "greaterThan",
                "value": ltv,
                "negate": False,
            }
        )
    return {"name": name, "included_filters": {"filter_operator": "and", "filters": filters}}


def invalid_payload(name: str) -> dict[str, Any]:
    """A body that fails local validation (``startsWith`` on a double)."""
    body = payload(name, "x")
    body["included_filters"]["filters"][0].update(data_type="double", operator="startsWith")
    return body


def sandbox(time_scale: float = 1.0, **config: Any) -> Sandbox:
    """A fresh in-process sandbox."""
    return Sandbox(SandboxConfig(time_scale=time_scale, **config))


@contextlib.asynccontextmanager
async def client_for(
    box: Sandbox, *, time_scale: float = 1.0, **kw: Any
) -> AsyncIterator[moeseg.Client]:
    """A client on ``box`` over the ASGI transport, with its own governor (a fresh sandbox has
    fresh quota) whose policy is scaled like the sandbox, unless ``governor=`` is given."""
    policy = QuotaPolicy.moengage()
    if time_scale != 1.0:
        policy = policy.scaled(time_scale)
    kw.setdefault("governor", Governor(policy))
    async with moeseg.Client(
        box.workspace_id,
        box.api_key,
        base_url="http://sandbox.invalid",
        db_name=box.db_name,
        transport=httpx.ASGITransport(app=box.app),
        **kw,
    ) as client:
        yield client


def creates(box: Sandbox) -> list[Any]:
    """The sandbox's log records of create requests."""
    return [r for r in box.log if r.route == "create"]
