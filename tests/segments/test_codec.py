"""The codec: strict shapes with paths, lenient responses, payloads written back unchanged."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings

import moeseg
from moeseg import SegmentValidationError
from moeseg import segments as wire
from moeseg.segments import StructureError, request_body, structure, unstructure
from tests.segments.strategies import definitions

# Shape errors, each named by its path. Each entry: (mutation, bad value, path in issues).
BROKEN: list[tuple[str, Any, str]] = [
    ("negate", "false", "included_filters.filters[0].negate"),
    ("value", {"a": 1}, "included_filters.filters[0].value"),
    ("value", [True], "included_filters.filters[0].value"),
    ("name", 5, "included_filters.filters[0].name"),
    ("radius", True, "included_filters.filters[0].radius"),
    ("filter_type", "unknown", "included_filters.filters[0]"),
    ("filters", "abc", "included_filters.filters[0].filters"),
]


def _group_of_one(**extra: Any) -> dict[str, Any]:
    """An and-group holding one string condition, with ``extra`` keys set on it."""
    condition = {
        "filter_type": "user_attributes",
        "name": "a",
        "data_type": "string",
        "operator": "is",
        "value": "b",
    }
    return {"filter_operator": "and", "filters": [{**condition, **extra}]}


@pytest.mark.parametrize(("key", "bad", "path"), BROKEN)
def test_shape_errors_name_the_field(key: str, bad: Any, path: str) -> None:
    broken = {"name": "x", "included_filters": _group_of_one(**{key: bad})}
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(broken)
    assert path in [i.path for i in info.value.issues]


def test_responses_are_lenient() -> None:
    body = {
        "data": {
            "id": "1",
            "name": "n",
            "new_field_from_moengage": {"x": 1},
            "included_filters": _group_of_one(operator="someNewOperator", value1="", unknown=True),
        },
        "response_id": "r",
    }
    seg = structure(body, wire.SegmentResponse).data
    assert seg.id == "1"
    assert seg.included_filters is not None
    assert "unknown" not in unstructure(seg.included_filters)["filters"][0]
    with pytest.raises(StructureError, match="data"):
        structure({"response_id": "r"}, wire.SegmentResponse)


def test_structure_error_is_a_moeseg_value_error() -> None:
    with pytest.raises(StructureError) as info:
        structure("<html>", wire.V3ErrorBody)
    assert isinstance(info.value, moeseg.MoesegError)
    assert isinstance(info.value, ValueError)


@settings(max_examples=50, deadline=None)
@given(definitions())
def test_unstructure_of_a_list_of_models(defn: moeseg.SegmentDefinition) -> None:
    groups = [defn.included_filters, defn.excluded_filters]
    assert unstructure(groups) == [unstructure(g) for g in groups]
    assert unstructure(groups)[0] == moeseg.to_payload(defn)["included_filters"]


def test_read_objects_are_the_model_classes_and_stay_frozen() -> None:
    payload = {"name": "x", "included_filters": _group_of_one(negate=False)}
    defn = structure(payload, moeseg.SegmentDefinition)
    f = defn.included_filters.filters[0]
    assert type(f) is moeseg.AttributeFilter
    assert type(defn.included_filters) is moeseg.FilterGroup
    assert hash(f) == hash(moeseg.AttributeFilter("a", "string", "is", "b", negate=False))
    with pytest.raises(AttributeError):
        f.name = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del f.name  # type: ignore[misc]


# -- shapes: every model is read from an object only -------------------------------------------


@pytest.mark.parametrize("bad", ["garbage", [], 0, True])
def test_an_action_attributes_group_of_the_wrong_shape_is_reported(
    sample_payload: dict[str, Any], bad: Any
) -> None:
    sample_payload["included_filters"]["filters"][1]["attributes"] = bad
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(sample_payload)
    (issue,) = info.value.issues
    assert issue.path == "included_filters.filters[1].attributes"
    assert issue.rule.startswith("expected an object")


_MODELS = [
    cls
    for cls in vars(moeseg.segments).values()
    if isinstance(cls, type)
    and attrs.has(cls)
    and cls.__module__.rpartition(".")[2] in ("_models", "_requests", "_responses")
]


@pytest.mark.parametrize("cls", _MODELS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", ["garbage", [], ["a"], 1, None])
def test_no_model_is_read_from_anything_but_an_object(cls: type[Any], bad: Any) -> None:
    with pytest.raises((StructureError, SegmentValidationError)):
        structure(bad, cls)


def test_models_read_from_objects_with_all_defaults() -> None:
    assert structure({}, moeseg.AttributeGroup) == moeseg.AttributeGroup()
    assert structure({}, wire.V2AcceptedBody) == wire.V2AcceptedBody()


# -- round trip: what the user gave is kept; the request adds what the server requires ----------


def test_an_action_without_attributes_round_trips(sample_payload: dict[str, Any]) -> None:
    event = sample_payload["included_filters"]["filters"][1]
    assert "attributes" not in event
    defn = moeseg.from_payload(sample_payload)
    assert moeseg.to_payload(defn) == sample_payload
    # MoEngage requires the group on a request: the body sent carries an empty one
    sent = request_body(defn)
    assert sent["included_filters"]["filters"][1]["attributes"] == {
        "filter_operator": "and",
        "filters": [],
    }
    assert moeseg.fingerprint(sent) == moeseg.fingerprint(defn)


def test_the_request_body_adds_the_group_inside_nested_and_excluded_groups(
    sample_payload: dict[str, Any],
) -> None:
    event = sample_payload["included_filters"]["filters"][1]
    nested = {"filter_type": "nested_filters", "filter_operator": "or", "filters": [event]}
    sample_payload["included_filters"]["filters"].append(nested)
    sample_payload["excluded_filters"] = {"filter_operator": "or", "filters": [event]}
    sent = request_body(moeseg.from_payload(sample_payload))
    assert sent["included_filters"]["filters"][2]["filters"][0]["attributes"]["filters"] == []
    assert sent["excluded_filters"]["filters"][0]["attributes"]["filters"] == []
    assert "attributes" not in sample_payload["excluded_filters"]["filters"][0]
