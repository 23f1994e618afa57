"""Server facts read by the real client from the in-process sandbox plan as expected: the
client's Segment objects (list items, GET echoes) feed the planner unchanged."""

from __future__ import annotations

import time

import httpx
import pytest

import moeseg
from moeseg._workspace import (
    FetchedDefinition,
    MemoryState,
    ServerFacts,
    export_workspace,
    parse_desired,
    plan_workspace,
)
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import Sandbox

from ._model import payload

pytestmark = pytest.mark.anyio


async def test_facts_from_the_client_plan_adoption_read_only_and_create() -> None:
    sandbox = Sandbox()
    sandbox.seed_segment(payload("From the dashboard", "dash"), source="DASHBOARD")
    async with (
        sandbox.running(),
        moeseg.Client(
            workspace_id=sandbox.workspace_id,
            api_key=sandbox.api_key,
            db_name=sandbox.db_name,
            base_url="http://sandbox.invalid",
            transport=httpx.ASGITransport(app=sandbox.app),
            governor=Governor(QuotaPolicy.moengage()),
        ) as client,
    ):
        made = await client.create_segment(moeseg.from_payload(payload("Made by API", "api")))
        listed = await client.list_segments()
        now = time.time()
        fetched = [
            FetchedDefinition.from_segment(await client.get_segment(s.id), now) for s in listed
        ]
    facts = ServerFacts.from_segments(listed, fetched)
    desired = parse_desired(
        [
            (
                "d.yaml",
                [
                    payload("Made by API", "api", key="api"),
                    payload("From the dashboard", "other", key="dash"),
                    payload("New one", "new", ("api",), key="new"),
                ],
            )
        ]
    )
    plan = plan_workspace(desired, MemoryState().snapshot(), facts, now=now)
    steps = {s.key: s for s in plan.steps}
    assert (steps["api"].kind, steps["api"].adopt, steps["api"].segment_id) == (
        "unchanged",
        True,
        made.id,
    )
    assert steps["dash"].kind == "read_only"
    assert steps["new"].kind == "create"
    assert steps["new"].new_fingerprint is not None  # its reference resolves to made.id
    exported = export_workspace(facts.active, facts.definitions, MemoryState().snapshot())
    assert [i["key"] for i in exported.items] == ["from-the-dashboard", "made-by-api"]
    assert exported.invalid == ()
