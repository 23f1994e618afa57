"""References between desired items: finding them in a payload, caps, cycles, dependency order.

A desired item refers to another one by key inside a ``custom_segments`` filter, with
``segment_key`` in place of ``id``::

    - filter_type: custom_segments
      segment_key: buyers          # the item whose key is "buyers"; its id is filled in at apply

A filter may carry ``id`` (a segment that is not managed here) or ``segment_key``, not both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

# check_graph, dependency_order and walk_filters are shared with the loader and the planner
__all__ = [
    "DEFAULT_MAX_NESTING",
    "DEFAULT_MAX_REFERENCE_DEPTH",
    "DEFAULT_MAX_REFERENCES",
    "REFERENCE_FIELD",
]

#: the field of a ``custom_segments`` filter that names another item by key
REFERENCE_FIELD: Final = "segment_key"
# MoEngage answers 413 "Query has too many nesting levels" / too many segments referenced, and
# publishes no number: these local caps refuse such definitions before any request. They are
# options of the loader and the planner.
#: at most this many ``custom_segments`` filters in one definition
DEFAULT_MAX_REFERENCES: Final = 10
#: a chain of references between desired items at most this long (a -> b -> c is 2)
DEFAULT_MAX_REFERENCE_DEPTH: Final = 5
#: ``nested_filters`` groups inside each other at most this deep
DEFAULT_MAX_NESTING: Final = 5


def walk_filters(payload: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], int]]:
    """Every filter of the root groups, with its ``nested_filters`` depth (0 at the root)."""
    stack: list[tuple[Any, int]] = []
    for group in ("included_filters", "excluded_filters"):
        g = payload.get(group)
        if isinstance(g, Mapping):
            stack.append((g, 0))
    while stack:
        g, depth = stack.pop()
        filters = g.get("filters")
        if not isinstance(filters, list):
            continue
        for f in filters:
            if not isinstance(f, Mapping):
                continue
            yield f, depth
            if f.get("filter_type") == "nested_filters":
                stack.append((f, depth + 1))


def check_graph(
    references: Mapping[str, Sequence[str]],
    *,
    max_depth: int,
    fail: Callable[[str, str], Exception],
) -> None:
    """Refuse a dangling reference, a cycle, or a reference chain longer than ``max_depth``.

    ``references`` maps each key to the keys it refers to, in a stable order; ``fail(key,
    rule)`` builds the error to raise for the item ``key``.
    """
    for key, refs in references.items():
        for ref in refs:
            if ref not in references:
                raise fail(key, f"dangling reference: segment_key {ref!r} is no desired item")
    depth: dict[str, int] = {}
    for root in references:
        if root in depth:
            continue
        # iterative DFS; ``path`` holds the keys being visited, to name a cycle
        path: list[str] = [root]
        on_path = {root}
        its = [iter(references[root])]
        while its:
            nxt = next(its[-1], None)
            if nxt is None:
                its.pop()
                done = path.pop()
                on_path.discard(done)
                depth[done] = 1 + max((depth[r] for r in references[done]), default=-1)
                if depth[done] > max_depth:
                    raise fail(
                        done,
                        f"reference chain of depth {depth[done]} exceeds the cap of {max_depth}",
                    )
                continue
            ref = nxt
            if ref in on_path:
                cycle = " -> ".join([*path[path.index(ref) :], ref])
                raise fail(ref, f"reference cycle: {cycle}")
            if ref not in depth:
                path.append(ref)
                on_path.add(ref)
                its.append(iter(references[ref]))


def dependency_order(references: Mapping[str, Sequence[str]]) -> list[str]:
    """Keys ordered so that each comes after every key it refers to; otherwise in the mapping's
    order (stable). The graph must be acyclic (:func:`check_graph`)."""
    position = {k: i for i, k in enumerate(references)}
    out: list[str] = []
    placed: set[str] = set()
    for root in sorted(references, key=position.__getitem__):
        if root in placed:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(references[root]))]
        visiting = {root}  # a cycle (refused earlier) must not loop here
        while stack:
            key, it = stack[-1]
            ref = next(it, None)
            if ref is None:
                stack.pop()
                visiting.discard(key)
                placed.add(key)
                out.append(key)
            elif ref not in placed and ref not in visiting and ref in references:
                visiting.add(ref)
                stack.append((ref, iter(references[ref])))
    return out
