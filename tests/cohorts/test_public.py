"""moeseg.cohorts: the promised names, their reprs, and errors that survive pickling."""

from __future__ import annotations

import pickle

import moeseg.cohorts
from moeseg.client._answers import error_from_cohort_response


def test_the_public_names_and_finer_errors_show_their_public_module() -> None:
    assert sorted(moeseg.cohorts.__all__) == ["CohortNameWarning", "SyncPlan", "SyncResult"]
    finer = ["AccountSuspended", "PayloadTooLarge", "UnsupportedContentType"]
    for name in [*moeseg.cohorts.__all__, *finer]:
        assert getattr(moeseg.cohorts, name).__module__ == "moeseg.cohorts"
    assert issubclass(moeseg.cohorts.AccountSuspended, moeseg.PermissionDenied)


def test_a_typed_error_pickles_through_its_public_module() -> None:
    body = b'{"status":"fail","error":{"message":"x","type":"Account Suspended","request_id":"r"}}'
    exc = error_from_cohort_response(403, {}, body)
    assert isinstance(exc, moeseg.cohorts.AccountSuspended)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is moeseg.cohorts.AccountSuspended
    assert again.response_id == "r"
