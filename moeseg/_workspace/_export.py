"""Export: a workspace's segments as desired items with stable keys, and the rows that adopt
them into the state. Pure: the caller lists and GETs (the get quota: one GET per segment).

Keys are stable: a segment the state already knows keeps its key; another gets a slug of its
name (``Buyers in Berlin`` -> ``buyers-in-berlin``), with ``-2``, ``-3``... in id order when two
names give the same slug. A ``custom_segments`` filter that refers to an exported segment is
written with ``segment_key`` (so the files stay valid when ids change); one that refers to a
segment outside the export keeps its ``id``. Segments without a filter definition (file and
cohort segments) are not items: they are listed in ``ExportResult.references`` (use them by id).
Echo noise the server adds (``"value1": ""``, nulls) is dropped; an item that still fails
validation is left out and named in ``ExportResult.invalid``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ._desired import copy_json, parse_desired
from ._errors import DesiredItemError
from ._facts import ActiveSegment, FetchedDefinition
from ._graph import REFERENCE_FIELD, walk_filters
from ._state import StateRow, StateSnapshot

__all__ = ["ExportResult", "dump_desired", "export_keys", "export_workspace"]

_SLUG = re.compile(r"[^a-z0-9]+")


@attrs.frozen(slots=True)
class ExportResult:
    """Desired items (create payloads with ``key``), the state rows that adopt them, segments
    exported as references only (no filter definition), and items left out as invalid."""

    items: tuple[Mapping[str, Any], ...] = attrs.field(eq=False)
    rows: tuple[StateRow, ...] = ()
    references: tuple[ActiveSegment, ...] = ()
    invalid: tuple[tuple[str, str], ...] = ()


def _slug(name: str) -> str:
    return _SLUG.sub("-", name.lower()).strip("-")[:80] or "segment"


def export_keys(segments: Sequence[ActiveSegment], state: StateSnapshot) -> dict[str, str]:
    """The key each segment is exported under, by segment id (see the module docstring)."""
    known = {r.segment_id: r.key for r in state.rows.values()}
    taken = set(known.values())
    out: dict[str, str] = {}
    for seg in sorted(segments, key=lambda s: s.id):
        if seg.id in known:
            out[seg.id] = known[seg.id]
            continue
        base = key = _slug(seg.name)
        n = 1
        while key in taken:
            n += 1
            key = f"{base}-{n}"
        taken.add(key)
        out[seg.id] = key
    return out


def _clean(node: Any) -> Any:
    # the server's echo noise: nulls and an empty value1 say nothing
    if isinstance(node, Mapping):
        return {
            k: _clean(v)
            for k, v in node.items()
            if v is not None and not (k == "value1" and v == "")
        }
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def export_workspace(
    active: Iterable[ActiveSegment],
    definitions: Mapping[str, FetchedDefinition],
    state: StateSnapshot,
) -> ExportResult:
    """Desired items for the active segments whose definitions were fetched, in key order."""
    segments = list(active)
    keys = export_keys(segments, state)
    archived = _archived_twins(segments, definitions, state)
    exported = {s.id for s in segments if s.id in definitions and s.id not in archived}
    items: list[dict[str, Any]] = []
    rows: list[StateRow] = []
    invalid: list[tuple[str, str]] = []
    references = []
    for seg in sorted(segments, key=lambda s: keys[s.id]):
        fetched = definitions.get(seg.id)
        if fetched is None or "included_filters" not in fetched.payload:
            references.append(seg)
            continue
        if seg.id in archived:
            invalid.append((keys[seg.id], f"same definition as {keys[archived[seg.id]]}: {_TWIN}"))
            continue
        body: dict[str, Any] = _clean(copy_json(fetched.payload))
        if not body.get("excluded_filters", {}).get("filters", True):
            body.pop("excluded_filters")
        for f, _ in walk_filters(body):
            if f.get("filter_type") == "custom_segments" and f.get("id") in exported:
                assert isinstance(f, dict)
                f[REFERENCE_FIELD] = keys[f.pop("id")]
                f.pop("name", None)
        item = {"key": keys[seg.id], "name": seg.name, **body}
        try:
            parse_desired([("<export>", [item])], max_references=10**6, max_nesting=10**6)
        except DesiredItemError as exc:
            if "dangling reference" not in exc.rule:  # other items are checked together
                invalid.append((keys[seg.id], exc.rule))
                continue
        items.append(item)
        text = json.dumps(fetched.payload, sort_keys=True, ensure_ascii=False)
        prev = state.rows.get(keys[seg.id])
        read_only = prev is not None and prev.segment_id == seg.id and prev.read_only
        row = StateRow(
            keys[seg.id],
            seg.id,
            seg.name,
            fetched.fingerprint,
            text,
            fetched.fetched_at,
            read_only=read_only,
        )
        rows.append(row)
    return ExportResult(tuple(items), tuple(rows), tuple(references), tuple(invalid))


_TWIN = "archived (MoEngage refuses two equal active definitions; the list shows no status)"


def _archived_twins(
    segments: Sequence[ActiveSegment],
    definitions: Mapping[str, FetchedDefinition],
    state: StateSnapshot,
) -> dict[str, str]:
    """Listed segments that must be archived, each mapped to its active twin.

    MoEngage lists archived segments too, without a status, and refuses two equal active
    definitions: of segments sharing a definition, one at most is active. That one is the
    segment the state manages, else the newest (ids grow with creation time: a later create
    of the same definition only succeeded once the earlier segment was archived).
    """
    managed = {r.segment_id for r in state.rows.values() if r.archived_at is None}
    groups: dict[str, list[str]] = {}
    for seg in segments:
        fetched = definitions.get(seg.id)
        if fetched is not None and "included_filters" in fetched.payload:
            groups.setdefault(fetched.fingerprint, []).append(seg.id)
    out: dict[str, str] = {}
    for ids in groups.values():
        if len(ids) > 1:
            active = max(ids, key=lambda i: (i in managed, len(i), i))
            out |= {i: active for i in ids if i != active}
    return out


def dump_desired(items: Iterable[Mapping[str, Any]]) -> str:
    """Items as YAML documents (``key`` and ``name`` first), readable by :func:`load_desired`."""
    import yaml

    return yaml.safe_dump_all(
        [dict(i) for i in items], sort_keys=False, allow_unicode=True, explicit_start=True
    )
