from __future__ import annotations

import pickle

import moeseg
from moeseg import DefinitionConflict, SegmentValidationError, ValidationIssue


def test_validation_error_lists_every_issue() -> None:
    err = SegmentValidationError(
        [ValidationIssue("name", "must not be empty"), ValidationIssue("a.b[1]", "bad")]
    )
    assert "2 validation errors" in str(err)
    assert "a.b[1]: bad" in str(err)
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert again.issues == err.issues


def test_definition_conflict_keeps_fields_through_pickle() -> None:
    err = DefinitionConflict(
        "exists",
        status=409,
        code="Resource not created",
        existing_cs_id="abc",
        existing_cs_name="seg",
        method="POST",
        path="/v3/custom-segments",
        response_id="r1",
    )
    again = pickle.loads(pickle.dumps(err))
    assert (again.existing_cs_id, again.status, again.response_id) == ("abc", 409, "r1")
    assert str(again) == str(err)
    assert isinstance(again, moeseg.Conflict)


def test_response_errors_keep_headers_and_body_through_pickle() -> None:
    err = moeseg.ServerError(
        "down", status=503, headers={"x-request-id": "q"}, body='{"title": "down"}'
    )
    again = pickle.loads(pickle.dumps(err))
    assert (again.headers, again.body, again.status) == ({"x-request-id": "q"}, err.body, 503)


def test_outcome_unknown_carries_what_settles_it() -> None:
    last = moeseg.RequestTimeout("ReadTimeout", method="POST", path="/v3/custom-segments")
    err = moeseg.OutcomeUnknown("seg", "f" * 64, last)
    again = pickle.loads(pickle.dumps(err))
    assert (again.name, again.fingerprint, type(again.last_error)) == (
        "seg",
        "f" * 64,
        moeseg.RequestTimeout,
    )
    assert "find_created" in str(again)
