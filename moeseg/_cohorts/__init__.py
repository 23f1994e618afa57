# Cohort Sync and membership sync. Layout: _errors holds the typed errors and the response
# mapper; _request the Cohort model, body encoding and the chunker; _uidfiles sorted uid files
# (the snapshot format, CSV reading, external sort); _diff the streamed membership diff; _plan
# the pure planner (routes, quota, ETA); _pending the ordering rule for opposite actions;
# _state the snapshots and records in the state directory; _result what a sync did.
"""MoEngage's Cohort Sync API and keeping a segment's members equal to a list."""

from ._diff import MembershipDiff as MembershipDiff
from ._diff import diff_sorted as diff_sorted
from ._diff import diff_uncertain as diff_uncertain
from ._diff import membership_diff as membership_diff
from ._errors import AccountSuspended as AccountSuspended
from ._errors import AppKeyMismatch as AppKeyMismatch
from ._errors import CohortNameWarning as CohortNameWarning
from ._errors import CohortValidationError as CohortValidationError
from ._errors import MalformedBody as MalformedBody
from ._errors import MissingAttribute as MissingAttribute
from ._errors import OppositeActionPending as OppositeActionPending
from ._errors import PayloadTooLarge as PayloadTooLarge
from ._errors import SnapshotError as SnapshotError
from ._errors import UidTooLarge as UidTooLarge
from ._errors import UnsupportedContentType as UnsupportedContentType
from ._pending import PendingActions as PendingActions
from ._pending import Ticket as Ticket
from ._plan import ActionSize as ActionSize
from ._plan import PlanStep as PlanStep
from ._plan import ReplaceChoice as ReplaceChoice
from ._plan import Route as Route
from ._plan import SyncPlan as SyncPlan
from ._plan import measure_action as measure_action
from ._plan import plan_sync as plan_sync
from ._request import ACTIONS as ACTIONS
from ._request import FORBIDDEN_NAME_CHARACTERS as FORBIDDEN_NAME_CHARACTERS
from ._request import MAX_BODY_BYTES as MAX_BODY_BYTES
from ._request import Cohort as Cohort
from ._request import CohortAction as CohortAction
from ._request import CohortChunk as CohortChunk
from ._request import chunk_members as chunk_members
from ._request import derive_cohort_id as derive_cohort_id
from ._request import encode_body as encode_body
from ._request import encode_member as encode_member
from ._request import opposite as opposite
from ._request import validate_uid as validate_uid
from ._result import SyncResult as SyncResult
from ._state import DEFAULT_STATE_DIR as DEFAULT_STATE_DIR
from ._state import MemberRecord as MemberRecord
from ._state import MemberState as MemberState
from ._uidfiles import HEADER as HEADER
from ._uidfiles import SortedUids as SortedUids
from ._uidfiles import UidFile as UidFile
from ._uidfiles import read_uid_csv as read_uid_csv
from ._uidfiles import sort_uids as sort_uids
from ._uidfiles import union_uid_files as union_uid_files
from ._uidfiles import write_uid_file as write_uid_file

# Private: the public names are re-exported by moeseg.cohorts (the calls live on the Client).
__all__: list[str] = []
