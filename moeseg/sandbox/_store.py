"""The segments a sandbox workspace holds, filter and file segments alike."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

__all__ = ["StoredSegment", "WorkspaceStore", "iso_time"]


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
    kind: Literal["filter", "file", "cohort"]
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
    """Segments of one workspace, by id, by name and by definition fingerprint."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredSegment] = {}
        self._by_name: dict[str, StoredSegment] = {}
        self._by_fingerprint: dict[str, set[str]] = {}
        self._active = 0

    def __iter__(self) -> Iterator[StoredSegment]:
        return iter(list(self._by_id.values()))

    def get(self, segment_id: str) -> StoredSegment | None:
        return self._by_id.get(segment_id)

    def by_name(self, name: str) -> StoredSegment | None:
        return self._by_name.get(name)

    def add(self, seg: StoredSegment) -> None:
        self._by_id[seg.id] = seg
        self._by_name[seg.name] = seg
        if seg.fingerprint is not None:
            self._by_fingerprint.setdefault(seg.fingerprint, set()).add(seg.id)
        self._active += not seg.archived

    def rename(self, seg: StoredSegment, name: str) -> None:
        del self._by_name[seg.name]
        seg.name = name
        self._by_name[name] = seg

    def set_fingerprint(self, seg: StoredSegment, fingerprint: str) -> None:
        if seg.fingerprint is not None:
            self._by_fingerprint.get(seg.fingerprint, set()).discard(seg.id)
        seg.fingerprint = fingerprint
        self._by_fingerprint.setdefault(fingerprint, set()).add(seg.id)

    def set_archived(self, seg: StoredSegment, archived: bool) -> None:
        if seg.archived != archived:
            seg.archived = archived
            self._active += -1 if archived else 1

    def active_count(self) -> int:
        """Segments that count toward the active-segment limit (archived ones do not)."""
        return self._active

    def same_definition(self, fingerprint: str, exclude: str | None = None) -> StoredSegment | None:
        """An active filter segment with this definition fingerprint (other than ``exclude``)."""
        for sid in sorted(self._by_fingerprint.get(fingerprint, ())):
            s = self._by_id[sid]
            if not s.archived and s.id != exclude:
                return s
        return None
