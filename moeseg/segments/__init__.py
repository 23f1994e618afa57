"""Segment definitions: models, builder, wire codec, validation, description and fingerprints.

Nothing here sends a request: this package turns what a user writes into a checked definition
and a wire payload, and reads MoEngage's answers back into typed results.
"""

from ._builder import (
    AttributeRef,
    Condition,
    Period,
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
from ._converter import from_payload, from_update_payload, load_payload, to_payload
from ._describe import describe
from ._fingerprint import fingerprint
from ._models import (
    ActionFilter,
    AffinityFilter,
    AggregationFilter,
    AggregationGroup,
    AttributeFilter,
    AttributeGroup,
    BaseTimeRange,
    CustomSegmentFilter,
    Execution,
    Filter,
    FilterGroup,
    NestedFilter,
    SegmentDefinition,
    SegmentUpdate,
    TimeRange,
)
from ._responses import Segment
from ._validation import validate

__all__ = [
    "ActionFilter",
    "AffinityFilter",
    "AggregationFilter",
    "AggregationGroup",
    "AttributeFilter",
    "AttributeGroup",
    "AttributeRef",
    "BaseTimeRange",
    "Condition",
    "CustomSegmentFilter",
    "Execution",
    "Filter",
    "FilterGroup",
    "NestedFilter",
    "Period",
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
    "from_update_payload",
    "hours",
    "in_segment",
    "load_payload",
    "months",
    "segment",
    "to_payload",
    "validate",
    "weeks",
]

# Importable by moeseg's other packages, not part of the public API (explicit re-exports).
from ._converter import StructureError as StructureError
from ._converter import _yaml_12_loader as _yaml_12_loader
from ._converter import structure as structure
from ._converter import unstructure as unstructure
from ._models import ArchiveRequest as ArchiveRequest
from ._models import FileSegmentRequest as FileSegmentRequest
from ._models import LegacyCsvRequest as LegacyCsvRequest
from ._responses import FileSegmentCallback as FileSegmentCallback
from ._responses import LegacyCsvCallback as LegacyCsvCallback
from ._responses import LegacyCsvResponse as LegacyCsvResponse
from ._responses import SegmentListResponse as SegmentListResponse
from ._responses import SegmentResponse as SegmentResponse
from ._responses import V2AcceptedBody as V2AcceptedBody
from ._responses import V2ErrorBody as V2ErrorBody
from ._responses import V3Error as V3Error
from ._responses import V3ErrorBody as V3ErrorBody
