# moeseg: async client for MoEngage custom segments, built around an exact quota governor.
# Layout: _models / _converter / _validation / _builder hold segment definitions and the wire
# format; governor/ admits requests within MoEngage's sliding-window quotas; _client sends them
# (through the governor) and maps answers to _exceptions; sandbox/ is a local MoEngage stand-in;
# _batch and cli run many creates at once; files/ checks CSVs and receives callbacks.
"""Async client for MoEngage custom-segment APIs with an exact multi-window quota governor."""

from ._batch import load_definitions
from ._exceptions import (
    ActiveSegmentLimit,
    APIError,
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    Conflict,
    ConnectError,
    CyclicReference,
    DefinitionConflict,
    MoesegError,
    NameConflict,
    NotFound,
    PermissionDenied,
    QueryTooComplex,
    QuotaWaitTooLong,
    RateLimited,
    RequestTimeout,
    SegmentValidationError,
    ServerError,
    TransportError,
    UnexpectedResponse,
    ValidationIssue,
)
from ._journal import Journal, JournalEntry, JournalState

__version__ = "0.1.0.dev0"

__all__ = [
    "ActiveSegmentLimit",
    "APIError",
    "AuthenticationError",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "ConnectError",
    "CyclicReference",
    "DefinitionConflict",
    "Journal",
    "JournalEntry",
    "JournalState",
    "load_definitions",
    "MoesegError",
    "NameConflict",
    "NotFound",
    "PermissionDenied",
    "QueryTooComplex",
    "QuotaWaitTooLong",
    "RateLimited",
    "RequestTimeout",
    "SegmentValidationError",
    "ServerError",
    "TransportError",
    "UnexpectedResponse",
    "ValidationIssue",
    "__version__",
]
