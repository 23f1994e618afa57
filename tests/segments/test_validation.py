"""Validation: every rule, every issue collected, each named by its full path."""

from __future__ import annotations

import copy
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moeseg
from moeseg import SegmentValidationError
from tests.segments.strategies import definitions, names

# -- valid definitions --------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(definitions())
def test_generated_definitions_validate_and_round_trip(defn: moeseg.SegmentDefinition) -> None:
    moeseg.validate(defn)
    payload = moeseg.to_payload(defn)
    again = moeseg.from_payload(payload)
    assert again == defn
    assert moeseg.to_payload(again) == payload


# -- invalid mutations: (bad filter, field that must be named, words of the rule) ------------


def _ua(**kw: Any) -> dict[str, Any]:
    return {"filter_type": "user_attributes", "name": "a", **kw}


def _action(**kw: Any) -> dict[str, Any]:
    base = {
        "filter_type": "actions",
        "action_name": "purchase",
        "executed": True,
        "execution": {"type": "atleast", "count": 1},
        "primary_time_range": {
            "type": "inTheLast",
            "value": 7,
            "value_type": "relative_past",
            "period_unit": "days",
        },
        "attributes": {"filter_operator": "and", "filters": []},
    }
    base.update(kw)
    return base


def _range(**kw: Any) -> dict[str, Any]:
    return _action(primary_time_range={"value_type": "relative_past", "period_unit": "days", **kw})


MUTATIONS: dict[str, tuple[dict[str, Any], str, str]] = {
    "operator not allowed for bool": (
        _ua(data_type="bool", operator="contains", value=True),
        "operator",
        "not allowed for bool",
    ),
    "operator not allowed for double": (
        _ua(data_type="double", operator="startsWith", value=1),
        "operator",
        "not allowed for double",
    ),
    "inTheLast on a string": (
        _ua(data_type="string", operator="inTheLast", value="x"),
        "operator",
        "not allowed for string",
    ),
    "in needs a list": (
        _ua(data_type="string", operator="in", value="Berlin"),
        "value",
        "list",
    ),
    "in needs a non-empty list": (
        _ua(data_type="double", operator="in", value=[]),
        "value",
        "list",
    ),
    "containsInTheFollowing needs a list": (
        _ua(data_type="string", operator="containsInTheFollowing", value="x"),
        "value",
        "list",
    ),
    "is takes a scalar": (
        _ua(data_type="string", operator="is", value=["a", "b"]),
        "value",
        "single value",
    ),
    "exists takes no value": (
        _ua(data_type="string", operator="exists", value="x"),
        "value",
        "absent",
    ),
    "today takes no value": (
        _ua(data_type="datetime", operator="today", value=3),
        "value",
        "absent",
    ),
    "between needs value1": (
        _ua(data_type="double", operator="between", value=1),
        "value1",
        "required",
    ),
    "between needs value <= value1": (
        _ua(data_type="double", operator="between", value=9, value1=2),
        "value1",
        "less than",
    ),
    "datetime between in order": (
        _ua(
            data_type="datetime",
            operator="between",
            value_type="absolute",
            value="2024-02-01T00:00:00.000Z",
            value1="2024-01-01T00:00:00.000Z",
        ),
        "value1",
        "less than",
    ),
    "value1 only for between": (
        _ua(data_type="double", operator="lessThan", value=1, value1=5),
        "value1",
        "only 'between'",
    ),
    "value type matches data type": (
        _ua(data_type="double", operator="lessThan", value="ten"),
        "value",
        "number",
    ),
    "datetime in the documented ISO form": (
        _ua(data_type="datetime", operator="on", value_type="absolute", value="2024-01-15"),
        "value",
        "ISO-8601",
    ),
    "datetime that does not exist": (
        _ua(
            data_type="datetime",
            operator="before",
            value_type="absolute",
            value="2024-02-30T00:00:00.000Z",
        ),
        "value",
        "ISO-8601",
    ),
    "relative attribute range positive": (
        _ua(data_type="datetime", operator="inTheLast", value_type="relative_past", value=0),
        "value",
        "positive integer",
    ),
    "relative attribute range an integer": (
        _ua(data_type="datetime", operator="inTheNext", value_type="relative_future", value=2.5),
        "value",
        "positive integer",
    ),
    "datetime needs a value_type": (
        _ua(data_type="datetime", operator="on", value="2024-01-15T00:00:00.000Z"),
        "value_type",
        "required",
    ),
    "relative event range positive": (
        _range(type="inTheLast", value=0),
        "primary_time_range.value",
        "positive integer",
    ),
    "relative event range an integer": (
        _range(type="inTheLast", value="7"),
        "primary_time_range.value",
        "positive integer",
    ),
    "absolute event range in ISO form": (
        _action(
            primary_time_range={
                "type": "between",
                "value": "2023-02- 15T00:00:00.000Z",
                "value1": "2023-02-24T23:59:59.999Z",
                "value_type": "absolute",
            }
        ),
        "primary_time_range.value",
        "ISO-8601",
    ),
    "event range between needs value1": (
        _range(type="between", value=3),
        "primary_time_range.value1",
        "non-negative integer",
    ),
    "firstTime takes no count": (
        _action(execution={"type": "firstTime", "count": 1}),
        "execution.count",
        "no count",
    ),
    "atleast needs a count": (
        _action(execution={"type": "atleast"}),
        "execution.count",
        "needs a count",
    ),
    "atmost count non-negative": (
        _action(execution={"type": "atmost", "count": -1}),
        "execution.count",
        "non-negative",
    ),
    "not executed is exactly 0": (
        _action(executed=False, execution={"type": "atleast", "count": 2}),
        "execution",
        "exactly",
    ),
    "event attribute operator": (
        _action(
            attributes={
                "filter_operator": "and",
                "filters": [{"name": "p", "data_type": "bool", "operator": "in", "value": ["yes"]}],
            }
        ),
        "attributes.filters[0].operator",
        "not allowed for bool",
    ),
}


@st.composite
def _with_bad_filter(draw: st.DrawFn, bad: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A valid payload with ``bad`` inserted at a random place, and the path it lands at."""
    payload = moeseg.to_payload(draw(definitions()))
    group = payload["included_filters"]
    path = "included_filters"
    for _ in range(draw(st.integers(0, 2))):  # sometimes bury it in nested groups
        inner = {"filter_type": "nested_filters", "filter_operator": "or", "filters": []}
        i = draw(st.integers(0, len(group["filters"])))
        group["filters"].insert(i, inner)
        path, group = f"{path}.filters[{i}]", inner
    i = draw(st.integers(0, len(group["filters"])))
    group["filters"].insert(i, copy.deepcopy(bad))
    return payload, f"{path}.filters[{i}]"


@pytest.mark.parametrize("case", sorted(MUTATIONS))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_invalid_mutation_is_rejected_with_its_path(case: str, data: st.DataObject) -> None:
    bad, field, words = MUTATIONS[case]
    payload, at = data.draw(_with_bad_filter(bad))
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(payload)
    wanted = f"{at}.{field}"
    rules = [i.rule for i in info.value.issues if i.path == wanted]
    assert rules, f"no issue at {wanted}: {info.value.issues}"
    assert any(words in r for r in rules), rules
    # nothing else in the (valid) rest of the payload was blamed
    assert all(i.path.startswith(at) for i in info.value.issues), info.value.issues


@settings(max_examples=50, deadline=None)
@given(names, st.sampled_from(["", "   ", "\t\n", "<b>x</b>", "a" * 201, "x>y"]))
def test_bad_names_are_rejected(good: str, bad: str) -> None:
    payload = {
        "name": good,
        "included_filters": {
            "filter_operator": "and",
            "filters": [_ua(data_type="string", operator="in", value=["ok"])],
        },
    }
    moeseg.from_payload(payload)  # the good name passes
    payload["name"] = bad
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(payload)
    assert [i.path for i in info.value.issues] == ["name"]


def test_name_of_200_characters_is_fine() -> None:
    moeseg.from_payload(
        {
            "name": "n" * 200,
            "included_filters": {
                "filter_operator": "and",
                "filters": [_ua(data_type="bool", operator="exists")],
            },
        }
    )


def test_every_issue_is_collected_not_just_the_first() -> None:
    payload = {
        "name": " ",
        "included_filters": {
            "filter_operator": "and",
            "filters": [bad for bad, _, _ in MUTATIONS.values()],
        },
    }
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(payload)
    paths = {i.path for i in info.value.issues}
    assert "name" in paths
    for n, (_, field, _) in enumerate(MUTATIONS.values()):
        assert f"included_filters.filters[{n}].{field}" in paths
    assert str(len(info.value.issues)) + " validation errors" in str(info.value)


def test_shape_errors_are_reported_with_paths_too() -> None:
    payload = {
        "name": "x",
        "included_filters": {
            "filter_operator": "and",
            "filters": [
                _ua(data_type="string", operator="is", value="a", negate="false"),
                {"filter_type": "nope"},
                {"filter_type": "actions", "action_name": "X", "executed": True},
                _ua(data_type="string", operator="in", value=[{"x": 1}]),
            ],
        },
    }
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(payload)
    paths = [i.path for i in info.value.issues]
    assert paths == [
        "included_filters.filters[0].negate",
        "included_filters.filters[1]",
        "included_filters.filters[2].execution",
        "included_filters.filters[2].primary_time_range",
        "included_filters.filters[3].value",
    ]
    with pytest.raises(SegmentValidationError, match="must be an object"):
        moeseg.from_payload([])  # type: ignore[arg-type]


def test_a_definition_built_in_python_is_validated_at_construction_with_full_paths() -> None:
    bad = moeseg.AttributeFilter(name="City", data_type="string", operator="in", value="Berlin")
    nested = moeseg.NestedFilter("or", (bad,))
    with pytest.raises(SegmentValidationError) as info:
        moeseg.SegmentDefinition("n", moeseg.FilterGroup("and", (bad, nested)))
    assert [i.path for i in info.value.issues] == [
        "included_filters.filters[0].value",
        "included_filters.filters[1].filters[0].value",
    ]
    good = moeseg.SegmentDefinition(
        "n", moeseg.FilterGroup("and", (attrs.evolve(bad, value=("Berlin",)),))
    )
    with pytest.raises(SegmentValidationError):
        attrs.evolve(good, name="")


def test_update_body_is_validated_and_name_is_optional() -> None:
    body = {
        "included_filters": {
            "filter_operator": "and",
            "filters": [_ua(data_type="bool", operator="is", value=True)],
        }
    }
    upd = moeseg.from_update_payload(body)
    assert upd.name is None
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_update_payload({**body, "name": "<script>"})
    assert [i.path for i in info.value.issues] == ["name"]


def test_empty_groups() -> None:
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(
            {"name": "x", "included_filters": {"filter_operator": "and", "filters": []}}
        )
    assert [i.path for i in info.value.issues] == ["included_filters.filters"]
    # an empty excluded group excludes nobody: allowed
    moeseg.from_payload(
        {
            "name": "x",
            "included_filters": {
                "filter_operator": "and",
                "filters": [_ua(data_type="bool", operator="exists")],
            },
            "excluded_filters": {"filter_operator": "and", "filters": []},
        }
    )


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        (_ua(data_type="geopoint", value=91, value1=0, radius=5), "value"),
        (_ua(data_type="geopoint", value=10, value1=0, radius=0), "radius"),
        (_ua(data_type="geopoint", operator="is", value=10, value1=0, radius=1), "operator"),
        (_ua(data_type="object", filter_operator="and", filters=[]), "filters"),
        (
            _ua(
                data_type="object",
                operator="is",
                filter_operator="and",
                filters=[_ua(data_type="bool", operator="exists")],
            ),
            "operator",
        ),
        (
            _ua(data_type="string", operator="is", value="x", array_filter_type="any_of"),
            "array_filter_type",
        ),
        (
            _ua(
                data_type="string",
                operator="is",
                value="x",
                is_dynamic_value=True,
                dynamic_attribute_type="string",
            ),
            "value",
        ),
        (
            _ua(
                data_type="double",
                operator="is",
                value="{{MoeUserAttribute['x']}}",
                is_dynamic_value=True,
            ),
            "dynamic_attribute_type",
        ),
        (
            _ua(data_type="datetime", operator="is", extract_type="day_of_the_week", value=7),
            "value",
        ),
        (
            _ua(
                data_type="datetime",
                operator="is",
                extract_type="date_month_of_the_year",
                value="13-01",
            ),
            "value",
        ),
        ({"filter_type": "custom_segments", "id": ""}, "id"),
        (
            _action(
                executed=True,
                execution={"type": "firstTime"},
                aggregation_attributes={
                    "filter_operator": "and",
                    "filters": [
                        {
                            "attribute_name": "r",
                            "data_type": "double",
                            "aggregation_type": "sum",
                            "operator": "is",
                            "value": 1,
                        }
                    ],
                },
            ),
            "aggregation_attributes",
        ),
        (
            _action(
                aggregation_attributes={
                    "filter_operator": "and",
                    "filters": [
                        {
                            "attribute_name": "r",
                            "data_type": "double",
                            "aggregation_type": "sum",
                            "operator": "between",
                            "value": 5,
                            "value1": 1,
                        }
                    ],
                },
            ),
            "aggregation_attributes.filters[0].value1",
        ),
        (
            {
                "filter_type": "psychographic_event",
                "action_name": "purchase",
                "executed": True,
                "execution": {"type": "atleast", "count": 1},
                "operator_type": "top",
                "psychographic_attributes": {"filter_operator": "and", "filters": []},
                "primary_time_range": {
                    "type": "inTheLast",
                    "value_type": "relative_past",
                    "days": 30,
                },
            },
            "percent_of_users",
        ),
    ],
)
def test_other_data_type_rules(bad: dict[str, Any], where: str) -> None:
    payload = {"name": "x", "included_filters": {"filter_operator": "and", "filters": [bad]}}
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(payload)
    assert f"included_filters.filters[0].{where}" in [i.path for i in info.value.issues]


def test_an_issue_shared_by_value_and_value1_is_reported_once() -> None:
    bad = _ua(
        data_type="datetime",
        operator="between",
        value="2024-01-01T00:00:00.000Z",
        value1="2024-01-02T00:00:00.000Z",
    )
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(
            {"name": "x", "included_filters": {"filter_operator": "and", "filters": [bad]}}
        )
    assert [i.path for i in info.value.issues] == ["included_filters.filters[0].value_type"]


def test_dynamic_value_and_extract_type_examples_pass() -> None:
    ok = [
        _ua(
            data_type="double",
            operator="greaterThan",
            negate=False,
            value="{{MoeUserAttribute['lifetime_value']}}",
            is_dynamic_value=True,
            dynamic_attribute_type="double",
        ),
        _ua(data_type="datetime", operator="in", extract_type="day_of_the_week", value=[0, 6]),
        _ua(
            data_type="datetime",
            operator="is",
            extract_type="date_month_of_the_year",
            value="06-15",
        ),
        _ua(data_type="datetime", operator="today"),
        _ua(
            data_type="array_double",
            operator="between",
            value=1,
            value1=2,
            array_filter_type="all_of",
        ),
        # no documented order for relative days or date parts: both ways are accepted
        _ua(
            data_type="datetime", operator="between", value_type="relative_past", value=30, value1=7
        ),
        _ua(
            data_type="datetime",
            operator="between",
            extract_type="time_of_the_day",
            value=22,
            value1=6,
        ),
    ]
    moeseg.from_payload({"name": "x", "included_filters": {"filter_operator": "or", "filters": ok}})
