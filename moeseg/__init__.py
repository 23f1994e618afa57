"""Async client for MoEngage custom-segment APIs, built around an exact multi-window quota
governor.

The layers, each using only the ones above it::

    moeseg.segments     what a segment is: models, builder, codec, validation, fingerprint
          |
    moeseg.governor     when a call may go: exact sliding-window quotas, shared per workspace
          |
    moeseg.client       how a call goes: HTTP, retries, typed errors, exactly-once creates
          |
    moeseg.batch        many creates (plan, journal)    moeseg.files  file segments, callbacks
          |
    moeseg.cli          the ``moeseg`` command

    moeseg.sandbox      a strict local MoEngage stand-in, beside them all (tests, demos, CI)

One call flows one way::

    definition -> validate -> unstructure -> governor -> transport -> structure
        -> result, or a typed error (never a raw exception)

Every error is a :class:`MoesegError` (the tree is in ``moeseg._exceptions``).
"""

from __future__ import annotations

import warnings
from typing import Any

from ._exceptions import (
    ActiveSegmentLimit,
    APIError,
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    Conflict,
    DefinitionConflict,
    MoesegError,
    NameConflict,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    QuotaWaitTooLong,
    RateLimited,
    SegmentValidationError,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from ._exceptions import ConnectError as ConnectError
from ._exceptions import ConnectionLost as ConnectionLost
from ._exceptions import CyclicReference as CyclicReference
from ._exceptions import QueryTooComplex as QueryTooComplex
from ._exceptions import RequestTimeout as RequestTimeout
from ._exceptions import ResponseTooLarge as ResponseTooLarge
from ._exceptions import ValidationIssue as ValidationIssue
from ._telemetry import Observer, OpenTelemetryObserver
from ._version import package_version as package_version
from .batch import (
    Batch,
    BatchProgress,
    Journal,
    Outcome,
    OutcomeKind,
    create_many,
    load_definitions,
    plan_batch,
)
from .batch import BatchPlan as BatchPlan
from .batch import JournalEntry as JournalEntry
from .batch import JournalState as JournalState
from .client import Client, FileOptions, SyncClient
from .segments import (
    ActionFilter,
    AffinityFilter,
    AggregationFilter,
    AggregationGroup,
    AttributeFilter,
    AttributeGroup,
    CustomSegmentFilter,
    Execution,
    FilterGroup,
    Limits,
    NestedFilter,
    Segment,
    SegmentDefinition,
    SegmentUpdate,
    TimeRange,
    attr,
    days,
    describe,
    did,
    did_not,
    fingerprint,
    from_payload,
    hours,
    in_segment,
    load_payload,
    months,
    segment,
    to_payload,
    validate,
    weeks,
)
from .segments import AttributeRef as AttributeRef
from .segments import BaseTimeRange as BaseTimeRange
from .segments import Condition as Condition
from .segments import Filter as Filter
from .segments import Period as Period
from .segments import from_update_payload as from_update_payload

__version__ = package_version()

__all__ = [
    "ActionFilter",
    "ActiveSegmentLimit",
    "AffinityFilter",
    "AggregationFilter",
    "AggregationGroup",
    "APIError",
    "attr",
    "AttributeFilter",
    "AttributeGroup",
    "AuthenticationError",
    "BadRequest",
    "Batch",
    "BatchProgress",
    "Client",
    "ConfigurationError",
    "Conflict",
    "create_many",
    "CustomSegmentFilter",
    "days",
    "DefinitionConflict",
    "describe",
    "did",
    "did_not",
    "Execution",
    "FileOptions",
    "FilterGroup",
    "fingerprint",
    "from_payload",
    "hours",
    "in_segment",
    "Journal",
    "Limits",
    "load_definitions",
    "load_payload",
    "MoesegError",
    "months",
    "NameConflict",
    "NestedFilter",
    "NotFound",
    "Observer",
    "OpenTelemetryObserver",
    "Outcome",
    "OutcomeKind",
    "OutcomeUnknown",
    "PermissionDenied",
    "plan_batch",
    "QuotaWaitTooLong",
    "RateLimited",
    "segment",
    "Segment",
    "SegmentDefinition",
    "SegmentUpdate",
    "SegmentValidationError",
    "ServerError",
    "SyncClient",
    "TimeRange",
    "to_payload",
    "TransportError",
    "UnexpectedResponse",
    "validate",
    "weeks",
    "__version__",
]

#: Wire bodies that were public in earlier builds (gone in 0.2): served with a DeprecationWarning.
_DEPRECATED = frozenset(
    {
        "ArchiveRequest",
        "FileSegmentCallback",
        "FileSegmentRequest",
        "LegacyCsvCallback",
        "LegacyCsvRequest",
        "LegacyCsvResponse",
        "SegmentListResponse",
        "SegmentResponse",
        "V2AcceptedBody",
        "V2ErrorBody",
        "V3Error",
        "V3ErrorBody",
    }
)


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        warnings.warn(
            f"moeseg.{name} is a wire body, no longer public API; it will be removed in 0.2",
            DeprecationWarning,
            stacklevel=2,
        )
        from . import segments

        return getattr(segments, name)
    raise AttributeError(f"module 'moeseg' has no attribute {name!r}")


def _show_public_names() -> None:
    """Reprs and tracebacks name ``moeseg.NameConflict``, not ``moeseg._exceptions...``."""
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type) and (
            issubclass(obj, MoesegError)
            or obj in (Client, SyncClient, Observer, OpenTelemetryObserver)
        ):
            obj.__module__ = __name__


_show_public_names()
