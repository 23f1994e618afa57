"""The online steps of segments-as-code, each through one ``moeseg.Client``: plan (list, GET
what is due, plan), apply (a fresh plan, or a saved one checked for staleness), export (list,
GET, write YAML, adopt into the state) and diff (drift between the state and the server).

Every input is read and checked before the first request. State and file I/O run in worker
threads, never on the event loop.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread
import attrs

from ..client import Client
from ._apply import ApplyProgress, ApplyResult, apply_plan, check_applicable
from ._desired import DesiredSet, load_desired
from ._export import ExportResult, dump_desired, export_keys, export_workspace
from ._facts import FetchedDefinition, PlanOptions, ServerFacts
from ._fetch import (
    FetchProgress,
    cached_definition,
    facts_from,
    fetch_definitions,
    governor_costs,
    read_snapshot,
    state_io,
)
from ._plan import Plan, PlanStep, plan_workspace
from ._planfile import check_fresh
from ._state import StateSnapshot, StateStore

__all__ = ["Drift", "apply_session", "diff_session", "export_session", "plan_session"]

Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


async def read_desired(files: Paths | DesiredSet, options: PlanOptions) -> DesiredSet:
    """The desired items (files read in a worker thread), checked against ``options``' caps."""
    if isinstance(files, DesiredSet):
        desired = files
    else:
        given = [files] if isinstance(files, (str, os.PathLike)) else list(files)
        paths = [Path(p) for p in given]
        desired = await anyio.to_thread.run_sync(
            lambda: load_desired(
                paths,
                max_references=options.max_references,
                max_reference_depth=options.max_reference_depth,
                max_nesting=options.max_nesting,
            )
        )
    # the planner's own checks (caps, cycles) before any request: on no facts at all
    plan_workspace(desired, StateSnapshot(), ServerFacts(), options, now=0.0)
    return desired


async def plan_session(
    client: Client,
    state: StateStore,
    desired: DesiredSet,
    options: PlanOptions,
    *,
    progress: Callable[[FetchProgress], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Plan:
    """List once, GET the segments the plan needs verified (recording each in the state), and
    plan again from what they said; ETAs from the client's governor."""
    listed = await client.list_segments()
    snapshot = await read_snapshot(state)
    first = plan_workspace(desired, snapshot, facts_from(listed, snapshot), options, now=clock())
    ids = {s.key: s.segment_id for s in first.steps if s.segment_id is not None}
    due = [ids[k] for k in first.refresh if k in ids]
    names = {s.id: s.name for s in listed}
    fetched = await fetch_definitions(
        client, due, state, names=names, progress=progress, clock=clock
    )
    snapshot = await read_snapshot(state)
    facts = facts_from(listed, snapshot, fetched.values())
    plan = plan_workspace(desired, snapshot, facts, options, now=clock())
    return attrs.evolve(plan, costs=await governor_costs(client, plan))


async def apply_session(
    client: Client,
    state: StateStore,
    plan: Plan,
    *,
    saved: bool,
    progress: Callable[[ApplyProgress], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> ApplyResult:
    """Apply ``plan``; a ``saved`` one is first checked against a fresh list (one call) and
    the state: :class:`StalePlan` if either changed since it was made."""
    check_applicable(plan)
    if saved:
        listed = await client.list_segments()
        snapshot = await read_snapshot(state)
        check_fresh(plan, snapshot, facts_from(listed, snapshot))
    return await apply_plan(client, plan, state, progress=progress, clock=clock)


async def export_session(
    client: Client,
    state: StateStore,
    *,
    out: str | os.PathLike[str] | None,
    refresh_after: float,
    progress: Callable[[FetchProgress], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[ExportResult, str]:
    """Export the workspace: (the result, its YAML). One list call, then a GET per segment
    not verified within ``refresh_after``; each fetched filter segment is adopted into the
    state as it arrives, so an interrupted export resumes where it stopped. With ``out``,
    one ``<key>.yaml`` per item is written there, and ``references.txt`` lists the segments
    exported as references only (file and cohort segments)."""
    listed = await client.list_segments()
    snapshot = await read_snapshot(state)
    active = facts_from(listed, snapshot).active
    keys = export_keys(active, snapshot)
    now = clock()
    definitions: dict[str, FetchedDefinition] = {}
    due = []
    for seg in active:
        row = snapshot.rows.get(keys[seg.id])
        cached = None
        if row is not None and row.segment_id == seg.id:
            cached = cached_definition(row, now, refresh_after)
        if cached is not None:
            definitions[seg.id] = cached
        else:
            due.append(seg.id)
    # each GET is adopted as it arrives (an interrupted export resumes from there)
    names = {seg.id: seg.name for seg in active}
    adopt = {sid: (keys[sid], names[sid]) for sid in due}
    new_keys = {keys[sid] for sid in due if keys[sid] not in snapshot.rows}
    definitions |= await fetch_definitions(
        client, due, state, adopt=adopt, progress=progress, clock=clock
    )
    # the state as it was before this export: what it adopted does not make a segment managed
    result = export_workspace(active, definitions, snapshot)
    exported = {r.key for r in result.rows}
    for row in result.rows:
        await state_io(state.put, row)
    for key in new_keys - exported:
        await state_io(state.forget, key)
    text = dump_desired(result.items)
    if out is not None:
        await anyio.to_thread.run_sync(_write_export, Path(out), result)
    return result, text


def _write_export(folder: Path, result: ExportResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for item in result.items:
        (folder / f"{item['key']}.yaml").write_text(dump_desired([item]), encoding="utf-8")
    lines = [f"{s.id}\t{s.type or ''}\t{s.name}" for s in result.references]
    if lines:
        text = "# segments without a filter definition (use them by id)\n" + "\n".join(lines)
        (folder / "references.txt").write_text(text + "\n", encoding="utf-8")


@attrs.frozen(slots=True)
class Drift:
    """A managed segment that changed behind moeseg's back: ``changed`` (its definition),
    ``renamed``, or ``missing`` (no longer listed). ``step`` shows it as an update from the
    state's definition to the server's (for ``definition_diff``)."""

    key: str
    segment_id: str
    kind: Literal["changed", "renamed", "missing"]
    name: str
    server_name: str | None = None
    step: PlanStep | None = attrs.field(default=None, eq=False, repr=False)


async def diff_session(
    client: Client,
    state: StateStore,
    *,
    refresh_after: float,
    progress: Callable[[FetchProgress], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Drift, ...]:
    """Drift between the state and the server: one list call, a GET per managed segment not
    verified within ``refresh_after``. The state keeps what moeseg applied; a drifted row is
    only marked unverified, so the next plan fetches it and shows the change back."""
    listed = await client.list_segments()
    by_id = {s.id: s for s in listed}
    snapshot = await read_snapshot(state)
    rows = [r for r in snapshot.rows.values() if r.archived_at is None]
    now = clock()
    due = [
        r.segment_id
        for r in rows
        if r.segment_id in by_id
        and (r.verified_at is None or now - r.verified_at > refresh_after or r.fingerprint is None)
    ]
    fetched = await fetch_definitions(client, due, state, record=False, progress=progress)
    out: list[Drift] = []
    for r in sorted(rows, key=lambda r: r.key):
        seg = by_id.get(r.segment_id)
        if seg is None:
            out.append(Drift(r.key, r.segment_id, "missing", r.name))
            continue
        got = fetched.get(r.segment_id)
        if got is not None and r.fingerprint is not None and got.fingerprint != r.fingerprint:
            old = json.loads(r.payload) if r.payload else None
            step = PlanStep(
                "update",
                r.key,
                seg.name,
                segment_id=r.segment_id,
                old_name=r.name,
                old_fingerprint=r.fingerprint,
                new_fingerprint=got.fingerprint,
                old_payload=old,
                payload={"name": seg.name, **got.payload},
            )
            out.append(Drift(r.key, r.segment_id, "changed", r.name, seg.name, step))
        elif seg.name != r.name:
            out.append(Drift(r.key, r.segment_id, "renamed", r.name, seg.name))
        if got is not None and r.fingerprint == got.fingerprint:
            await state_io(state.put, attrs.evolve(r, verified_at=got.fetched_at))
    for d in out:
        if d.kind != "missing":
            row = attrs.evolve(snapshot.rows[d.key], verified_at=None)
            await state_io(state.put, row)
    return tuple(out)
