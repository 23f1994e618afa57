"""What the planner is given besides the desired items and the state: the server's facts
(the active list, definitions fetched by GET, archived names) and the planning options."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ..segments import Segment, fingerprint, unstructure
from ._graph import DEFAULT_MAX_NESTING, DEFAULT_MAX_REFERENCE_DEPTH, DEFAULT_MAX_REFERENCES

__all__ = ["ACTIVE_LIMIT", "ActiveSegment", "FetchedDefinition", "PlanOptions", "ServerFacts"]

ACTIVE_LIMIT: Final = 1000
DAY: Final = 86400.0


@attrs.frozen(slots=True)
class ActiveSegment:
    """One item of the server's list of active segments."""

    id: str
    name: str
    type: str | None = None
    source: str | None = None


@attrs.frozen(slots=True)
class FetchedDefinition:
    """A segment's definition read by GET at ``fetched_at`` (wall-clock seconds).

    ``payload`` holds ``included_filters`` (and ``excluded_filters``) as the server sent them.
    """

    segment_id: str
    payload: Mapping[str, Any] = attrs.field(eq=False, hash=False, repr=False)
    fetched_at: float = 0.0

    @property
    def fingerprint(self) -> str:
        """The definition's fingerprint (echo noise normalized)."""
        return fingerprint(self.payload)

    @classmethod
    def from_segment(cls, segment: Segment, fetched_at: float) -> FetchedDefinition:
        """The definition of a segment the client's GET returned."""
        payload: dict[str, Any] = {}
        if segment.included_filters is not None:
            payload["included_filters"] = unstructure(segment.included_filters)
        if segment.excluded_filters is not None:
            payload["excluded_filters"] = unstructure(segment.excluded_filters)
        return cls(segment.id, payload, fetched_at)


@attrs.frozen(slots=True)
class ServerFacts:
    """What the server said: the active list, some fetched definitions, archived names."""

    active: tuple[ActiveSegment, ...] = ()
    definitions: Mapping[str, FetchedDefinition] = attrs.field(factory=dict, eq=False, hash=False)
    archived_names: frozenset[str] | None = None

    @classmethod
    def from_segments(
        cls,
        active: Iterable[Segment],
        fetched: Iterable[FetchedDefinition] = (),
        archived_names: Iterable[str] | None = None,
    ) -> ServerFacts:
        """Facts from the client's list (its ``Segment`` items) and the GETs made."""
        return cls(
            tuple(ActiveSegment(s.id, s.name, s.type, s.source) for s in active),
            {d.segment_id: d for d in fetched},
            frozenset(archived_names) if archived_names is not None else None,
        )


@attrs.frozen(slots=True)
class PlanOptions:
    """How to plan: prune (archive managed keys no longer desired, at most ``max_archive``),
    drift refresh age, the active limit, local reference caps, and optional target keys."""

    prune: bool = False
    max_archive: int = 10
    refresh_after: float = DAY
    active_limit: int = ACTIVE_LIMIT
    max_references: int = DEFAULT_MAX_REFERENCES
    max_reference_depth: int = DEFAULT_MAX_REFERENCE_DEPTH
    max_nesting: int = DEFAULT_MAX_NESTING
    targets: frozenset[str] | None = None
    api_sources: frozenset[str] = frozenset({"API"})

    def identity(self) -> dict[str, Any]:
        """The options that change what apply does (part of the plan fingerprint)."""
        return {
            "prune": self.prune,
            "max_archive": self.max_archive,
            "active_limit": self.active_limit,
            "targets": sorted(self.targets) if self.targets is not None else None,
        }
