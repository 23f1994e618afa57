"""A canonical hash of what a segment selects, ignoring its name and the server's echo noise.

Used to recognise a created segment as ours after an unknown outcome (exactly-once creation) and
to find duplicates inside a batch. Two definitions get the same fingerprint when they differ only
in:

- the order of members of an and/or group (root, nested, action attributes, object sub-filters)
  or of an ``in``-style list (duplicates in such a list count once);
- echo noise: ``"value1": ""``, an empty action ``attributes`` group, flags left at their default
  false (``negate``, ``case_sensitive``, ``is_dynamic_value``), an empty ``excluded_filters``,
  integral floats (``18.0`` is ``18``), a scalar the server returns for a one-element ``in`` list;
- display labels: a user attribute's ``category`` and a referenced segment's ``name`` (MoEngage
  resolves attributes by name and segments by id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ._codec import to_payload, unstructure
from ._models import FilterGroup
from ._requests import SegmentDefinition, SegmentUpdate
from ._responses import Segment
from ._validation import LIST_OPERATORS

__all__ = ["fingerprint"]

_DEFAULT_FALSE = ("negate", "case_sensitive", "is_dynamic_value")
_LABELS = ("category",)


def fingerprint(
    defn: SegmentDefinition | SegmentUpdate | Segment | FilterGroup | Mapping[str, Any],
) -> str:
    """Hex SHA-256 of the canonical form of ``defn``'s filters (the name is not part of it).

    Accepts a definition, a segment returned by the API, or a request-shaped payload (a mapping
    with ``included_filters`` and optionally ``excluded_filters``; read as is, not validated).
    """
    if isinstance(defn, (SegmentDefinition, SegmentUpdate)):
        payload: Mapping[str, Any] = to_payload(defn)
    elif isinstance(defn, Segment):
        payload = {
            "included_filters": unstructure(defn.included_filters),
            "excluded_filters": unstructure(defn.excluded_filters),
        }
    elif isinstance(defn, FilterGroup):
        payload = {"included_filters": unstructure(defn)}
    else:
        payload = defn
    canon = {
        "included": _group(payload.get("included_filters")),
        "excluded": _group(payload.get("excluded_filters")),
    }
    return hashlib.sha256(_key(canon).encode()).hexdigest()


def _key(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _number(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _group(g: Any) -> Any:
    """Canonical group: members canonicalised and sorted; None for an absent or empty group."""
    if not isinstance(g, Mapping):
        return None
    members = [_node(f) for f in g.get("filters") or ()]
    if not members:
        return None
    return {"op": g.get("filter_operator"), "filters": sorted(members, key=_key)}


def _node(node: Any) -> Any:
    if not isinstance(node, Mapping):
        return _number(node)
    out: dict[str, Any] = {}
    for k, v in node.items():
        if v is None or (k in _DEFAULT_FALSE and v is False) or k in _LABELS:
            continue  # absent, a default, or a label: echo noise
        if k == "value1" and v == "":
            continue
        if k in ("attributes", "psychographic_attributes", "aggregation_attributes"):
            g = _group(v)
            if g is not None:
                out[k] = g
        elif k == "filters" and "filter_operator" in node:
            out[k] = sorted((_node(f) for f in v or ()), key=_key)
        elif isinstance(v, Mapping):
            out[k] = _node(v)
        elif isinstance(v, (list, tuple)):
            out[k] = [_number(x) for x in v]
        else:
            out[k] = _number(v)
    if node.get("filter_type") == "custom_segments":
        out.pop("name", None)
    value = out.get("value")
    if node.get("operator") in LIST_OPERATORS and value is not None and not isinstance(value, list):
        value = out["value"] = [value]
    if isinstance(value, list):
        # in-style lists are sets: order and repetition do not change who is selected
        out["value"] = sorted({_key(x): x for x in value}.values(), key=_key)
    return out
