"""The planner: each kind of step, apply order, archives, headroom, read-only, refresh."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moeseg._workspace import (
    ActiveSegment,
    DesiredItem,
    DesiredItemError,
    DesiredSet,
    FetchedDefinition,
    HeadroomExceeded,
    Plan,
    PlanOptions,
    PlanRefused,
    ServerFacts,
    StateRow,
    StateSnapshot,
    parse_desired,
    plan_workspace,
    quota_costs,
    sliding_window_eta,
)
from moeseg.segments import fingerprint

from ._model import payload

NOW = 1_000_000.0
DAY = 86400.0


def desired(*items: dict[str, Any]) -> DesiredSet:
    return parse_desired([("desired.yaml", list(items))])


def row(key: str, sid: str, name: str, value: str, **kw: Any) -> StateRow:
    p = payload(name, value)
    kw.setdefault("verified_at", NOW - 60)
    return StateRow(key, sid, name, fingerprint(p), json.dumps(p), **kw)


def state(*rows: StateRow) -> StateSnapshot:
    return StateSnapshot({r.key: r for r in rows})


def active(*segs: tuple[str, str] | ActiveSegment) -> ServerFacts:
    return ServerFacts(
        tuple(
            s if isinstance(s, ActiveSegment) else ActiveSegment(*s, "ELASTIC_SEARCH", "API")
            for s in segs
        )
    )


def plan(d: DesiredSet, s: StateSnapshot, f: ServerFacts, **options: Any) -> Plan:
    return plan_workspace(d, s, f, PlanOptions(**options), now=NOW)


def kinds(p: Plan) -> list[tuple[str, str]]:
    return [(s.kind, s.key) for s in p.steps]


def test_creates_when_nothing_exists_and_nothing_when_all_match() -> None:
    d = desired(payload("A", "a"), payload("B", "b"))
    p = plan(d, state(), active())
    assert kinds(p) == [("create", "A"), ("create", "B")]
    assert all(s.on_name_conflict == "unarchive" for s in p.steps)
    done = plan(
        d, state(row("A", "1", "A", "a"), row("B", "2", "B", "b")), active(("1", "A"), ("2", "B"))
    )
    assert kinds(done) == [("unchanged", "A"), ("unchanged", "B")]
    assert done.empty
    assert done.actions == ()


def test_a_rename_of_a_keyed_item_is_an_update_not_archive_and_create() -> None:
    d = desired(payload("New name", "a", key="k"), payload("Other", "x2", key="o"))
    s = state(row("k", "1", "Old name", "a"), row("o", "2", "Other", "x"))
    p = plan(d, s, active(("1", "Old name"), ("2", "Other")), prune=True)
    step = p.steps[0]
    assert (step.kind, step.segment_id, step.old_name, step.name) == (
        "rename",
        "1",
        "Old name",
        "New name",
    )
    assert not step.definition_changed
    assert kinds(p) == [("rename", "k"), ("update", "o")]
    assert p.counts()["archive"] == 0
    assert p.counts()["create"] == 0
    assert sum(s.writes for s in p.steps) == 2


def test_without_a_key_a_renamed_item_is_a_new_segment() -> None:
    p = plan(
        desired(payload("New name", "a")),
        state(row("Old name", "1", "Old name", "a")),
        active(("1", "Old name")),
    )
    assert kinds(p) == [("create", "New name")]
    assert p.orphans == ("Old name",)


def test_unarchive_instead_of_create_when_moeseg_archived_it() -> None:
    s = state(row("k", "1", "A", "a", archived_at=NOW - DAY))
    p = plan(desired(payload("A", "a", key="k")), s, active())
    step = p.steps[0]
    assert (step.kind, step.segment_id, step.update) == ("unarchive", "1", False)
    changed = plan(desired(payload("A2", "b", key="k")), s, active())
    assert (changed.steps[0].kind, changed.steps[0].update) == ("unarchive", True)
    assert changed.steps[0].writes == 1
    assert p.steps[0].writes == 0


def test_unarchive_by_name_when_the_server_reports_it_archived() -> None:
    facts = ServerFacts((), archived_names=frozenset({"A"}))
    p = plan(desired(payload("A", "a")), state(), facts)
    step = p.steps[0]
    assert (step.kind, step.segment_id, step.update) == ("unarchive", None, True)


def test_an_unknown_archived_name_is_a_create_that_unarchives_on_a_name_conflict() -> None:
    # moeseg did not archive it and the list shows active segments only: the server's 409 tells
    p = plan(desired(payload("A", "a", key="k")), state(row("k", "1", "A", "a")), active())
    step = p.steps[0]
    assert (step.kind, step.on_name_conflict) == ("create", "unarchive")


def test_dependency_order_puts_references_first_and_archives_before_everything() -> None:
    d = desired(
        payload("C", "c", ("B",)),
        payload("B", "b", ("A",)),
        payload("D", "d"),
        payload("A", "a"),
    )
    s = state(row("gone", "9", "Gone", "g"))
    p = plan(d, s, active(("9", "Gone")), prune=True)
    assert kinds(p) == [
        ("archive", "gone"),
        ("create", "A"),
        ("create", "B"),
        ("create", "C"),
        ("create", "D"),
    ]
    # a reference created in the same apply: its id is unknown until then
    assert p.steps[2].new_fingerprint is None
    assert p.steps[1].new_fingerprint is not None


def test_an_existing_item_referring_to_a_new_one_is_updated_after_it() -> None:
    d = desired(payload("B", "b", ("A",)), payload("A", "a"))
    s = state(row("B", "2", "B", "b"))
    p = plan(d, s, active(("2", "B")))
    assert kinds(p) == [("create", "A"), ("update", "B")]
    assert p.steps[1].definition_changed


def test_a_reference_to_a_known_segment_resolves_to_its_id() -> None:
    d = desired(payload("B", "b", ("A",)), payload("A", "a"))
    resolved = d.by_key()["B"].resolve({"A": "1"})
    s = state(
        row("A", "1", "A", "a"),
        StateRow("B", "2", "B", fingerprint(resolved), json.dumps(resolved), NOW),
    )
    p = plan(d, s, active(("1", "A"), ("2", "B")))
    assert kinds(p) == [("unchanged", "A"), ("unchanged", "B")]


def test_cycles_are_refused_even_for_items_built_in_code() -> None:
    a = DesiredItem("a", "A", payload("A", "a", ("b",)), ("b",))
    b = DesiredItem("b", "B", payload("B", "b", ("a",)), ("a",))
    with pytest.raises(DesiredItemError, match="reference cycle: a -> b -> a"):
        plan(DesiredSet((a, b)), state(), active())
    with pytest.raises(DesiredItemError, match="exceed the cap of 0"):
        plan(
            desired(payload("A", "a"), payload("B", "b", ("A",))),
            state(),
            active(),
            max_references=0,
        )


def test_headroom_counts_the_active_list_creates_unarchives_and_archives() -> None:
    others = [(f"x{i}", f"X{i}") for i in range(997)]
    s = state(row("old", "o", "Old", "o"), row("arch", "z", "Arch", "z", archived_at=NOW))
    d = desired(payload("A", "a"), payload("B", "b"), payload("Arch", "z", key="arch"))
    facts = active(*others, ("o", "Old"))  # 998 active
    p = plan(d, s, facts)
    assert (p.active, p.active_after) == (998, 1001)
    with pytest.raises(HeadroomExceeded) as info:
        p.check()
    assert (info.value.active, info.value.adding, info.value.limit) == (998, 3, 1000)
    assert "1001 active segments, over the workspace limit of 1000" in str(info.value)
    assert "1001 active" in p.problems[0]
    pruned = plan(d, s, facts, prune=True)  # archiving "old" frees one slot
    assert pruned.active_after == 1000
    pruned.check()


def test_prune_is_off_by_default_and_capped() -> None:
    s = state(*(row(f"k{i}", f"{i}", f"N{i}", f"v{i}") for i in range(5)))
    facts = active(*((f"{i}", f"N{i}") for i in range(5)))
    p = plan(desired(), s, facts)
    assert p.steps == ()
    assert p.orphans == ("k0", "k1", "k2", "k3", "k4")
    assert not p.problems
    p.check()
    capped = plan(desired(), s, facts, prune=True, max_archive=2)
    assert kinds(capped) == [("archive", "k0"), ("archive", "k1")]
    assert capped.orphans == ("k2", "k3", "k4")
    assert "3 more segments to archive than --max-archive 2" in capped.problems[0]
    with pytest.raises(PlanRefused):
        capped.check()
    everything = plan(desired(), s, facts, prune=True, max_archive=10)
    assert len(everything.actions) == 5
    assert not everything.problems


def test_already_archived_or_vanished_orphans_are_left_alone() -> None:
    s = state(row("a", "1", "A", "a", archived_at=NOW), row("b", "2", "B", "b"))
    assert plan(desired(), s, active(), prune=True).steps == ()


def test_dashboard_made_segments_are_read_only() -> None:
    dash = ActiveSegment("7", "Dash", "ELASTIC_SEARCH", "DASHBOARD")
    p = plan(desired(payload("Dash", "different")), state(), active(dash))
    step = p.steps[0]
    assert (step.kind, step.segment_id, step.adopt) == ("read_only", "7", True)
    assert "DASHBOARD" in step.note
    assert p.empty
    assert step.writes == 0
    assert p.refresh == ()  # drift of what cannot be updated needs no GET
    assert not step.verify
    flagged = state(StateRow("Dash", "7", "Dash", read_only=True))
    assert kinds(plan(desired(payload("Dash", "x")), flagged, active(("7", "Dash")))) == [
        ("read_only", "Dash")
    ]
    # never archived by prune either
    assert plan(desired(), flagged, active(("7", "Dash")), prune=True).steps == ()


def test_an_unmanaged_api_segment_with_the_desired_name_is_adopted() -> None:
    facts = ServerFacts(
        (ActiveSegment("5", "A", None, "API"),),
        {"5": FetchedDefinition("5", payload("A", "a"), NOW)},
    )
    p = plan(desired(payload("A", "a")), state(), facts)
    assert (p.steps[0].kind, p.steps[0].adopt, p.steps[0].segment_id) == ("unchanged", True, "5")
    unknown = plan(desired(payload("A", "a")), state(), active(("5", "A")))
    assert (unknown.steps[0].kind, unknown.steps[0].verify) == ("update", True)
    assert unknown.refresh == ("A",)


def test_a_key_renamed_in_the_files_adopts_the_old_key_s_segment() -> None:
    s = state(row("old-key", "1", "A", "a"))
    p = plan(desired(payload("A", "a", key="new-key")), s, active(("1", "A")), prune=True)
    step = p.steps[0]
    assert (step.kind, step.adopt_from, step.segment_id) == ("unchanged", "old-key", "1")
    assert p.orphans == ()
    assert p.counts()["archive"] == 0


def test_a_name_freed_by_a_rename_is_created_after_the_rename() -> None:
    s = state(row("k1", "1", "Shared", "a"))
    d = desired(payload("New", "n", key="k2"), payload("Moved", "a", key="k1"))
    d = DesiredSet(
        (DesiredItem("k2", "Shared", payload("Shared", "n"), file="f", index=0), d.items[1])
    )
    p = plan(d, s, active(("1", "Shared")))
    assert kinds(p) == [("rename", "k1"), ("create", "k2")]


def test_drift_is_seen_in_a_fetched_definition_newer_than_the_state() -> None:
    s = state(row("A", "1", "A", "a", verified_at=NOW - 10))
    edited = FetchedDefinition("1", payload("A", "edited behind our back"), NOW - 5)
    facts = ServerFacts(active(("1", "A")).active, {"1": edited})
    p = plan(desired(payload("A", "a")), s, facts)
    assert kinds(p) == [("update", "A")]
    assert p.steps[0].old_fingerprint == edited.fingerprint
    older = ServerFacts(facts.active, {"1": FetchedDefinition("1", edited.payload, NOW - 20)})
    assert kinds(plan(desired(payload("A", "a")), s, older)) == [("unchanged", "A")]


def test_refresh_after_selects_the_segments_that_need_a_get() -> None:
    s = state(
        row("fresh", "1", "F", "f", verified_at=NOW - 3600),
        row("stale", "2", "S", "s", verified_at=NOW - 2 * DAY),
        row("never", "3", "N", "n", verified_at=None),
    )
    d = desired(
        payload("F", "f", key="fresh"),
        payload("S", "s", key="stale"),
        payload("N", "n", key="never"),
    )
    facts = active(("1", "F"), ("2", "S"), ("3", "N"))
    p = plan(d, s, facts)
    assert p.refresh == ("stale", "never")
    assert [s.verify for s in p.steps] == [False, True, True]
    gets = next(c for c in p.costs if c.operations == ("get",))
    assert (gets.group, gets.requests, gets.eta_seconds) == ("segment_reads", 2, 0.0)
    assert plan(d, s, facts, refresh_after=60).refresh == ("fresh", "stale", "never")
    assert plan(d, s, facts, refresh_after=3 * DAY).refresh == ("never",)


def test_targets_limit_the_plan_to_those_keys_and_what_they_refer_to() -> None:
    d = desired(payload("A", "a"), payload("B", "b", ("A",)), payload("C", "c"))
    p = plan(d, state(), active(), targets=frozenset({"B"}))
    assert kinds(p) == [("create", "A"), ("create", "B")]


def test_quota_cost_and_eta_of_creates() -> None:
    d = desired(*(payload(f"S{i}", f"v{i}") for i in range(249)))
    p = plan(d, state(), active())
    writes = next(c for c in p.costs if c.group == "segments")
    # 249 creates + 1 list = 250: 200 in the first hour (50 a minute), the rest an hour later
    assert writes.requests == 250
    assert writes.eta_seconds == 3600 + 60 * 0
    assert writes.windows == ((50, 60.0), (200, 3600.0), (1000, 86400.0))


def test_sliding_window_eta_is_exact() -> None:
    windows = [(50, 60.0), (200, 3600.0), (1000, 86400.0)]
    assert sliding_window_eta(0, windows) == 0.0
    assert sliding_window_eta(50, windows) == 0.0
    assert sliding_window_eta(51, windows) == 60.0
    assert sliding_window_eta(200, windows) == 180.0
    assert sliding_window_eta(201, windows) == 3600.0
    assert sliding_window_eta(1001, windows) == 86400.0
    gets = [(100, 60.0), (1000, 3600.0), (4000, 86400.0)]
    assert sliding_window_eta(1000, gets) == 540.0
    assert sliding_window_eta(1001, gets) == 3600.0
    assert [c.requests for c in quota_costs(gets=3, writes=2, lists=1)] == [3, 3]


def test_a_rename_to_a_name_held_elsewhere_waits_or_is_a_problem() -> None:
    s = state(row("a", "1", "A", "a"), row("b", "2", "B", "b"))
    swap_free = desired(payload("B", "a", key="a"), payload("C", "b", key="b"))
    p = plan(swap_free, s, active(("1", "A"), ("2", "B")))
    assert kinds(p) == [("rename", "b"), ("rename", "a")]  # b frees "B" first
    assert not p.problems
    held = plan(desired(payload("X", "a", key="a")), s, active(("1", "A"), ("2", "B"), ("3", "X")))
    assert held.problems == ("a: the name 'X' is held by segment 3 (not managed here)",)
    with pytest.raises(PlanRefused, match="held by segment 3"):
        held.check()


def test_eta_from_the_quota_as_it_is_against_the_optimum() -> None:
    windows = [(50, 60.0), (200, 3600.0)]
    # 50 admitted 10 s ago: the minute window frees 50 s from now
    assert sliding_window_eta(1, windows, [-10.0] * 50) == 50.0
    assert sliding_window_eta(51, windows, [-10.0] * 50) == 110.0
    assert sliding_window_eta(1, windows, [-100.0] * 50) == 0.0
    # 200 in the last hour, the oldest 3,000 s ago: the hour window frees in 600 s
    history = [-3000.0] * 50 + [-10.0] * 150
    assert sliding_window_eta(1, windows, history) == 600.0
    d = desired(payload("A", "a"))
    p = plan_workspace(d, state(), active(), now=NOW, quota_history={"segments": [-10.0] * 50})
    writes = next(c for c in p.costs if c.group == "segments")
    assert (writes.requests, writes.eta_seconds, writes.optimum_seconds) == (2, 50.0, 0.0)
