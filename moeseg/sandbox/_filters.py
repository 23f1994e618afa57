"""What the sandbox checks in a filter query beyond its format, and how it echoes filters.

The format itself is checked by the models (``moeseg.from_payload``); this module works on the
request's JSON: names with HTML or only whitespace, nesting depth, referenced segments,
cycles, query length, and MoEngage's echo noise (``"value1": ""``, an empty ``attributes``
group on actions).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["QueryShape", "echo_group", "invalid_name", "measure"]

_HTML = re.compile(r"[<>]")


def invalid_name(name: str) -> bool:
    """MoEngage refuses names with HTML characters or only whitespace."""
    return not name.strip() or _HTML.search(name) is not None


def echo_group(group: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a filter group as MoEngage stores and echoes it."""
    out = copy.deepcopy(dict(group))
    out["filters"] = [_echo_filter(f) for f in out.get("filters", []) if isinstance(f, dict)]
    return out


def _echo_filter(f: dict[str, Any]) -> dict[str, Any]:
    kind = f.get("filter_type")
    if kind == "user_attributes" and "value" in f:
        f.setdefault("value1", "")
    elif kind == "actions":
        f.setdefault("attributes", {"filter_operator": "and", "filters": []})
    elif kind == "nested_filters":
        f["filters"] = [_echo_filter(x) for x in f.get("filters", []) if isinstance(x, dict)]
    return f


class CyclicQuery(Exception):
    """A custom_segments reference leads back to a segment already on the path."""


class UnknownSegment(Exception):
    """A custom_segments filter names an id the workspace does not hold."""

    def __init__(self, segment_id: str) -> None:
        self.segment_id = segment_id
        super().__init__(segment_id)


@attrs.frozen(slots=True)
class QueryShape:
    """Measures of a query expanded through its referenced segments."""

    depth: int
    segments: frozenset[str]
    filters: int


#: Looks up a stored segment's filter groups by id (``None``: no such segment).
Lookup = Callable[[str], "tuple[Mapping[str, Any], ...] | None"]


def measure(
    groups: tuple[Mapping[str, Any], ...], lookup: Lookup, own_id: str | None = None
) -> QueryShape:
    """Depth (a flat query has depth 1; each nested group or referenced segment adds one),
    the set of segments referenced directly or through others, and the number of filters of
    the expanded query. Raises ``CyclicQuery`` or ``UnknownSegment``."""
    path = frozenset({own_id}) if own_id else frozenset()
    seen: set[str] = set()
    depth = 0
    count = 0
    for g in groups:
        d, n = _walk(g, lookup, path, seen)
        depth = max(depth, d)
        count += n
    return QueryShape(depth, frozenset(seen), count)


def _walk(
    group: Mapping[str, Any], lookup: Lookup, path: frozenset[str], seen: set[str]
) -> tuple[int, int]:
    deepest = 0
    count = 0
    filters = group.get("filters")
    for f in filters if isinstance(filters, list) else ():
        if not isinstance(f, Mapping):
            continue
        kind = f.get("filter_type")
        if kind == "nested_filters":
            d, n = _walk(f, lookup, path, seen)
            deepest = max(deepest, d)
            count += n
        elif kind == "custom_segments":
            sid = str(f.get("id", ""))
            if sid in path:
                raise CyclicQuery(sid)
            target = lookup(sid)
            if target is None:
                raise UnknownSegment(sid)
            seen.add(sid)
            d = 0
            for g in target:
                dd, n = _walk(g, lookup, path | {sid}, seen)
                d = max(d, dd)
                count += n
            deepest = max(deepest, d)
        else:
            attributes = f.get("attributes")
            inner = attributes.get("filters", []) if isinstance(attributes, Mapping) else []
            count += 1 + (len(inner) if isinstance(inner, list) else 0)
    return deepest + 1, count
