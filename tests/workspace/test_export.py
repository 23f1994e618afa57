"""Export: stable keys, references by key, and a round trip that plans nothing."""

from __future__ import annotations

from pathlib import Path

from moeseg._workspace import (
    ActiveSegment,
    FetchedDefinition,
    MemoryState,
    StateRow,
    dump_desired,
    export_workspace,
    load_desired,
    plan_workspace,
)
from moeseg.segments import fingerprint

from ._model import ModelServer, payload

NOW = 3_000_000.0


def test_export_round_trip_plans_nothing(tmp_path: Path) -> None:
    server = ModelServer()
    a = server.add("Buyers in Berlin", payload("Buyers in Berlin", "berlin"))
    b = server.add("Buyers: in Berlin!", payload("Buyers: in Berlin!", "berlin2"))
    loyal = payload("Loyal", "loyal")
    loyal["included_filters"]["filters"].append(
        {"filter_type": "custom_segments", "id": a, "name": "Buyers in Berlin"}
    )
    loyal["included_filters"]["filters"].append({"filter_type": "custom_segments", "id": "ext9"})
    loyal["included_filters"]["filters"][0]["value1"] = ""  # echo noise
    c = server.add("Loyal", loyal)
    server.add("Uploaded list", {"included_filters": None})  # a file segment: no definition
    known = MemoryState()
    known.put(StateRow("loyal-kept-key", c, "Loyal"))
    facts = server.facts(NOW)
    defs = dict(facts.definitions)
    file_seg = next(s for s in facts.active if s.name == "Uploaded list")
    del defs[file_seg.id]
    result = export_workspace(facts.active, defs, known.snapshot())

    keys = [i["key"] for i in result.items]
    assert keys == ["buyers-in-berlin", "buyers-in-berlin-2", "loyal-kept-key"]
    assert result.references == (
        ActiveSegment(file_seg.id, "Uploaded list", "ELASTIC_SEARCH", "API"),
    )
    assert result.invalid == ()
    refs = result.items[2]["included_filters"]["filters"][1:]
    assert refs == [
        {"filter_type": "custom_segments", "segment_key": "buyers-in-berlin"},
        {"filter_type": "custom_segments", "id": "ext9"},
    ]
    assert "value1" not in result.items[2]["included_filters"]["filters"][0]

    (tmp_path / "segments.yaml").write_text(dump_desired(result.items), encoding="utf-8")
    desired = load_desired([tmp_path])
    state = MemoryState()
    for row in result.rows:
        state.put(row)
    rows = state.snapshot().rows
    ids = {k: r.segment_id for k, r in rows.items()}
    for item in desired.items:
        seg = server.segments[rows[item.key].segment_id]
        assert fingerprint(item.resolve(ids)) == fingerprint(seg.payload)
    assert {r.segment_id for r in rows.values()} == {a, b, c}
    plan = plan_workspace(
        desired, state.snapshot(), server.facts(NOW + 1, fetched=False), now=NOW + 1
    )
    assert plan.empty
    assert plan.refresh == ()


def test_an_item_that_fails_validation_is_named_not_exported() -> None:
    bad = payload("Bad", "x")
    bad["included_filters"]["filters"][0]["operator"] = "lessThan"
    result = export_workspace(
        [ActiveSegment("1", "Bad")],
        {"1": FetchedDefinition("1", bad, NOW)},
        MemoryState().snapshot(),
    )
    assert result.items == ()
    assert result.invalid[0][0] == "bad"
    assert "invalid definition" in result.invalid[0][1]
