"""The state rows plan and apply write, and server facts from the client's segments."""

from __future__ import annotations

import json

import pytest

from moeseg._workspace import (
    FetchedDefinition,
    PlanStep,
    ServerFacts,
    StateRow,
    WorkspaceError,
    row_after,
    verified_row,
)
from moeseg.segments import FilterGroup, Segment, fingerprint, structure

from ._model import payload


def test_rows_after_each_kind_of_step() -> None:
    sent = payload("New", "n")
    create = PlanStep("create", "k", "New")
    row = row_after(create, 50.0, segment_id="id9", payload=sent)
    assert (row.segment_id, row.name, row.fingerprint, row.verified_at) == (
        "id9",
        "New",
        fingerprint(sent),
        50.0,
    )
    assert json.loads(row.payload or "") == sent
    archived = row_after(PlanStep("archive", "k", "New", segment_id="id9"), 60.0, previous=row)
    assert archived.archived_at == 60.0
    assert archived.fingerprint == row.fingerprint
    back = row_after(PlanStep("unarchive", "k", "New", segment_id="id9"), 70.0, previous=archived)
    assert back.archived_at is None
    assert back.verified_at == 70.0
    ro = PlanStep("read_only", "d", "Dash", segment_id="id3", old_name="Dash")
    assert row_after(ro, 1.0).read_only
    assert row_after(ro, 1.0).verified_at is None  # adopted, never read: the next plan GETs it
    same = PlanStep("unchanged", "k", "New", segment_id="id9", old_fingerprint=row.fingerprint)
    assert row_after(same, 99.0, previous=row).verified_at == 50.0
    with pytest.raises(WorkspaceError, match="needs the row"):
        row_after(PlanStep("archive", "k", "New", segment_id="id9"), 1.0)
    with pytest.raises(WorkspaceError, match="without a segment id"):
        row_after(create, 1.0, payload=sent)
    with pytest.raises(WorkspaceError, match="without the payload"):
        row_after(PlanStep("update", "k", "New", segment_id="id9"), 1.0)


def test_verified_row_and_facts_from_client_segments() -> None:
    p = payload("A", "a")
    group = structure(p["included_filters"], FilterGroup)
    seg = Segment("id1", "A", type="ELASTIC_SEARCH", source="API", included_filters=group)
    fetched = FetchedDefinition.from_segment(seg, 99.0)
    assert fetched.fingerprint == fingerprint(p)
    row = verified_row(StateRow("a", "id1", "Old", "x"), fetched, "A")
    assert (row.fingerprint, row.verified_at, row.name) == (fingerprint(p), 99.0, "A")
    facts = ServerFacts.from_segments([Segment("id1", "A", source="API")], [fetched], ["Gone"])
    assert facts.active[0].source == "API"
    assert facts.definitions["id1"] is fetched
    assert facts.archived_names == frozenset({"Gone"})
