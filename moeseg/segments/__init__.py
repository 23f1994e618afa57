"""Segment definitions: models, builder, wire codec, validation, loading, description and
fingerprints.

Nothing here sends a request: this package turns what a user writes into a checked definition
and a wire payload, and reads MoEngage's answers back into typed results. Layers, each importing
only those above it: ``_limits`` and ``_models`` (data) -> ``_validation`` (the rules) ->
``_requests`` (what is sent, checked when built) -> ``_responses`` -> ``_codec`` (cattrs) ->
``_loading``, ``_builder``, ``_describe``, ``_fingerprint``.
"""

from ._builder import AttributeRef as AttributeRef
from ._builder import Condition as Condition
from ._builder import Period as Period
from ._builder import (
    attr,
    days,
    did,
    did_not,
    hours,
    in_segment,
    months,
    segment,
    weeks,
)
from ._codec import from_payload, to_payload
from ._codec import from_update_payload as from_update_payload
from ._describe import describe
from ._fingerprint import fingerprint
from ._limits import Limits
from ._loading import load_definitions, load_payload
from ._models import (
    ActionFilter,
    AffinityFilter,
    AggregationFilter,
    AggregationGroup,
    AttributeFilter,
    AttributeGroup,
    CustomSegmentFilter,
    Execution,
    FilterGroup,
    NestedFilter,
    TimeRange,
)
from ._models import BaseTimeRange as BaseTimeRange
from ._models import Filter as Filter
from ._requests import SegmentDefinition, SegmentUpdate, validate
from ._responses import Segment

__all__ = [
    "ActionFilter",
    "AffinityFilter",
    "AggregationFilter",
    "AggregationGroup",
    "AttributeFilter",
    "AttributeGroup",
    "CustomSegmentFilter",
    "Execution",
    "FilterGroup",
    "Limits",
    "NestedFilter",
    "Segment",
    "SegmentDefinition",
    "SegmentUpdate",
    "TimeRange",
    "attr",
    "days",
    "describe",
    "did",
    "did_not",
    "fingerprint",
    "from_payload",
    "hours",
    "in_segment",
    "load_definitions",
    "load_payload",
    "months",
    "segment",
    "to_payload",
    "validate",
    "weeks",
]

# Importable by moeseg's other packages, not part of the public API (explicit re-exports).
from ._codec import StructureError as StructureError
from ._codec import request_body as request_body
from ._codec import structure as structure
from ._codec import unstructure as unstructure
from ._requests import ArchiveRequest as ArchiveRequest
from ._requests import FileSegmentRequest as FileSegmentRequest
from ._requests import LegacyCsvRequest as LegacyCsvRequest
from ._responses import FileSegmentCallback as FileSegmentCallback
from ._responses import LegacyCsvCallback as LegacyCsvCallback
from ._responses import LegacyCsvResponse as LegacyCsvResponse
from ._responses import SegmentListResponse as SegmentListResponse
from ._responses import SegmentResponse as SegmentResponse
from ._responses import V2AcceptedBody as V2AcceptedBody
from ._responses import V2ErrorBody as V2ErrorBody
from ._responses import V3Error as V3Error
from ._responses import V3ErrorBody as V3ErrorBody
