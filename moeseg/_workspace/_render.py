"""A plan for people: plain text for a terminal, Markdown for a pull-request comment.

Each changed definition is shown as a unified diff of the two ``describe()`` forms, one
condition per line (a line starts at each AND / OR / EXCLUDING), so a review reads what the
segment selects rather than JSON. References are shown by segment id, or ``key:<key>`` for a
segment created in the same apply; display names of referenced segments are left out, as
MoEngage resolves references by id.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Final

from ..segments import describe
from ._desired import copy_json
from ._graph import REFERENCE_FIELD, walk_filters
from ._plan import Plan, PlanStep
from ._quota import QuotaCost

__all__ = ["definition_diff", "format_duration", "render_markdown", "render_text"]

_SYMBOL: Final = {
    "archive": "-",
    "unarchive": "^",
    "create": "+",
    "update": "~",
    "rename": "~",
    "unchanged": "=",
    "read_only": "!",
}
_SPLIT: Final = re.compile(r" (?=(?:AND|OR|EXCLUDING) )")


def format_duration(seconds: float) -> str:
    """``0s``, ``45s``, ``3m 20s``, ``2h 5m``, ``1d 3h``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _for_display(payload: Mapping[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = copy_json(payload)
    for f, _ in walk_filters(out):
        if f.get("filter_type") == "custom_segments" and isinstance(f, dict):
            f.pop("name", None)
            if REFERENCE_FIELD in f:
                ref = f.pop(REFERENCE_FIELD)
                f["id"] = ids.get(ref, f"key:{ref}")
    return out


def _lines(payload: Mapping[str, Any] | None, ids: Mapping[str, str]) -> list[str]:
    if payload is None:
        return ["(not known: not fetched)"]
    try:
        text = describe(_for_display(payload, ids))
    except Exception as exc:  # a server echo describe cannot read: show why, do not fail
        return [f"(cannot describe: {type(exc).__name__})"]
    return _SPLIT.split(text)


def definition_diff(step: PlanStep, ids: Mapping[str, str] | None = None) -> list[str]:
    """Unified diff lines (no trailing newlines) of the step's current and desired definition,
    in the ``describe()`` form; empty when the definition does not change."""
    if step.kind in ("archive", "unchanged") or step.payload is None:
        return []
    if not step.definition_changed or (step.kind == "read_only" and step.old_payload is None):
        return []
    ids = ids or {}
    old = [] if step.kind == "create" else _lines(step.old_payload, ids)
    new = _lines(step.payload, ids)
    before = "(none)" if step.kind == "create" else f"{step.key} (now)"
    return list(difflib.unified_diff(old, new, before, f"{step.key} (desired)", n=2, lineterm=""))


def _known_ids(plan: Plan) -> dict[str, str]:
    return {s.key: s.segment_id for s in plan.steps if s.segment_id is not None}


def _summary(plan: Plan) -> str:
    c = plan.counts()
    return (
        f"{c['create']} to create, {c['update']} to update, {c['rename']} to rename, "
        f"{c['unarchive']} to unarchive, {c['archive']} to archive; "
        f"{c['unchanged']} unchanged, {c['read_only']} read-only"
    )


def _step_line(step: PlanStep) -> str:
    text = f"{step.kind:<9} {step.key}  {step.name!r}"
    renamed = step.old_name is not None and step.old_name != step.name
    if renamed and step.kind in ("rename", "unarchive"):
        text = f"{step.kind:<9} {step.key}  {step.old_name!r} -> {step.name!r}"
    if step.segment_id is not None:
        text += f" (id {step.segment_id})"
    extras = []
    if step.kind == "unarchive" and step.update:
        extras.append("then update")
    if step.adopt:
        extras.append(f"adopt from key {step.adopt_from!r}" if step.adopt_from else "adopt")
    if step.on_name_conflict == "unarchive":
        extras.append("unarchive instead if the name exists archived")
    if step.verify:
        extras.append("not verified lately")
    if step.note:
        extras.append(step.note)
    return text + (f"  [{'; '.join(extras)}]" if extras else "")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _cost_line(c: QuotaCost) -> str:
    windows = ", ".join(f"{limit}/{sec:g} s" for limit, sec in c.windows)
    text = f"{c.group} ({'/'.join(c.operations)}; {windows}): {_n(c.requests, 'request')}, "
    if c.eta_seconds == c.optimum_seconds:
        return text + f"ETA {format_duration(c.eta_seconds)} (the optimum)"
    return text + (
        f"ETA {format_duration(c.eta_seconds)} (optimum from idle quota "
        f"{format_duration(c.optimum_seconds)})"
    )


def render_text(plan: Plan, *, show_unchanged: bool = False) -> str:
    """The plan as plain text: summary, steps in apply order with definition diffs, quota."""
    ids = _known_ids(plan)
    out = [f"Plan: {_summary(plan)}."]
    limit = plan.options.active_limit
    out.append(f"Active segments: {plan.active} -> {plan.active_after} of {limit}.")
    out.append("")
    for step in plan.steps:
        if step.kind == "unchanged" and not show_unchanged:
            continue
        out.append(f"  {_SYMBOL[step.kind]} {_step_line(step)}")
        out += [f"      {line}" for line in definition_diff(step, ids)]
    if plan.empty:
        out.append("  No changes.")
    out.append("")
    if plan.refresh:
        hours = format_duration(plan.options.refresh_after)
        out.append(
            f"Drift check: {_n(len(plan.refresh), 'segment')} not verified within {hours}: "
            "a GET each."
        )
    out.append("Quota:")
    out += [f"  {_cost_line(c)}" for c in plan.costs]
    if plan.orphans:
        keys = ", ".join(plan.orphans[:10]) + (" ..." if len(plan.orphans) > 10 else "")
        out.append(
            f"Not archived: {_n(len(plan.orphans), 'managed segment')} no longer desired ({keys}); "
            "--prune archives them (at most --max-archive)."
        )
    for problem in plan.problems:
        out.append(f"Problem: {problem}")
    return "\n".join(out) + "\n"


def _md(text: str, *, code: bool = False) -> str:
    # a table cell: no pipes, backticks, HTML or line breaks from names a user chose (inside
    # a code span HTML is not read, and entities would show as typed)
    swaps = [("|", "\\|"), ("`", "'"), ("\n", " ")]
    if not code:
        swaps = [("\\", "\\\\"), *swaps, ("<", "&lt;"), (">", "&gt;")]
    for old, new in swaps:
        text = text.replace(old, new)
    return text


def _run_of_backticks(line: str) -> int:
    runs = re.findall(r"`+", line)
    return max(map(len, runs), default=0)


def render_markdown(plan: Plan) -> str:
    """The plan as Markdown fit for a pull-request comment (a table, diffs folded away)."""
    ids = _known_ids(plan)
    out = [f"### moeseg plan: {_summary(plan)}", ""]
    limit = plan.options.active_limit
    out.append(f"Active segments: **{plan.active} → {plan.active_after}** of {limit}.")
    out.append("")
    shown = [s for s in plan.steps if s.kind != "unchanged"]
    if shown:
        out += ["| action | key | name | segment id | notes |", "| --- | --- | --- | --- | --- |"]
        for s in shown:
            name = _md(s.name)
            if s.old_name is not None and s.old_name != s.name:
                name = f"{_md(s.old_name)} → {name}"
            notes = _step_line(s).partition("  [")[2].rstrip("]")
            key = _md(s.key, code=True)
            sid = _md(s.segment_id or "")
            out.append(f"| {s.kind} | `{key}` | {name} | {sid} | {_md(notes)} |")
        out.append("")
    else:
        out += ["No changes.", ""]
    diffs = [(s, definition_diff(s, ids)) for s in shown]
    diffs = [(s, d) for s, d in diffs if d]
    if diffs:
        out += ["<details><summary>Definition changes</summary>", ""]
        for s, d in diffs:
            fence = "`" * max(3, 1 + max(_run_of_backticks(line) for line in d))
            out += [f"`{_md(s.key, code=True)}`", "", f"{fence}diff", *d, fence, ""]
        out += ["</details>", ""]
    out.append("**Quota**")
    out.append("")
    out += [f"- {_cost_line(c)}" for c in plan.costs]
    if plan.refresh:
        out.append(f"- drift check: {_n(len(plan.refresh), 'GET')} (not verified lately)")
    for problem in plan.problems:
        out.append(f"\n> **Problem:** {_md(problem)}")
    if plan.orphans:
        out.append(
            f"\n{len(plan.orphans)} managed segments are no longer desired and stay active "
            "(`--prune` archives them)."
        )
    return "\n".join(out) + "\n"
