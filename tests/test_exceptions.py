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
