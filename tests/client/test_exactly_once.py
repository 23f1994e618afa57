"""Exactly-once creation: an unknown outcome followed by a 409 is resolved by looking up."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

import moeseg
from moeseg import Client, SegmentUpdate

from .conftest import (
    BASE,
    NAME_EXISTS,
    RecordingGovernor,
    list_body,
    sample_definition,
    segment_body,
    v3_error,
)

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

NAME = "segment_example_name"
CREATE = f"{BASE}/v3/custom-segments"
LIST = f"{BASE}/v3/custom-segments"
SERVER_ERROR = v3_error("Internal Server Error", "An unexpected error was encountered")


def definition_exists(name: str, cs_id: str) -> dict[str, Any]:
    return v3_error(
        "Resource not created",
        f"Another custom-segment already exists containing the given filters: {name}. Please "
        "reuse the same or update the filters",
        existing_cs_name=name,
        existing_cs_id=cs_id,
    )


def mock_lookup(
    router: respx.MockRouter, value: str = "chandan"
) -> tuple[respx.Route, respx.Route]:
    listing = router.get(LIST, params={"name": NAME}).respond(200, json=list_body((NAME, "seg-7")))
    fetch = router.get(f"{BASE}/v3/custom-segments/seg-7").respond(
        200, json=segment_body(seg_id="seg-7", value=value)
    )
    return listing, fetch


@pytest.mark.parametrize(
    "unknown",
    [
        pytest.param(httpx.ReadTimeout("no answer"), id="timeout"),
        pytest.param(httpx.RemoteProtocolError("server disconnected"), id="dropped"),
        pytest.param(httpx.Response(500, json=SERVER_ERROR), id="500"),
        pytest.param(httpx.Response(502, text="<html>bad gateway</html>"), id="502-html"),
    ],
)
async def test_unknown_outcome_then_name_conflict_with_equal_definition_is_recovered(
    client: Client, router: respx.MockRouter, governor: RecordingGovernor, unknown: Any
) -> None:
    create = router.post(CREATE)
    create.side_effect = [unknown, httpx.Response(409, json=NAME_EXISTS)]
    listing, fetch = mock_lookup(router)
    segment = await client.create_segment(sample_definition())
    assert segment.recovered is True
    assert (segment.id, segment.name) == ("seg-7", NAME)
    assert (create.call_count, listing.call_count, fetch.call_count) == (2, 1, 1)
    # Both creates were sent with the same body.
    bodies = [json.loads(call.request.content) for call in create.calls]
    assert bodies[0] == bodies[1]
    # The lookups are governed like any call.
    assert governor.demands == [
        {"segments": 1},
        {"segments": 1},
        {"segments": 1},
        {"segment_reads": 1},
    ]


async def test_unknown_outcome_then_name_conflict_with_other_definition_is_a_conflict(
    client: Client, router: respx.MockRouter
) -> None:
    create = router.post(CREATE)
    create.side_effect = [
        httpx.Response(503, json=SERVER_ERROR),
        httpx.Response(409, json=NAME_EXISTS),
    ]
    listing, fetch = mock_lookup(router, value="somebody-else")
    with pytest.raises(moeseg.NameConflict) as info:
        await client.create_segment(sample_definition())
    assert info.value.status == 409
    assert (create.call_count, listing.call_count, fetch.call_count) == (2, 1, 1)


async def test_unknown_outcome_then_name_conflict_but_nothing_listed(
    client: Client, router: respx.MockRouter
) -> None:
    create = router.post(CREATE)
    create.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(409, json=NAME_EXISTS)]
    router.get(LIST, params={"name": NAME}).respond(200, json=list_body(("other", "x")))
    with pytest.raises(moeseg.NameConflict):
        await client.create_segment(sample_definition())


async def test_name_conflict_on_the_first_attempt_is_never_looked_up(
    client: Client, router: respx.MockRouter
) -> None:
    create = router.post(CREATE).respond(409, json=NAME_EXISTS)
    listing, fetch = mock_lookup(router)
    with pytest.raises(moeseg.NameConflict):
        await client.create_segment(sample_definition())
    assert (create.call_count, listing.call_count, fetch.call_count) == (1, 0, 0)


async def test_nothing_sent_then_name_conflict_is_a_conflict(
    client: Client, router: respx.MockRouter
) -> None:
    """A connect error proves the first attempt created nothing: the 409 is someone else's."""
    create = router.post(CREATE)
    create.side_effect = [httpx.ConnectError("refused"), httpx.Response(409, json=NAME_EXISTS)]
    listing, _ = mock_lookup(router)
    with pytest.raises(moeseg.NameConflict):
        await client.create_segment(sample_definition())
    assert listing.call_count == 0


async def test_unknown_outcome_then_definition_conflict_naming_us_is_recovered(
    client: Client, router: respx.MockRouter
) -> None:
    create = router.post(CREATE)
    create.side_effect = [
        httpx.ReadTimeout("slow"),
        httpx.Response(409, json=definition_exists(NAME, "seg-7")),
    ]
    listing, fetch = mock_lookup(router)
    segment = await client.create_segment(sample_definition())
    assert segment.recovered is True
    assert segment.id == "seg-7"
    assert (listing.call_count, fetch.call_count) == (0, 1)


async def test_unknown_outcome_then_definition_conflict_naming_another_is_raised(
    client: Client, router: respx.MockRouter
) -> None:
    create = router.post(CREATE)
    create.side_effect = [
        httpx.ReadTimeout("slow"),
        httpx.Response(409, json=definition_exists("older_twin", "seg-2")),
    ]
    with pytest.raises(moeseg.DefinitionConflict) as info:
        await client.create_segment(sample_definition())
    assert (info.value.existing_cs_id, info.value.existing_cs_name) == ("seg-2", "older_twin")


async def test_unknown_outcomes_until_exhausted_are_looked_up_then_outcome_unknown(
    client: Client, router: respx.MockRouter
) -> None:
    create = router.post(CREATE)
    create.side_effect = httpx.ReadTimeout("slow")
    lookup = router.get(LIST, params={"name": "segment_example_name"}).respond(
        200, json={"data": []}
    )
    with pytest.raises(moeseg.OutcomeUnknown) as caught:
        await client.with_options(max_retries=2).create_segment(sample_definition())
    assert create.call_count == 3
    assert lookup.call_count == 1
    err = caught.value
    assert isinstance(err.last_error, moeseg.RequestTimeout)
    assert (err.name, err.fingerprint) == (
        "segment_example_name",
        moeseg.fingerprint(sample_definition()),
    )


async def test_unknown_last_attempt_is_resolved_by_the_lookup(
    client: Client, router: respx.MockRouter
) -> None:
    router.post(CREATE).side_effect = httpx.ReadTimeout("slow")
    router.get(LIST, params={"name": "segment_example_name"}).respond(
        200, json=list_body(("segment_example_name", "seg-1"))
    )
    router.get(f"{CREATE}/seg-1").respond(200, json=segment_body())
    seg = await client.with_options(max_retries=0).create_segment(sample_definition())
    assert (seg.id, seg.recovered) == ("seg-1", True)


async def test_file_segment_create_is_recovered_by_name(
    client: Client, router: respx.MockRouter
) -> None:
    create = router.post(f"{BASE}/v2/custom-segments/file-segment")
    conflict = {"title": "Resource not created", "description": "Name already exists : files_a"}
    create.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(409, json=conflict)]
    router.get(LIST, params={"name": "files_a"}).respond(200, json=list_body(("files_a", "cs-4")))
    result = await client.create_file_segment(
        "files_a",
        "http://u.test",
        "http://c.test",
        users=5,
        file=moeseg.FileOptions("id"),
        expiry_time=7,
    )
    assert (result.cs_id, result.cs_name, result.success) == ("cs-4", "files_a", True)
    assert result.recovered
    assert result.message is not None
    assert "recovered" in result.message


async def test_file_segment_name_conflict_first_time_is_raised(
    client: Client, router: respx.MockRouter
) -> None:
    conflict = {"title": "Resource not created", "description": "Name already exists : files_a"}
    router.post(f"{BASE}/v2/custom-segments/file-segment").respond(409, json=conflict)
    with pytest.raises(moeseg.NameConflict) as info:
        await client.create_file_segment(
            "files_a",
            "http://u.test",
            "http://c.test",
            users=5,
            file=moeseg.FileOptions("id"),
            expiry_time=7,
        )
    assert info.value.code == "Resource not created"


async def test_update_after_unknown_outcome_is_recovered_when_already_applied(
    client: Client, router: respx.MockRouter
) -> None:
    patch = router.patch(f"{BASE}/v3/custom-segments/seg-7")
    patch.side_effect = [
        httpx.Response(500, json=SERVER_ERROR),
        httpx.Response(409, json=definition_exists(NAME, "seg-7")),
    ]
    _, fetch = mock_lookup(router)
    update = SegmentUpdate(included_filters=sample_definition().included_filters)
    segment = await client.update_segment("seg-7", update)
    assert segment.recovered is True
    assert fetch.call_count == 1


async def test_update_conflict_with_another_definition_is_raised(
    client: Client, router: respx.MockRouter
) -> None:
    patch = router.patch(f"{BASE}/v3/custom-segments/seg-7")
    patch.side_effect = [
        httpx.ReadTimeout("slow"),
        httpx.Response(409, json=definition_exists("twin", "seg-9")),
    ]
    mock_lookup(router, value="before-the-update")
    update = SegmentUpdate(included_filters=sample_definition().included_filters)
    with pytest.raises(moeseg.DefinitionConflict):
        await client.update_segment("seg-7", update)


async def test_unreadable_2xx_create_is_settled_by_the_lookup(
    client: Client, router: respx.MockRouter
) -> None:
    """A create answered 200 with an error-shaped body may have happened: looked up, not lost."""
    router.post(CREATE).respond(200, json={"error": {"code": "x", "message": "oops"}})
    router.get(LIST, params={"name": NAME}).respond(200, json=list_body((NAME, "seg-1")))
    router.get(f"{CREATE}/seg-1").respond(200, json=segment_body())
    seg = await client.create_segment(sample_definition())
    assert (seg.id, seg.recovered) == ("seg-1", True)


async def test_quota_wait_too_long_after_an_unknown_attempt_is_outcome_unknown(
    router: respx.MockRouter,
) -> None:
    class Tight(RecordingGovernor):
        async def acquire(self, demand: Any, **kw: Any) -> Any:
            if self.demands:
                raise moeseg.QuotaWaitTooLong("create", 10.0, 10.0, 1.0)
            return await super().acquire(demand, **kw)

    router.post(CREATE).side_effect = httpx.ReadTimeout("slow")
    async with Client(
        "WS1",
        "k" * 8,
        dc="01",
        governor=Tight(),
        transport=httpx.MockTransport(router.async_handler),
    ) as client:
        with pytest.raises(moeseg.OutcomeUnknown) as caught:
            await client.with_options(max_retries=2).create_segment(sample_definition())
    assert isinstance(caught.value.last_error, moeseg.QuotaWaitTooLong)
