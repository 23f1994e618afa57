"""The planner: what apply must do so the workspace holds the desired segments. Pure, no I/O.

Inputs: the desired items, a state snapshot, and server facts (the active list; definitions
fetched by GET with their fetch time; the names the server reported archived, if known).
Output: a :class:`Plan`, one :class:`PlanStep` per key, in the order apply runs them.

Per desired key:

- **Known segment, active** (the state maps the key to an id in the active list): ``rename`` if
  the active list shows another name (an update that carries the new name; the definition may
  change too), ``update`` if only the definition differs, else ``unchanged``. The current
  definition is the fetched one when it is newer than the state's, else the state's.
  A segment the API did not create (``source`` other than ``API``) or marked read-only in the
  state is ``read_only``: shown, never updated.
- **Archived name -> unarchive, never recreate.** A name that exists archived is unarchived (and
  then updated when its name or definition differs), not created again. moeseg knows a name is
  archived from its state (it archived the segment: ``archived_at``), or from the server's
  list of archived names when the caller has one. Otherwise it cannot know (the list shows
  active segments only): the step is a ``create`` with ``on_name_conflict = "unarchive"``,
  which tells the applier that a 409 name conflict for this name, which the active list did
  not show, means the name is archived: unarchive it by name, then update it.
- **Unknown key, name active**: the segment is adopted (``adopt``; the state row of a key no
  longer desired that held it moves over, ``adopt_from``) and compared like a known one; with
  no definition to compare (not fetched), it is updated to the desired one.
- **Unknown key, definition active**: an unmanaged active segment whose fetched definition is
  the desired one (MoEngage refuses a second equal definition) is adopted and renamed. When
  the definition was not fetched, the create meets a 409 definition conflict naming the
  existing segment (``existing_cs_id``): the applier adopts that one the same way.
- Anything else is a ``create``.

Managed keys that are no longer desired are archived only with ``prune`` (off by default), at
most ``max_archive`` of them; the rest are listed in ``orphans``. Apply order: archives first
(they free active capacity), then unarchive / create / update / rename in dependency order
(an item comes after every item it refers to, so a reference created in the same apply has its
id). A key whose desired name is held by another desired key's segment that renames away comes
after that rename.

Checks: the 1,000-active headroom (active list + creates + unarchives - archives), reference
cycles, reference and nesting caps (as the loader, so items built in code are checked too), and
names held by segments no desired key manages (a ``problem``: apply refuses).
``refresh`` lists the keys whose definition is known only from a state older than
``refresh_after`` (a GET each, on the get quota), or not at all (adopted and not fetched).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import attrs

from ..segments import fingerprint
from ._desired import DesiredItem, DesiredSet
from ._errors import DesiredItemError, HeadroomExceeded, PlanRefused, headroom_problem
from ._facts import ActiveSegment, PlanOptions, ServerFacts
from ._graph import (
    check_graph,
    dependency_order,
    walk_filters,
)
from ._quota import QuotaCost, quota_costs
from ._state import StateRow, StateSnapshot

__all__ = [
    "Plan",
    "PlanStep",
    "StepKind",
    "plan_fingerprint",
    "plan_workspace",
]

StepKind: TypeAlias = Literal[
    "archive", "unarchive", "create", "update", "rename", "unchanged", "read_only"
]
#: kinds that change nothing on the server
PASSIVE: Final = frozenset({"unchanged", "read_only"})


@attrs.frozen(slots=True)
class PlanStep:
    """One thing apply does (or shows) for one key.

    ``segment_id`` is ``None`` until the segment exists (create, unarchive by name).
    ``old_*`` describe the server's current segment where known; ``new_fingerprint`` is
    ``None`` when the definition refers to a segment created in the same apply (its id is
    known only then). ``update``: an unarchive is followed by an update. ``verify``: the
    current definition is not known fresh (a GET would tell). ``payload``: the desired
    create payload with references by key (``segment_key``), resolved by the applier.
    """

    kind: StepKind
    key: str
    name: str
    segment_id: str | None = None
    old_name: str | None = None
    old_fingerprint: str | None = None
    new_fingerprint: str | None = None
    old_payload: Mapping[str, Any] | None = attrs.field(default=None, eq=False, repr=False)
    payload: Mapping[str, Any] | None = attrs.field(default=None, eq=False, repr=False)
    references: tuple[str, ...] = ()
    update: bool = False
    adopt: bool = False
    adopt_from: str | None = None
    on_name_conflict: Literal["unarchive"] | None = None
    verify: bool = False
    note: str = ""

    @property
    def writes(self) -> int:
        """Requests on the create/list/update quota group this step needs (at least)."""
        if self.kind in ("create", "update", "rename"):
            return 1
        return 1 if self.kind == "unarchive" and self.update else 0

    @property
    def definition_changed(self) -> bool:
        """Whether the definition differs (or cannot be shown to be equal)."""
        return self.kind != "archive" and (
            self.new_fingerprint is None or self.new_fingerprint != self.old_fingerprint
        )


@attrs.frozen(slots=True)
class Plan:
    """What apply would do, in order, with its quota cost and the facts it was made from."""

    steps: tuple[PlanStep, ...]
    fingerprint: str
    options: PlanOptions = attrs.field(factory=PlanOptions)
    refresh: tuple[str, ...] = ()
    orphans: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    costs: tuple[QuotaCost, ...] = ()
    active: int = 0
    active_after: int = 0
    made_at: float = 0.0
    desired_digest: str = ""

    @property
    def actions(self) -> tuple[PlanStep, ...]:
        """The steps that change something, in apply order."""
        return tuple(s for s in self.steps if s.kind not in PASSIVE)

    @property
    def empty(self) -> bool:
        """True when apply would change nothing."""
        return not self.actions

    def counts(self) -> dict[str, int]:
        """Number of steps of each kind (every kind present, zeros included)."""
        kinds = ("create", "update", "rename", "unarchive", "archive", "unchanged", "read_only")
        out = dict.fromkeys(kinds, 0)
        for s in self.steps:
            out[s.kind] += 1
        return out

    def check(self) -> None:
        """Raise :class:`HeadroomExceeded` or :class:`PlanRefused` if apply must not run."""
        if self.active_after > self.options.active_limit:
            adding = sum(s.kind in ("create", "unarchive") for s in self.steps)
            archiving = sum(s.kind == "archive" for s in self.steps)
            raise HeadroomExceeded(self.active, adding, archiving, self.options.active_limit)
        if self.problems:
            raise PlanRefused(self.problems)


def plan_fingerprint(
    desired: DesiredSet | str, state: StateSnapshot, facts: ServerFacts, options: PlanOptions
) -> str:
    """SHA-256 of what a plan is made from: desired items, state rows, the active list, the
    archived names and the options that change apply. ``desired`` may be given as its
    :meth:`DesiredSet.digest` (a saved plan carries it).

    Left out: ``verified_at`` (re-verifying changes nothing apply does) and fetched
    definitions (apply cannot re-read them for free; what a GET found is recorded in the
    state's fingerprint column, which is covered).
    """
    rows = [
        [r.key, r.segment_id, r.name, r.fingerprint, r.archived_at, r.read_only]
        for r in sorted(state.rows.values(), key=lambda r: r.key)
    ]
    active = sorted([a.id, a.name, a.type, a.source] for a in facts.active)
    archived = sorted(facts.archived_names) if facts.archived_names is not None else None
    doc = {
        "desired": desired if isinstance(desired, str) else desired.digest(),
        "state": rows,
        "active": active,
        "archived": archived,
        "options": options.identity(),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_caps(desired: DesiredSet, options: PlanOptions) -> None:
    by_key = desired.by_key()

    def fail(key: str, rule: str) -> Exception:
        i = by_key[key]
        return DesiredItemError(i.file, i.index, key, rule)

    for item in desired.items:
        count = 0
        for f, depth in walk_filters(item.payload):
            if depth >= options.max_nesting:
                raise fail(item.key, f"nested_filters nest deeper than {options.max_nesting}")
            count += f.get("filter_type") == "custom_segments"
        if count > options.max_references:
            rule = f"{count} segment references exceed the cap of {options.max_references}"
            raise fail(item.key, rule)
    graph = {i.key: i.references for i in desired.items}
    check_graph(graph, max_depth=options.max_reference_depth, fail=fail)


class _Planner:
    """One planning pass (state of the walk in dependency order)."""

    def __init__(
        self,
        desired: DesiredSet,
        state: StateSnapshot,
        facts: ServerFacts,
        options: PlanOptions,
        now: float,
    ) -> None:
        self.desired = desired.by_key()
        self.rows = state.rows
        self.facts = facts
        self.options = options
        self.now = now
        self.active_by_id = {a.id: a for a in facts.active}
        self.active_by_name = {a.name: a for a in facts.active}
        self.owner_of = {r.segment_id: r.key for r in state.rows.values()}
        # unmanaged active segments by fetched definition, unless a desired name claims them
        names = {i.name for i in desired.items}
        self.unmanaged_by_fingerprint = {
            d.fingerprint: sid
            for sid, d in facts.definitions.items()
            if sid in self.active_by_id
            and sid not in self.owner_of
            and self.active_by_id[sid].name not in names
        }
        self.ids: dict[str, str] = {}  # key -> id it has before its dependents run
        self.refresh: list[str] = []
        self.problems: list[str] = []
        self.after: dict[str, list[str]] = {k: [] for k in self.desired}

    def current(
        self, segment_id: str, row: StateRow | None
    ) -> tuple[str | None, Mapping[str, Any] | None, bool]:
        """(fingerprint, payload, stale) of the segment's definition as best known."""
        fetched = self.facts.definitions.get(segment_id)
        verified = row.verified_at if row is not None else None
        if fetched is not None and (verified is None or fetched.fetched_at >= verified):
            return fetched.fingerprint, fetched.payload, False
        if row is None or row.fingerprint is None:
            return None, None, True
        stale = verified is None or self.now - verified > self.options.refresh_after
        return row.fingerprint, json.loads(row.payload) if row.payload else None, stale

    def desired_fingerprint(self, item: DesiredItem) -> str | None:
        if any(r not in self.ids for r in item.references):
            return None  # refers to a segment created in this apply
        if not item.references:
            return fingerprint(item.payload)
        return fingerprint(item.resolve(self.ids))

    def step_for(self, item: DesiredItem) -> PlanStep:
        row = self.rows.get(item.key)
        base = PlanStep(
            "create",
            item.key,
            item.name,
            new_fingerprint=self.desired_fingerprint(item),
            payload=item.payload,
            references=item.references,
        )
        if row is not None and row.segment_id in self.active_by_id:
            # (also when it was unarchived behind moeseg's back after moeseg archived it)
            return self.existing(base, row, self.active_by_id[row.segment_id])
        archived = self.facts.archived_names
        if row is not None and (
            row.archived_at is not None or (archived is not None and row.name in archived)
        ):
            fp, old, _ = self.current(row.segment_id, row)
            new_fp = base.new_fingerprint
            return attrs.evolve(
                base,
                kind="unarchive",
                segment_id=row.segment_id,
                old_name=row.name,
                old_fingerprint=fp,
                old_payload=old,
                update=row.name != item.name or new_fp is None or new_fp != fp,
                note="archived by moeseg" if row.archived_at is not None else "archived",
            )
        seg = self.active_by_name.get(item.name)
        if seg is not None:
            holder = self.owner_of.get(seg.id)
            if holder is not None and holder in self.desired and holder != item.key:
                # names are unique among desired items, so the holder renames away first
                self.after[item.key].append(holder)
            else:
                held = self.rows.get(holder) if holder is not None else None
                return self.existing(base, held, seg, adopt_from=holder)
        same = self.unmanaged_by_fingerprint.get(base.new_fingerprint or "")
        if same is not None and same not in self.ids.values():
            return self.existing(base, None, self.active_by_id[same])
        if archived is not None and item.name in archived:
            return attrs.evolve(base, kind="unarchive", update=True, note="name reported archived")
        return attrs.evolve(base, on_name_conflict="unarchive")

    def existing(
        self,
        base: PlanStep,
        row: StateRow | None,
        seg: ActiveSegment,
        *,
        adopt_from: str | None = None,
    ) -> PlanStep:
        fp, old, stale = self.current(seg.id, row)
        read_only = (row is not None and row.read_only) or (
            seg.source is not None and seg.source.upper() not in self.options.api_sources
        )
        self.ids[base.key] = seg.id
        if stale and not read_only:
            self.refresh.append(base.key)
        new_fp = base.new_fingerprint
        kind: StepKind
        note = ""
        if read_only:
            kind = "read_only"
            note = f"made by {seg.source or 'the dashboard'}; the API does not update it"
        elif seg.name != base.name:
            kind = "rename"
        elif new_fp is None or fp is None or new_fp != fp:
            kind = "update"
        else:
            kind = "unchanged"
        return attrs.evolve(
            base,
            kind=kind,
            segment_id=seg.id,
            old_name=seg.name,
            old_fingerprint=fp,
            old_payload=old,
            adopt=row is None or row.key != base.key,
            adopt_from=adopt_from,
            verify=stale and not read_only,
            note=note,
        )


def plan_workspace(
    desired: DesiredSet,
    state: StateSnapshot,
    facts: ServerFacts,
    options: PlanOptions | None = None,
    *,
    now: float,
    quota_history: Mapping[str, Sequence[float]] | None = None,
) -> Plan:
    """Plan the convergence of the workspace to ``desired`` (see the module docstring).

    ``now`` is wall-clock seconds (for ``refresh_after``). ``quota_history`` maps a quota
    group to its recent admissions in seconds relative to now, for ETAs from the quota as it
    is (without it, ETAs are from idle quota, equal to the optimum). Raises
    :class:`~moeseg._workspace.DesiredItemError` for a cycle or a passed cap; the headroom and
    other problems are in the plan (:meth:`Plan.check` raises them).
    """
    options = options or PlanOptions()
    _check_caps(desired, options)
    p = _Planner(desired, state, facts, options, now)
    graph = {i.key: list(i.references) for i in desired.items}
    steps: dict[str, PlanStep] = {}
    for key in dependency_order(graph):
        step = p.step_for(p.desired[key])
        steps[key] = step
        if step.segment_id is not None:  # an unarchive by id keeps it; a create has none
            p.ids.setdefault(key, step.segment_id)
    _name_clashes(p, steps)
    # second pass: after-edges found while walking (a name freed by a rename) reorder steps
    order = dependency_order({k: graph[k] + p.after[k] for k in graph})
    targets = _closure(options.targets, graph) if options.targets is not None else None
    ordered = [steps[k] for k in order if targets is None or k in targets]

    claimed = {s.segment_id for s in steps.values() if s.segment_id is not None}
    claimed_keys = {s.adopt_from for s in steps.values() if s.adopt_from is not None}
    orphans = [
        r.key
        for r in sorted(state.rows.values(), key=lambda r: r.key)
        if r.key not in p.desired
        and r.key not in claimed_keys
        and r.archived_at is None
        and r.segment_id in p.active_by_id
        and r.segment_id not in claimed
        and not r.read_only
        and (targets is None or r.key in targets)
    ]
    archives: list[PlanStep] = []
    if options.prune:
        for key in orphans[: max(0, options.max_archive)]:
            r = state.rows[key]
            name = p.active_by_id[r.segment_id].name
            archives.append(
                PlanStep(
                    "archive",
                    key,
                    name,
                    segment_id=r.segment_id,
                    old_name=name,
                    old_fingerprint=r.fingerprint,
                    new_fingerprint=r.fingerprint,
                )
            )
        orphans = orphans[len(archives) :]
        if orphans:
            p.problems.append(
                f"{len(orphans)} more segments to archive than --max-archive "
                f"{options.max_archive} allows (not archived this time)"
            )
    all_steps = (*archives, *ordered)
    adding = sum(s.kind in ("create", "unarchive") for s in all_steps)
    active_after = len(facts.active) + adding - len(archives)
    if active_after > options.active_limit:
        p.problems.insert(
            0, headroom_problem(len(facts.active), adding, len(archives), options.active_limit)
        )
    refresh = tuple(k for k in order if k in p.refresh and (targets is None or k in targets))
    writes = sum(s.writes for s in all_steps)
    return Plan(
        steps=all_steps,
        fingerprint=plan_fingerprint(desired, state, facts, options),
        options=options,
        refresh=refresh,
        orphans=tuple(orphans),
        problems=tuple(p.problems),
        costs=quota_costs(gets=len(refresh), writes=writes, lists=1, history=quota_history),
        active=len(facts.active),
        active_after=active_after,
        made_at=now,
        desired_digest=desired.digest(),
    )


def _name_clashes(p: _Planner, steps: Mapping[str, PlanStep]) -> None:
    """A rename (or an unarchive under a new name) to a name another active segment holds: after
    that segment's own rename away when a desired key renames it, else a problem."""
    for step in steps.values():
        if step.kind not in ("rename", "unarchive") or step.old_name in (None, step.name):
            continue
        holder = p.active_by_name.get(step.name)
        if holder is None or holder.id == step.segment_id:
            continue
        key = p.owner_of.get(holder.id)
        if key is not None and key in steps and steps[key].name != step.name:
            p.after[step.key].append(key)
            continue
        who = f"managed as key {key!r}" if key is not None else "not managed here"
        p.problems.append(
            f"{step.key}: the name {step.name!r} is held by segment {holder.id} ({who})"
        )


def _closure(targets: frozenset[str], graph: Mapping[str, list[str]]) -> set[str]:
    """The target keys and every key they refer to, transitively."""
    out: set[str] = set()
    stack = list(targets)
    while stack:
        k = stack.pop()
        if k not in out:
            out.add(k)
            stack.extend(graph.get(k, ()))
    return out
