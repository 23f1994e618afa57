"""A plan as JSON (``plan --json`` and ``plan --out PLAN``), and the staleness check.

The schema (``format: "moeseg-workspace-plan"``, ``version: 1``); keys are never removed or
renamed within a version, new optional keys may be added::

    {
      "format": "moeseg-workspace-plan", "version": 1,
      "fingerprint": "<sha256 of desired items, state rows, active list, options>",
      "made_at": <wall-clock seconds>,
      "desired_digest": "<sha256 of the desired items>",
      "options": {"prune", "max_archive", "refresh_after", "active_limit", "max_references",
                  "max_reference_depth", "max_nesting", "targets": [..] | null,
                  "api_sources": [..]},
      "summary": {"create": n, "update": n, "rename": n, "unarchive": n, "archive": n,
                  "unchanged": n, "read_only": n},
      "active": n, "active_after": n,
      "refresh": [keys whose drift check needs a GET],
      "orphans": [managed keys no longer desired and not archived by this plan],
      "problems": [sentences; apply refuses while there is one],
      "quota": [{"group", "operations": [..], "requests", "eta_seconds", "optimum_seconds",
                 "windows": [[limit, seconds], ..]}],
      "steps": [{"kind", "key", "name", "segment_id", "old_name", "old_fingerprint",
                 "new_fingerprint", "definition_changed", "update", "adopt", "adopt_from",
                 "on_name_conflict", "verify", "note", "references": [..],
                 "payload": {..} | null, "old_payload": {..} | null}]   (in apply order)
    }
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

from ._desired import DesiredSet
from ._errors import PlanFileError, StalePlan
from ._facts import PlanOptions, ServerFacts
from ._plan import Plan, PlanStep, plan_fingerprint
from ._quota import QuotaCost
from ._state import StateSnapshot

__all__ = [
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "check_fresh",
    "load_plan",
    "plan_from_json",
    "plan_to_json",
    "save_plan",
]

PLAN_FORMAT: Final = "moeseg-workspace-plan"
PLAN_VERSION: Final = 1
_STEP_FIELDS: Final = (
    "kind",
    "key",
    "name",
    "segment_id",
    "old_name",
    "old_fingerprint",
    "new_fingerprint",
    "update",
    "adopt",
    "adopt_from",
    "on_name_conflict",
    "verify",
    "note",
)


def _step(step: PlanStep) -> dict[str, Any]:
    out = {f: getattr(step, f) for f in _STEP_FIELDS}
    out["definition_changed"] = step.definition_changed
    out["references"] = list(step.references)
    out["payload"] = dict(step.payload) if step.payload is not None else None
    out["old_payload"] = dict(step.old_payload) if step.old_payload is not None else None
    return out


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan in the documented JSON schema (see the module docstring)."""
    o = plan.options
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "fingerprint": plan.fingerprint,
        "made_at": plan.made_at,
        "desired_digest": plan.desired_digest,
        "options": {
            "prune": o.prune,
            "max_archive": o.max_archive,
            "refresh_after": o.refresh_after,
            "active_limit": o.active_limit,
            "max_references": o.max_references,
            "max_reference_depth": o.max_reference_depth,
            "max_nesting": o.max_nesting,
            "targets": sorted(o.targets) if o.targets is not None else None,
            "api_sources": sorted(o.api_sources),
        },
        "summary": plan.counts(),
        "active": plan.active,
        "active_after": plan.active_after,
        "refresh": list(plan.refresh),
        "orphans": list(plan.orphans),
        "problems": list(plan.problems),
        "quota": [
            {
                "group": c.group,
                "operations": list(c.operations),
                "requests": c.requests,
                "eta_seconds": c.eta_seconds,
                "optimum_seconds": c.optimum_seconds,
                "windows": [list(w) for w in c.windows],
            }
            for c in plan.costs
        ],
        "steps": [_step(s) for s in plan.steps],
    }


def plan_from_json(data: Any, *, source: str = "<json>") -> Plan:
    """Read a plan written by :func:`plan_to_json`; :class:`PlanFileError` if it is not one."""
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError(source, f"not a moeseg plan (format {PLAN_FORMAT!r} expected)")
    if data.get("version") != PLAN_VERSION:
        raise PlanFileError(
            source, f"plan version {data.get('version')!r}, this moeseg reads {PLAN_VERSION}"
        )
    try:
        o = data["options"]
        targets = o["targets"]
        options = PlanOptions(
            prune=bool(o["prune"]),
            max_archive=int(o["max_archive"]),
            refresh_after=float(o["refresh_after"]),
            active_limit=int(o["active_limit"]),
            max_references=int(o["max_references"]),
            max_reference_depth=int(o["max_reference_depth"]),
            max_nesting=int(o["max_nesting"]),
            targets=frozenset(targets) if targets is not None else None,
            api_sources=frozenset(o["api_sources"]),
        )
        steps = tuple(
            PlanStep(
                **{f: s[f] for f in _STEP_FIELDS},
                references=tuple(s["references"]),
                payload=s["payload"],
                old_payload=s["old_payload"],
            )
            for s in data["steps"]
        )
        costs = tuple(
            QuotaCost(
                c["group"],
                tuple(c["operations"]),
                int(c["requests"]),
                float(c["eta_seconds"]),
                tuple((int(w[0]), float(w[1])) for w in c["windows"]),
                float(c["optimum_seconds"]),
            )
            for c in data["quota"]
        )
        return Plan(
            steps=steps,
            fingerprint=str(data["fingerprint"]),
            options=options,
            refresh=tuple(data["refresh"]),
            orphans=tuple(data["orphans"]),
            problems=tuple(data["problems"]),
            costs=costs,
            active=int(data["active"]),
            active_after=int(data["active_after"]),
            made_at=float(data["made_at"]),
            desired_digest=str(data["desired_digest"]),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PlanFileError(source, f"malformed plan: {type(exc).__name__}: {exc}") from None


def save_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` as JSON to ``path`` (atomically: a temporary file, then a rename)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    text = json.dumps(plan_to_json(plan), indent=2, sort_keys=True, ensure_ascii=False)
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a plan saved by :func:`save_plan` (:class:`PlanFileError` if it is not one)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PlanFileError(str(path), f"cannot read: {exc}") from None
    return plan_from_json(data, source=str(path))


def check_fresh(
    plan: Plan, state: StateSnapshot, facts: ServerFacts, desired: DesiredSet | None = None
) -> None:
    """Raise :class:`StalePlan` unless ``plan`` was made from this state and these server facts
    (and these desired items; without them, the ones the plan recorded), with its options."""
    current = plan_fingerprint(
        desired if desired is not None else plan.desired_digest, state, facts, plan.options
    )
    if current != plan.fingerprint:
        raise StalePlan(plan.fingerprint, current)
