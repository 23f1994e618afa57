"""The v3 filter-segment routes: create, list, get, update (one plain function each)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import Limits, SegmentDefinition, describe, fingerprint, from_payload
from .._exceptions import SegmentValidationError
from ._answers import Answer, Call, active_limited, error, json_object, ok
from ._bodies import V3
from ._filters import CyclicQuery, UnknownSegment, echo_group, invalid_name, measure
from ._state import SandboxState, StoredSegment, WorkspaceStore

__all__ = ["create", "get", "list_segments", "seed", "update"]

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def create(sb: SandboxState, call: Call) -> Answer:
    """``POST /v3/custom-segments``."""
    data = json_object(call.body)
    if data is None:
        return error(call, 400, V3.INVALID_FORMAT, "invalid_format")
    payload = _payload(call, data.get("name"), data)
    if isinstance(payload, Answer):
        return payload
    definition = _definition(sb, call, payload, None)
    if isinstance(definition, Answer):
        return definition
    if limited := active_limited(sb, call):
        return limited
    seg = _add(sb, sb.store(call.workspace), payload, definition, "API")
    return ok(call, 201, seg.data(), "created")


def seed(
    sb: SandboxState, payload: Mapping[str, Any], source: str, archived: bool, workspace_id: str
) -> StoredSegment:
    """``Sandbox.seed_segment``: store a segment without a request (``ValueError`` when its
    name or its definition is taken)."""
    definition = from_payload(payload)
    store = sb.stores[workspace_id]
    if store.by_name(payload["name"]) is not None:
        raise ValueError(f"a segment is already called {payload['name']!r}")
    if store.same_definition(fingerprint(definition)) is not None:
        raise ValueError(f"another segment has the definition of {payload['name']!r}")
    seg = _add(sb, store, payload, definition, source)
    seg.archived = archived
    return seg


def _add(
    sb: SandboxState,
    store: WorkspaceStore,
    payload: Mapping[str, Any],
    definition: SegmentDefinition,
    source: str,
) -> StoredSegment:
    seg = sb.new_segment(store, payload["name"], "filter", source=source)
    _define(seg, payload, definition)
    return seg


def _define(seg: StoredSegment, payload: Mapping[str, Any], definition: SegmentDefinition) -> None:
    """Hold the definition in ``payload``, as MoEngage echoes it."""
    excluded = payload.get("excluded_filters")
    seg.included_filters = echo_group(payload["included_filters"])
    seg.excluded_filters = echo_group(excluded) if excluded is not None else None
    seg.description = describe(definition)
    seg.fingerprint = fingerprint(definition)


def list_segments(sb: SandboxState, call: Call) -> Answer:
    """``GET /v3/custom-segments[?name=]``."""
    names = call.query.get("name")
    wanted = names[0] if names else None
    store = sb.store(call.workspace)
    items = [s.summary() for s in store if wanted is None or s.name == wanted]
    return ok(call, 200, items, "listed")


def get(sb: SandboxState, call: Call) -> Answer:
    """``GET /v3/custom-segments/{id}``."""
    seg = _segment(sb, call)
    return seg if isinstance(seg, Answer) else ok(call, 200, seg.data(), "found")


def update(sb: SandboxState, call: Call) -> Answer:
    """``PATCH /v3/custom-segments/{id}``: filter segments made through the API, not archived.
    ``updated_by``, when given, must be an email."""
    seg = _segment(sb, call)
    if isinstance(seg, Answer):
        return seg
    if seg.kind != "filter" or seg.archived or seg.source != "API":
        return error(call, 403, V3.FORBIDDEN, "forbidden")
    data = json_object(call.body)
    if data is None:
        return error(call, 400, V3.INVALID_FORMAT, "invalid_format")
    updated_by = data.get("updated_by")
    if updated_by is not None and not (
        isinstance(updated_by, str) and _EMAIL.fullmatch(updated_by)
    ):
        return error(call, 400, V3.INVALID_FORMAT, "invalid_format", "updated_by")
    payload = _payload(call, data.get("name", seg.name), data)
    if isinstance(payload, Answer):
        return payload
    definition = _definition(sb, call, payload, seg.id)
    if isinstance(definition, Answer):
        return definition
    seg.name = payload["name"]
    _define(seg, payload, definition)
    seg.updated = sb.epoch()
    if updated_by is not None:
        seg.updated_by = updated_by
    return ok(call, 200, seg.data(), "updated")


def _segment(sb: SandboxState, call: Call) -> StoredSegment | Answer:
    sid = call.params["id"]
    if not _OBJECT_ID.fullmatch(sid):
        return error(call, 400, V3.INVALID_ID, "invalid_id")
    seg = sb.store(call.workspace).get(sid)
    if seg is None:
        return error(call, 404, V3.not_found(sid), "not_found")
    return seg


def _payload(call: Call, name: Any, data: dict[str, Any]) -> dict[str, Any] | Answer:
    included, excluded = data.get("included_filters"), data.get("excluded_filters")
    if not (isinstance(name, str) and isinstance(included, dict)):
        return error(call, 400, V3.INVALID_FORMAT, "invalid_format")
    if not isinstance(excluded, dict | None):
        return error(call, 400, V3.INVALID_FORMAT, "invalid_format")
    if invalid_name(name):
        return error(call, 400, V3.INVALID_NAME, "invalid_name")
    payload = {"name": name, "included_filters": included}
    return payload if excluded is None else {**payload, "excluded_filters": excluded}


def _definition(
    sb: SandboxState, call: Call, payload: dict[str, Any], own_id: str | None
) -> SegmentDefinition | Answer:
    """Validate, check the name, the query's shape, and look for a duplicate definition."""
    try:
        try:
            definition = from_payload(payload, limits=_reading_limits(sb))
        except SegmentValidationError as exc:
            # A query past the sandbox's size limits is a 413 even when the models refuse to
            # read it (their caps bound the work of reading, at ten times the sandbox's limits).
            too_big = _query_problem(sb, call, payload, own_id)
            if too_big is not None and too_big.status == 413:
                return too_big
            return error(call, 400, V3.INVALID_NAME, "invalid_filters", str(exc))
    except RecursionError:  # nested far beyond any limit: refused as too deep, never a crash
        return error(call, 413, V3.too_deep(sb.config.max_nesting), "too_deep")
    store = sb.store(call.workspace)
    other = store.by_name(payload["name"])
    if other is not None and other.id != own_id:
        return error(call, 409, V3.name_exists(payload["name"]), "name_conflict")
    problem = _query_problem(sb, call, payload, own_id)
    if problem is not None:
        return problem
    same = store.same_definition(fingerprint(definition), exclude=own_id)
    if same is not None:
        what = V3.filters_exist(same.name)
        cause = "definition_conflict"
        return error(call, 409, what, cause, existing_cs_name=same.name, existing_cs_id=same.id)
    return definition


def _reading_limits(sb: SandboxState) -> Limits:
    """Caps for reading a request, ten times the 413 limits the sandbox enforces itself."""
    c = sb.config
    return Limits(
        max_depth=10 * c.max_nesting,
        max_segment_refs=10 * c.max_segments_per_query,
        max_filters=10 * c.max_filters_per_query,
    )


def _query_problem(
    sb: SandboxState, call: Call, data: dict[str, Any], own_id: str | None
) -> Answer | None:
    """412 / 413 / unknown referenced segment, for the query in ``data``."""
    groups = [
        g for g in (data.get("included_filters"), data.get("excluded_filters")) if g is not None
    ]
    try:
        depth, segments, filters = measure(groups, sb.store(call.workspace).get, own_id)
    except CyclicQuery as exc:
        return error(call, 412, V3.CYCLIC, "cyclic", f"through {exc}")
    except UnknownSegment as exc:
        return error(call, 400, V3.INVALID_NAME, "unknown_segment", f"no segment {exc}")
    cfg = sb.config
    if depth > cfg.max_nesting:
        return error(call, 413, V3.too_deep(cfg.max_nesting), "too_deep")
    if len(segments) > cfg.max_segments_per_query:
        what = V3.too_many_segments(cfg.max_segments_per_query)
        return error(call, 413, what, "too_many_segments")
    if filters > cfg.max_filters_per_query:
        return error(call, 413, V3.QUERY_TOO_LONG, "too_long")
    return None
