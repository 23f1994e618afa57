"""Cohort Sync and membership sync: the names you may import, catch or check.

The calls live on the client: :meth:`moeseg.Client.sync_cohort` (add and remove a cohort's
members through MoEngage's Cohort Sync API) and :meth:`moeseg.Client.sync_members` (make a
segment's members equal a list, sending only what changed). Both return a :class:`SyncResult`;
a membership sync's plan is a :class:`SyncPlan`. See docs/cohorts.md.

Errors of Cohort Sync's own answers: :class:`AccountSuspended` (403, suspended or blocked),
:class:`PayloadTooLarge` (413) and :class:`UnsupportedContentType` (415); the others are the
common ones (``moeseg.BadRequest``, ``moeseg.AuthenticationError``, ``moeseg.RateLimited``,
``moeseg.ServerError``). A cohort name starting with ``.`` warns with
:class:`CohortNameWarning`. More specific classes stay importable from here without being
promised: ``MissingAttribute``, ``MalformedBody``, ``AppKeyMismatch``,
``CohortValidationError``, ``UidTooLarge``, ``OppositeActionPending``, ``SnapshotError``.
"""

from __future__ import annotations

from ._cohorts import (
    AccountSuspended,
    CohortNameWarning,
    PayloadTooLarge,
    SyncPlan,
    SyncResult,
    UnsupportedContentType,
)
from ._cohorts import AppKeyMismatch as AppKeyMismatch
from ._cohorts import Cohort as Cohort
from ._cohorts import CohortValidationError as CohortValidationError
from ._cohorts import MalformedBody as MalformedBody
from ._cohorts import MissingAttribute as MissingAttribute
from ._cohorts import OppositeActionPending as OppositeActionPending
from ._cohorts import SnapshotError as SnapshotError
from ._cohorts import UidTooLarge as UidTooLarge
from ._cohorts import derive_cohort_id as derive_cohort_id

__all__ = [
    "CohortNameWarning",
    "SyncPlan",
    "SyncResult",
]

for _cls in (
    AccountSuspended,
    CohortNameWarning,
    PayloadTooLarge,
    SyncPlan,
    SyncResult,
    UnsupportedContentType,
    AppKeyMismatch,
    CohortValidationError,
    MalformedBody,
    MissingAttribute,
    OppositeActionPending,
    SnapshotError,
    UidTooLarge,
):
    _cls.__module__ = __name__  # reprs and tracebacks show moeseg.cohorts.X
del _cls
