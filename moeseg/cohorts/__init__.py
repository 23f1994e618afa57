# Cohort Sync and membership sync. Layout: _errors holds the typed errors and the response
# mapper; _request the Cohort model, body encoding and the chunker; _uidfiles sorted uid files
# (the snapshot format, CSV reading, external sort); _diff the streamed membership diff; _plan
# the pure planner (routes, quota, ETA); _pending the ordering rule for opposite actions.
"""MoEngage's Cohort Sync API and keeping a segment's members equal to a list."""

from ._diff import MembershipDiff, diff_sorted, membership_diff
from ._errors import (
    AccountSuspended,
    AppKeyMismatch,
    CohortNameWarning,
    CohortValidationError,
    MalformedBody,
    MissingAttribute,
    OppositeActionPending,
    PayloadTooLarge,
    SnapshotError,
    UidTooLarge,
    UnsupportedContentType,
    error_from_cohort_response,
)
from ._pending import PendingActions, Ticket
from ._plan import (
    COHORT_SYNC_GROUP,
    ActionSize,
    PlanStep,
    Route,
    SyncPlan,
    cohort_policy,
    measure_action,
    plan_sync,
)
from ._request import (
    ACTIONS,
    FORBIDDEN_NAME_CHARACTERS,
    MAX_BODY_BYTES,
    Cohort,
    CohortAction,
    CohortChunk,
    chunk_members,
    derive_cohort_id,
    encode_body,
    encode_member,
    opposite,
    validate_uid,
)
from ._uidfiles import HEADER, SortedUids, UidFile, read_uid_csv, sort_uids, write_uid_file

__all__ = [
    "ACTIONS",
    "AccountSuspended",
    "ActionSize",
    "AppKeyMismatch",
    "COHORT_SYNC_GROUP",
    "Cohort",
    "CohortAction",
    "CohortChunk",
    "CohortNameWarning",
    "CohortValidationError",
    "FORBIDDEN_NAME_CHARACTERS",
    "HEADER",
    "MAX_BODY_BYTES",
    "MalformedBody",
    "MembershipDiff",
    "MissingAttribute",
    "OppositeActionPending",
    "PayloadTooLarge",
    "PendingActions",
    "PlanStep",
    "Route",
    "SnapshotError",
    "SortedUids",
    "SyncPlan",
    "Ticket",
    "UidFile",
    "UidTooLarge",
    "UnsupportedContentType",
    "chunk_members",
    "cohort_policy",
    "derive_cohort_id",
    "diff_sorted",
    "encode_body",
    "encode_member",
    "error_from_cohort_response",
    "measure_action",
    "membership_diff",
    "opposite",
    "plan_sync",
    "read_uid_csv",
    "sort_uids",
    "validate_uid",
    "write_uid_file",
]
