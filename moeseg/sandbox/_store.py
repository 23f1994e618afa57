"""The segments a sandbox workspace holds, filter and file segments alike."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

__all__ = ["SegmentKind", "StoredSegment", "WorkspaceStore", "iso_time"]

SegmentKind = Literal["filter", "file", "cohort"]


def iso_time(epoch: float) -> str:
    """MoEngage's timestamp form: ``2022-12-20T06:21:44.112000`` (UTC, no zone suffix)."""
    return (
        _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
        .replace(tzinfo=None)
        .isoformat(timespec="microseconds")
    )


@attrs.define(slots=True)
class StoredSegment:
    """One segment. ``included_filters`` / ``excluded_filters`` are stored as echoed;
    ``fingerprint`` (filter segments) detects duplicate definitions; ``users`` (file
    and Cohort Sync segments) holds the identifiers of the users in the segment; ``cohort_id``
    is a Cohort Sync segment's key. ``source`` is ``"API"`` for
    segments made through the API; others (made on the dashboard, see
    ``Sandbox.seed_segment``) are read-only to the API. ``updated_by``: the email the last
    update named (never echoed: MoEngage's answers do not carry it)."""

    id: str
    name: str
    kind: SegmentKind
    created: float
    updated: float
    description: str = ""
    included_filters: dict[str, Any] | None = None
    excluded_filters: dict[str, Any] | None = None
    fingerprint: str | None = None
    archived: bool = False
    attribute_name: str | None = None
    users: set[str] = attrs.field(factory=set)
    source: str = "API"
    updated_by: str | None = None
    cohort_id: str | None = None

    @property
    def type(self) -> str:
        """The ``type`` field of responses."""
        return "ELASTIC_SEARCH" if self.kind == "filter" else "FILE"  # a cohort too: a uid list

    def groups(self) -> tuple[Mapping[str, Any], ...]:
        """The filter groups of the definition (none for a file segment)."""
        return tuple(g for g in (self.included_filters, self.excluded_filters) if g is not None)

    def summary(self) -> dict[str, Any]:
        """The list-item form."""
        return {
            "name": self.name,
            "id": self.id,
            "created_time": iso_time(self.created),
            "type": self.type,
            "source": self.source,
        }

    def data(self) -> dict[str, Any]:
        """The full ``data`` object of get/create/update."""
        out: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "created_time": iso_time(self.created),
            "updated_time": iso_time(self.updated),
            "type": self.type,
            "source": self.source,
            "description": self.description,
        }
        if self.included_filters is not None:
            out["included_filters"] = self.included_filters
        if self.excluded_filters is not None:
            out["excluded_filters"] = self.excluded_filters
        return out


class WorkspaceStore:
    """Segments of one workspace, by id. (A sandbox holds hundreds of segments at most, so the
    other look-ups scan.)"""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredSegment] = {}

    def __iter__(self) -> Iterator[StoredSegment]:
        return iter(list(self._by_id.values()))

    def get(self, segment_id: str) -> StoredSegment | None:
        return self._by_id.get(segment_id)

    def by_name(self, name: str) -> StoredSegment | None:
        return next((s for s in self._by_id.values() if s.name == name), None)

    def add(self, seg: StoredSegment) -> None:
        self._by_id[seg.id] = seg

    def active_count(self) -> int:
        """Segments that count toward the active-segment limit (archived ones do not)."""
        return sum(not s.archived for s in self._by_id.values())

    def same_definition(self, fingerprint: str, exclude: str | None = None) -> StoredSegment | None:
        """An active filter segment with this definition fingerprint (other than ``exclude``)."""
        same = (s for s in self if s.fingerprint == fingerprint and not s.archived)
        return min((s for s in same if s.id != exclude), key=lambda s: s.id, default=None)
