"""What the sandbox checks in a filter query beyond its format, and how it echoes filters.

The format itself is checked by the models (``moeseg.from_payload``); this module works on the
request's JSON: names with HTML or only whitespace, nesting depth, referenced segments,
cycles, query length, and MoEngage's echo noise (``"value1": ""``, an empty ``attributes``
group on actions).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._state import StoredSegment

__all__ = ["CyclicQuery", "UnknownSegment", "echo_group", "invalid_name", "measure"]

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


Lookup = Callable[[str], "StoredSegment | None"]  # a workspace's segment by id


def measure(
    groups: Iterable[Mapping[str, Any]], lookup: Lookup, own_id: str | None = None
) -> tuple[int, set[str], int]:
    """The depth of a query expanded through its referenced segments (a flat query has depth
    1; each nested group or referenced segment adds one), the segments it references directly
    or through others, and its number of filters. Raises ``CyclicQuery`` or ``UnknownSegment``."""
    seen: set[str] = set()
    depth, count = _walk(groups, lookup, frozenset({own_id} if own_id else ()), seen)
    return depth, seen, count


def _walk(
    groups: Iterable[Mapping[str, Any]], lookup: Lookup, path: frozenset[str], seen: set[str]
) -> tuple[int, int]:
    """The deepest of ``groups`` and their filters in all."""
    deepest = count = 0
    for group in groups:
        depth = 0  # below this group
        filters = group.get("filters")
        for f in filters if isinstance(filters, list) else ():
            if not isinstance(f, Mapping):
                continue
            kind = f.get("filter_type")
            if kind == "nested_filters":
                d, n = _walk((f,), lookup, path, seen)
            elif kind == "custom_segments":
                sid = str(f.get("id", ""))
                if sid in path:
                    raise CyclicQuery(sid)
                target = lookup(sid)
                if target is None:
                    raise UnknownSegment(sid)
                seen.add(sid)
                d, n = _walk(target.groups(), lookup, path | {sid}, seen)
            else:
                attributes = f.get("attributes")
                inner = attributes.get("filters", []) if isinstance(attributes, Mapping) else []
                d, n = 0, 1 + (len(inner) if isinstance(inner, list) else 0)
            depth, count = max(depth, d), count + n
        deepest = max(deepest, depth + 1)
    return deepest, count
