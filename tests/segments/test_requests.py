"""Fields MoEngage's OpenAPI constrains are checked when a request body is built."""

from __future__ import annotations

from typing import Any

import pytest

import moeseg
from moeseg import SegmentValidationError
from moeseg.segments import FileSegmentRequest

GOOD: dict[str, Any] = {
    "name": "from_file",
    "file_url": "https://files.example.com/users.csv",
    "callback_url": "http://127.0.0.1:8080/hook",
    "attribute_name": "id",
    "attribute_type": "string",
    "emails": ("ops@example.com",),
    "expiry_time": 30,
}


def test_a_good_file_segment_body_is_built() -> None:
    assert FileSegmentRequest(**GOOD).expiry_time == 30
    assert FileSegmentRequest(**{**GOOD, "attribute_type": "double", "emails": None})


@pytest.mark.parametrize(
    ("field", "bad", "rule"),
    [
        ("attribute_type", "number", "'string' or 'double'"),
        ("file_url", "users.csv", "absolute http(s) URL"),
        ("file_url", "ftp://files.example.com/u.csv", "absolute http(s) URL"),
        ("callback_url", "https://", "absolute http(s) URL"),
        ("emails", ("ops@example.com", "not-an-email"), "email address"),
        ("emails", ("a b@example.com",), "email address"),
        ("expiry_time", 2**31, "int32"),
        ("expiry_time", 0, "positive"),
        ("expiry_time", True, "int32"),
    ],
)
def test_file_segment_fields_the_spec_constrains(field: str, bad: Any, rule: str) -> None:
    with pytest.raises(SegmentValidationError) as info:
        FileSegmentRequest(**{**GOOD, field: bad})
    (issue,) = info.value.issues
    assert issue.path.startswith(field)
    assert rule in issue.rule


def test_updated_by_must_be_an_email(sample_payload: dict[str, Any]) -> None:
    update = {"included_filters": sample_payload["included_filters"]}
    assert moeseg.from_update_payload({**update, "updated_by": "admin@example.com"}).updated_by
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_update_payload({**update, "updated_by": "admin"})
    assert [i.path for i in info.value.issues] == ["updated_by"]


def _affinity(**changes: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "filter_type": "psychographic_event",
        "action_name": "purchase",
        "executed": True,
        "execution": {"type": "atleast", "count": 1},
        "operator_type": "predominant",
        "psychographic_attributes": {
            "filter_operator": "and",
            "filters": [
                {"name": "category", "data_type": "string", "operator": "is", "value": "shoes"}
            ],
        },
        "primary_time_range": {"type": "inTheLast", "value_type": "relative_past", "days": 30},
    }
    f.update(changes)
    return {"name": "affinity", "included_filters": {"filter_operator": "and", "filters": [f]}}


def test_a_psychographic_event_needs_executed() -> None:
    moeseg.from_payload(_affinity())
    payload = _affinity()
    del payload["included_filters"]["filters"][0]["executed"]
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(payload)
    assert "included_filters.filters[0].executed" in [i.path for i in info.value.issues]


def test_a_time_range_needs_a_value_type(sample_payload: dict[str, Any]) -> None:
    payload = _affinity(primary_time_range={"type": "inTheLast", "days": 30})
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(payload)
    paths = [i.path for i in info.value.issues]
    assert paths == ["included_filters.filters[0].primary_time_range.value_type"]
    del sample_payload["included_filters"]["filters"][1]["primary_time_range"]["value_type"]
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(sample_payload)
    paths = [i.path for i in info.value.issues]
    assert paths == ["included_filters.filters[1].primary_time_range.value_type"]
