"""Bodies MoEngage sends back (and the callback bodies it posts), as frozen attrs classes.

Read leniently through the converter's ``structure``: unknown fields are ignored (MoEngage adds
fields), almost everything is optional, and a segment's filters are not validated (the server
echoes noise such as ``"value1": ""`` or a scalar where a list was sent).
"""

from __future__ import annotations

import attrs

from ._models import FilterGroup

__all__ = [
    "FileSegmentCallback",
    "LegacyCsvCallback",
    "LegacyCsvResponse",
    "Segment",
    "SegmentListResponse",
    "SegmentResponse",
    "V2AcceptedBody",
    "V2ErrorBody",
    "V3Error",
    "V3ErrorBody",
]


@attrs.frozen(slots=True)
class Segment:
    """A segment as MoEngage returns it (create, get, update, and each item of a list).

    List items carry only ``name``, ``id``, ``created_time``, ``type`` and ``source``.
    ``recovered`` is never on the wire: the client sets it (``attrs.evolve``) when exactly-once
    recovery found the segment after an unknown outcome.
    """

    id: str
    name: str
    created_time: str | None = None
    updated_time: str | None = None
    type: str | None = None
    source: str | None = None
    description: str | None = None
    included_filters: FilterGroup | None = None
    excluded_filters: FilterGroup | None = None
    recovered: bool = False


@attrs.frozen(slots=True)
class SegmentResponse:
    """Envelope of a v3 success with one segment: ``{data, response_id, type}``."""

    data: Segment
    response_id: str | None = None
    type: str | None = None


@attrs.frozen(slots=True)
class SegmentListResponse:
    """Envelope of a v3 list: ``{data: [...], response_id, type}``."""

    data: tuple[Segment, ...] = ()
    response_id: str | None = None
    type: str | None = None


@attrs.frozen(slots=True)
class V3Error:
    """The ``error`` object of a v3 error body; the optional fields come with 409 and 429."""

    code: str | None = None
    message: str | None = None
    existing_cs_id: str | None = None
    existing_cs_name: str | None = None
    actual_count: int | None = None
    limit: int | None = None


@attrs.frozen(slots=True)
class V3ErrorBody:
    """A v3 error: ``{response_id, type, error: {code, message, ...}}``."""

    error: V3Error
    response_id: str | None = None
    type: str | None = None


@attrs.frozen(slots=True)
class V2ErrorBody:
    """A v2 (file segment, archive) error: ``{title, description}``."""

    title: str | None = None
    description: str | None = None


@attrs.frozen(slots=True)
class V2AcceptedBody:
    """A v2 success: file-segment request accepted (202), archive/unarchive done (200).

    ``recovered`` is never on the wire: the client sets it when a file-segment create whose
    outcome was unknown is found to have succeeded (exactly-once).
    """

    message: str | None = None
    success: bool | None = None
    cs_name: str | None = None
    cs_id: str | None = None
    recovered: bool = False


@attrs.frozen(slots=True)
class FileSegmentCallback:
    """What MoEngage posts to ``callback_url`` when a file segment has been processed."""

    status: int
    db_name: str | None = None
    segment_name: str | None = None
    request_id: str | None = None
    values_found: int | None = None
    values_processed: int | None = None
    user_count: int | None = None
    error_message: str | None = None


@attrs.frozen(slots=True)
class LegacyCsvResponse:
    """The immediate answer of the deprecated ``POST /csv_segment``."""

    status: int
    request_id: str | None = None
    segment_name: str | None = None
    error_message: str | None = None


@attrs.frozen(slots=True)
class LegacyCsvCallback:
    """What the deprecated CSV API posts to its ``callback`` URL."""

    status: int
    request_id: str | None = None
    segment_name: str | None = None
    values_found: int | None = None
    values_processed: int | None = None
    user_count: int | None = None
    error_message: str | None = None
