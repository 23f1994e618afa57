"""Convergence of the planner: for random desired states and random starting workspaces,
carrying the plan out on a model of the server leaves a workspace whose new plan is empty,
whose managed segments hold the desired names and definitions, and where nothing was created
twice or archived unplanned."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moeseg._workspace import (
    MemoryState,
    PlanOptions,
    StateRow,
    export_workspace,
    parse_desired,
    plan_workspace,
    verified_row,
)
from moeseg.segments import fingerprint

from ._model import ModelServer, apply_plan, payload

NOW = 5_000_000.0
SITUATIONS = (
    "absent",
    "managed",
    "archived_by_us",
    "archived_behind",  # managed, then archived in the dashboard: the state does not know
    "vanished",  # managed, then gone from the server (hidden 180 days after an archive)
    "archived_unknown",
    "dashboard",
    "adoptable",
)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 7))
    keys = [f"k{i}" for i in range(n)]
    start = {k: draw(st.sampled_from(SITUATIONS)) for k in keys}
    desired = [k for k in keys if draw(st.booleans())]
    items = []
    for i, k in enumerate(desired):
        # references only to earlier desired keys: acyclic by construction
        refs = (
            tuple(sorted(set(draw(st.lists(st.sampled_from(desired[:i]), max_size=2)))))
            if i
            else ()
        )
        variant = draw(st.integers(0, 1))
        items.append(payload(f"{k}-n{draw(st.integers(0, 1))}", f"{k}-d{variant}", refs, key=k))
    return {
        "start": start,
        "items": items,
        "old": {k: (draw(st.integers(0, 1)), draw(st.integers(0, 2))) for k in keys},
        "drift": {k: draw(st.booleans()) for k in keys},
        "prune": draw(st.booleans()),
    }


def build(world: dict[str, Any]) -> tuple[ModelServer, MemoryState]:
    server, state = ModelServer(), MemoryState()
    for k, situation in world["start"].items():
        name_v, def_v = world["old"][k]
        name, value = f"{k}-n{name_v}", f"{k}-d{def_v}"
        p = payload(name, value)
        if situation in ("managed", "archived_behind", "vanished"):
            sid = server.add(name, p, archived=situation == "archived_behind")
            if world["drift"][k]:  # edited behind moeseg's back: definition and name
                server.segments[sid].payload = payload(name, f"{k}-edited")
                server.segments[sid].name = f"{k}-n2"
            state.put(StateRow(k, sid, name, fingerprint(p), json.dumps(p), NOW - 100_000))
            if situation == "vanished":
                del server.segments[sid]
        elif situation == "archived_by_us":
            sid = server.add(name, p, archived=True)
            state.put(StateRow(k, sid, name, fingerprint(p), json.dumps(p), NOW - 10, NOW - 5))
        elif situation == "archived_unknown":
            server.add(name, p, archived=True)
        elif situation == "dashboard":
            server.add(name, payload(name, f"{k}-dash"), source="DASHBOARD")
        elif situation == "adoptable":
            server.add(name, p)
    return server, state


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_applying_a_plan_converges(world: dict[str, Any]) -> None:
    desired = parse_desired([("desired.yaml", world["items"])])
    server, state = build(world)
    options = PlanOptions(prune=world["prune"], max_archive=100)
    before = {sid: s.archived for sid, s in server.segments.items()}
    facts = server.facts(NOW)
    for r in state.snapshot().rows.values():  # as `plan` records what its GETs found
        if r.segment_id in facts.definitions:
            state.put(verified_row(r, facts.definitions[r.segment_id]))
    plan = plan_workspace(desired, state.snapshot(), facts, options, now=NOW)
    apply_plan(plan, desired, server, state, NOW + 1)

    again = plan_workspace(desired, state.snapshot(), server.facts(NOW + 2), options, now=NOW + 2)
    assert again.empty, [(s.kind, s.key) for s in again.actions]
    assert not again.problems
    # once recorded, the state alone (no GET) also says there is nothing to do (segments
    # adopted unchanged were not verified by apply: the plan asks for a GET of each)
    recorded = plan_workspace(
        desired, state.snapshot(), server.facts(NOW + 3, fetched=False), options, now=NOW + 3
    )
    assert recorded.empty
    adopted = {s.key for s in plan.steps if s.kind == "unchanged" and s.adopt}
    assert set(recorded.refresh) <= adopted

    rows = state.snapshot().rows
    ids = {k: r.segment_id for k, r in rows.items()}
    names = {i.key: i.name for i in desired.items}
    for item in desired.items:
        seg = server.segments[rows[item.key].segment_id]
        assert not seg.archived
        if rows[item.key].read_only:
            assert seg.source == "DASHBOARD"
            continue
        assert seg.name == item.name
        assert fingerprint(seg.payload) == fingerprint(item.resolve(ids, names))
    # export reproduces the desired definitions, under the same keys
    facts = server.facts(NOW + 4)
    exported = export_workspace(facts.active, facts.definitions, state.snapshot())
    assert exported.invalid == ()
    back = parse_desired([("export", list(exported.items))]).by_key()
    exported_ids = {r.key: r.segment_id for r in exported.rows}
    for item in desired.items:
        if not rows[item.key].read_only:
            again_fp = fingerprint(back[item.key].resolve(exported_ids))
            assert again_fp == fingerprint(item.resolve(ids))
    # nothing created twice: one segment per name
    all_names = [s.name for s in server.segments.values()]
    assert len(all_names) == len(set(all_names))
    # nothing archived that the plan did not archive
    archived_now = {
        sid for sid, s in server.segments.items() if s.archived and not before.get(sid, False)
    }
    assert archived_now == {s.segment_id for s in plan.steps if s.kind == "archive"}
    if not world["prune"]:
        assert archived_now == set()
