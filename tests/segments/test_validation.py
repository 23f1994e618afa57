"""Validation: every rule, every issue collected, each named by its full path."""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import moeseg
from moeseg import SegmentValidationError
from moeseg.segments import _converter, _validation
from moeseg.segments._validation import OPERATORS, _Checker, _plainly_valid, check
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


# -- the shortcut for plain conditions never accepts what the full checks reject -------------

_loose_values = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=3),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=2), st.integers(-3, 3)), max_size=3).map(tuple),
    st.sampled_from(
        ["2024-01-01T00:00:00.000Z", "2023-12-31T23:59:59.999Z", "2024-02-30T00:00:00.000Z"]
    ),
)


@settings(max_examples=500, deadline=None)
@given(
    st.builds(
        moeseg.AttributeFilter,
        name=st.sampled_from(["", "a"]),
        data_type=st.sampled_from(
            ["string", "double", "bool", "datetime", "array_string", "array_double"]
        ),
        value_type=st.sampled_from([None, "absolute", "relative_past", "relative_future"]),
        extract_type=st.sampled_from([None, "default_option_date", "time_of_the_day"]),
        operator=st.sampled_from(sorted({op for ops in OPERATORS.values() for op in ops or ()})),
        value=_loose_values,
        value1=_loose_values,
        array_filter_type=st.sampled_from([None, "any_of", "all_of", "some_of"]),
        radius=st.sampled_from([None, 1]),
        is_dynamic_value=st.sampled_from([None, False, True]),
    )
)
def test_plain_shortcut_agrees_with_the_full_checks(f: moeseg.AttributeFilter) -> None:
    checker = _Checker()
    checker.attribute(f, "f")
    if _plainly_valid(f):
        assert checker.issues == []


def test_plain_shortcut_takes_the_common_cases_and_leaves_the_rest() -> None:
    plain = moeseg.AttributeFilter("Name", "string", "is", "chandan", negate=False)
    assert _plainly_valid(plain)
    assert _plainly_valid(attrs.evolve(plain, operator="in", value=("a", "b")))
    assert not _plainly_valid(attrs.evolve(plain, operator="in"))  # scalar for in
    assert not _plainly_valid(attrs.evolve(plain, data_type="datetime"))  # not a date
    day = attrs.evolve(plain, data_type="datetime", operator="on", value_type="absolute")
    assert _plainly_valid(attrs.evolve(day, value="2024-01-15T00:00:00.000Z"))
    assert not _plainly_valid(attrs.evolve(day, value="2024-01-15T00:00:00.000Z", value_type=None))


# -- the reader's shortcut rules (from_payload skips the full checks when every rule holds) ----

# Values a mutation may put under a key: mostly plausible, often breaking a rule.
_MUTATIONS: dict[str, list[Any]] = {
    "name": ["", " ", "a<b", "x" * 201, "ok"],
    "action_name": ["", "e"],
    "id": ["", "abc"],
    "filter_operator": ["and", "or", "xor"],
    "filters": [[]],
    "data_type": ["string", "double", "bool", "datetime", "array_string", "geopoint", "nope"],
    "operator": ["is", "in", "between", "inTheLast", "exists", "after", "contains", "x"],
    "value": ["a", "", 0, 3, -1, 2.5, True, ["a"], [], [1, 2], "2024-01-15T00:00:00.000Z"],
    "value1": ["", "b", 0, 1, 100, "2023-01-15T00:00:00.000Z"],
    "value_type": ["absolute", "relative_past", "relative_future", "x"],
    "extract_type": ["default_option_date", "time_of_the_day"],
    "array_filter_type": ["any_of", "some_of"],
    "is_dynamic_value": [False, True],
    "radius": [1],
    "executed": [True, False],
    "count": [0, 1, -1, 5],
    "type": ["atleast", "exactly", "firstTime", "inTheLast", "between", "after", "x"],
    "period_unit": ["days", "years"],
    "days": [0, -1, 7],
    "from": ["2024-01-15T00:00:00.000Z", "x"],
    "aggregation_attributes": [{"filter_operator": "and", "filters": []}],
}


def _nodes(data: Any) -> list[dict[str, Any]]:
    """Every object in a payload."""
    if isinstance(data, dict):
        return [data, *(n for v in data.values() for n in _nodes(v))]
    if isinstance(data, list):
        return [n for v in data for n in _nodes(v)]
    return []


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload = copy.deepcopy(moeseg.to_payload(draw(definitions())))
    for _ in range(draw(st.integers(1, 4))):
        node = draw(st.sampled_from(_nodes(payload)))
        present = sorted(k for k in node if k in _MUTATIONS)
        # mostly a field the object has; sometimes one it does not
        key = draw(st.sampled_from(present or sorted(_MUTATIONS)))
        if draw(st.integers(0, 4)) == 0:
            key = draw(st.sampled_from(sorted(_MUTATIONS)))
        node[key] = copy.deepcopy(draw(st.sampled_from(_MUTATIONS[key])))
    return payload


def _read_outcome(read: Any, payload: Any) -> Any:
    """What reading ``payload`` gives: the definition, the issues, or the kind of failure."""
    try:
        return read(payload)
    except SegmentValidationError as exc:
        return exc.issues
    except Exception as exc:  # cattrs' shape errors
        return type(exc)


@settings(max_examples=500, deadline=None)
@given(mutated_payloads())
def test_reader_shortcut_never_accepts_what_the_full_checks_reject(payload: Any) -> None:
    fast = _read_outcome(moeseg.from_payload, payload)
    # through __init__, which runs the full checks
    cattrs_read = partial(_converter._cattrs.structure, cl=moeseg.SegmentDefinition)
    slow = _read_outcome(cattrs_read, payload)
    if isinstance(fast, moeseg.SegmentDefinition):
        assert check(fast) == []
        assert fast == slow
    else:
        assert isinstance(fast, tuple)
        assert fast == slow or isinstance(slow, type)  # a shape error: cattrs' own exception


def test_reader_shortcut_takes_plain_definitions_without_the_full_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.bench_models import fifty_filter_definition, seed_payload

    fifty = moeseg.to_payload(fifty_filter_definition())

    ran: list[object] = []
    monkeypatch.setattr(_validation, "validate", ran.append)
    assert moeseg.from_payload(seed_payload()).name == "segment_example_name"
    assert len(moeseg.from_payload(fifty).included_filters.filters) == 50
    update = {"included_filters": seed_payload()["included_filters"]}
    assert moeseg.from_update_payload(update).name is None
    assert ran == []
    doubtful = copy.deepcopy(fifty)
    doubtful["included_filters"]["filters"][3]["execution"]["count"] = 0
    moeseg.from_payload(doubtful)
    assert len(ran) == 1


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\n?\Z"),
        st.builds(
            "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z".format,
            *(st.integers(0, n) for n in (9999, 13, 32, 24, 60, 60, 999)),
        ),
    )
)
def test_quick_iso_test_agrees_with_parse_iso(text: str) -> None:
    assert _validation._is_iso(text) == (_validation.parse_iso(text) is not None)
