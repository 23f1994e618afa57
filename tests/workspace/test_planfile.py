"""Saved plans (the JSON schema), the stale-plan refusal, and the text and Markdown forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moeseg._workspace import (
    PLAN_FORMAT,
    MemoryState,
    PlanFileError,
    PlanOptions,
    StalePlan,
    StateRow,
    check_fresh,
    definition_diff,
    format_duration,
    load_plan,
    parse_desired,
    plan_from_json,
    plan_to_json,
    plan_workspace,
    render_markdown,
    render_text,
    save_plan,
)

from ._model import ModelServer, apply_plan, payload

NOW = 2_000_000.0


def workspace() -> tuple[Any, ModelServer, MemoryState]:
    d = parse_desired([("d.yaml", [payload("A | pipes", "a", key="a"), payload("B", "b", ("a",))])])
    server, st = ModelServer(), MemoryState()
    apply_plan(plan_workspace(d, st.snapshot(), server.facts(NOW), now=NOW), d, server, st, NOW)
    return d, server, st


def test_json_round_trip_and_schema(tmp_path: Path) -> None:
    _d, server, st = workspace()
    d2 = parse_desired([("d.yaml", [payload("A2", "a2", key="a"), payload("B", "b", ("a",))])])
    p = plan_workspace(d2, st.snapshot(), server.facts(NOW), PlanOptions(prune=True), now=NOW)
    data = plan_to_json(p)
    assert data["format"] == PLAN_FORMAT
    assert data["version"] == 1
    assert data["summary"]["rename"] == 1
    assert data["summary"]["unchanged"] == 1
    assert set(data["steps"][0]) >= {"kind", "key", "definition_changed", "payload", "old_payload"}
    json.dumps(data)  # plain JSON
    assert plan_from_json(json.loads(json.dumps(data))) == p
    save_plan(p, tmp_path / "plan.json")
    loaded = load_plan(tmp_path / "plan.json")
    assert loaded == p
    assert loaded.steps[0].payload == p.steps[0].payload
    assert not (tmp_path / "plan.json.tmp").exists()


def test_a_stale_saved_plan_is_refused(tmp_path: Path) -> None:
    d, server, st = workspace()
    p = plan_workspace(d, st.snapshot(), server.facts(NOW), now=NOW)
    save_plan(p, tmp_path / "plan.json")
    saved = load_plan(tmp_path / "plan.json")
    check_fresh(saved, st.snapshot(), server.facts(NOW + 5))  # re-verifying changes nothing
    check_fresh(saved, st.snapshot(), server.facts(NOW), d)
    server.add("Made meanwhile", payload("Made meanwhile", "m"))
    with pytest.raises(StalePlan, match="the saved plan is stale"):
        check_fresh(saved, st.snapshot(), server.facts(NOW))
    server2 = ModelServer(segments=dict(list(server.segments.items())[:2]))
    check_fresh(saved, st.snapshot(), server2.facts(NOW))
    st.put(StateRow("x", "idx", "X"))
    with pytest.raises(StalePlan):
        check_fresh(saved, st.snapshot(), server2.facts(NOW))
    st.forget("x")
    other = parse_desired([("d.yaml", [payload("A | pipes", "changed", key="a")])])
    with pytest.raises(StalePlan):
        check_fresh(saved, st.snapshot(), server2.facts(NOW), other)


def test_files_that_are_not_plans_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(PlanFileError, match="cannot read"):
        load_plan(bad)
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(PlanFileError, match="not a moeseg plan"):
        load_plan(bad)
    bad.write_text(json.dumps({"format": PLAN_FORMAT, "version": 2}), encoding="utf-8")
    with pytest.raises(PlanFileError, match="plan version 2"):
        load_plan(bad)
    bad.write_text(json.dumps({"format": PLAN_FORMAT, "version": 1}), encoding="utf-8")
    with pytest.raises(PlanFileError, match="malformed plan: KeyError"):
        load_plan(bad)


def test_text_form_shows_diffs_in_the_describe_form_and_quota() -> None:
    _d, server, st = workspace()
    d2 = parse_desired(
        [
            (
                "d.yaml",
                [
                    payload("A | pipes", "a", key="a"),
                    payload("B", "c", ("a",)),
                    payload("C", "new"),
                ],
            )
        ]
    )
    p = plan_workspace(d2, st.snapshot(), server.facts(NOW), now=NOW)
    text = render_text(p)
    assert text.startswith("Plan: 1 to create, 1 to update, 0 to rename")
    assert "      -city is b (case insensitive)" in text
    assert "      +city is c (case insensitive)" in text
    assert "AND In segment id0001" in text  # references by id, unchanged lines kept as context
    assert "+ create    C  'C'" in text
    assert "unchanged" not in text.split("\n\n")[1]
    assert "segments (create/update/list; 50/60 s, 200/3600 s, 1000/86400 s): 3 requests" in text
    assert "3 requests, ETA 0s (the optimum)" in text
    assert "'A | pipes'" in render_text(p, show_unchanged=True)
    busy = plan_workspace(
        d2, st.snapshot(), server.facts(NOW), now=NOW, quota_history={"segments": [-1.0] * 50}
    )
    assert "3 requests, ETA 59s (optimum from idle quota 0s)" in render_text(busy)


def test_markdown_form_is_a_table_with_folded_diffs() -> None:
    d, server, st = workspace()
    d2 = parse_desired(
        [("d.yaml", [payload("Renamed | x", "a", key="a"), payload("B", "b", ("a",))])]
    )
    md = render_markdown(plan_workspace(d2, st.snapshot(), server.facts(NOW), now=NOW))
    assert md.startswith("### moeseg plan: 0 to create, 0 to update, 1 to rename")
    assert "| rename | `a` | A \\| pipes → Renamed \\| x | id0001 |" in md
    assert "<details>" not in md  # a rename alone changes no definition
    assert "No changes." in render_markdown(
        plan_workspace(d, st.snapshot(), server.facts(NOW), now=NOW)
    )


def test_a_create_diff_and_an_unknown_current_definition() -> None:
    d = parse_desired([("d.yaml", [payload("A", "a")])])
    step = plan_workspace(d, MemoryState().snapshot(), ModelServer().facts(NOW), now=NOW).steps[0]
    assert definition_diff(step)[-1] == "+city is a (case insensitive)"
    server = ModelServer()
    server.add("A", payload("A", "x"))
    adopted = plan_workspace(d, MemoryState().snapshot(), server.facts(NOW, fetched=False), now=NOW)
    assert "-(not known: not fetched)" in definition_diff(adopted.steps[0])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.6, "1m 0s"), (200, "3m 20s"), (7500, "2h 5m"), (97200, "1d 3h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_markdown_keeps_user_text_inside_its_cell_and_fence() -> None:
    d = parse_desired([("d.yaml", [payload("bold | ```", "<b>```x", key="<i>k")])])
    md = render_markdown(
        plan_workspace(d, MemoryState().snapshot(), ModelServer().facts(NOW), now=NOW)
    )
    assert "bold \\| '''" in md
    assert "````diff" in md
    assert "| `<i>k` | bold \\| ''' |" in md
