"""Hypothesis strategies for valid segment definitions (built from the models, not payloads)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from moeseg import (
    ActionFilter,
    AttributeFilter,
    AttributeGroup,
    CustomSegmentFilter,
    Execution,
    FilterGroup,
    NestedFilter,
    SegmentDefinition,
    TimeRange,
    to_payload,
)

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="<>", exclude_categories=("Cs",)),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() != "")
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ ", min_size=1, max_size=12)
numbers = st.one_of(
    st.integers(-10_000, 10_000), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
)
operators = st.sampled_from(["and", "or"])
flags = st.sampled_from([None, False, True])


@st.composite
def iso_datetimes(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1)))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    return (a, b) if a <= b else (b, a)


@st.composite
def string_filters(draw: st.DrawFn, name: str) -> AttributeFilter:
    op = draw(
        st.sampled_from(
            ["is", "in", "contains", "startsWith", "endsWith", "containsInTheFollowing", "exists"]
        )
    )
    listy = op in ("in", "containsInTheFollowing")
    value: Any = None
    if op != "exists":
        value = tuple(draw(st.lists(words, min_size=1, max_size=4))) if listy else draw(words)
    return AttributeFilter(
        name=name,
        data_type="string",
        operator=op,  # type: ignore[arg-type]
        value=value,
        negate=draw(flags),
        case_sensitive=draw(flags),
    )


@st.composite
def double_filters(draw: st.DrawFn, name: str) -> AttributeFilter:
    op = draw(st.sampled_from(["is", "in", "lessThan", "greaterThan", "between", "exists"]))
    value: Any = None
    value1: Any = None
    if op == "in":
        value = tuple(draw(st.lists(numbers, min_size=1, max_size=4)))
    elif op == "between":
        value, value1 = _ordered(draw(numbers), draw(numbers))
    elif op != "exists":
        value = draw(numbers)
    return AttributeFilter(
        name=name,
        data_type="double",
        operator=op,
        value=value,
        value1=value1,
        negate=draw(flags),  # type: ignore[arg-type]
    )


@st.composite
def datetime_filters(draw: st.DrawFn, name: str) -> AttributeFilter:
    op = draw(st.sampled_from(["on", "before", "after", "between", "inTheLast", "inTheNext"]))
    if op in ("inTheLast", "inTheNext"):
        vt = "relative_past" if op == "inTheLast" else "relative_future"
        return AttributeFilter(
            name=name,
            data_type="datetime",
            operator=op,  # type: ignore[arg-type]
            value=draw(st.integers(1, 365)),
            value_type=vt,  # type: ignore[arg-type]
        )
    value1 = None
    value = draw(iso_datetimes())
    if op == "between":
        value, value1 = _ordered(value, draw(iso_datetimes()))
    return AttributeFilter(
        name=name,
        data_type="datetime",
        operator=op,  # type: ignore[arg-type]
        value=value,
        value1=value1,
        value_type="absolute",
        negate=draw(flags),
    )


@st.composite
def attribute_filters(draw: st.DrawFn) -> AttributeFilter:
    name = draw(words)
    kind = draw(st.sampled_from(["string", "double", "bool", "datetime", "geo", "array", "object"]))
    if kind == "string":
        return draw(string_filters(name))
    if kind == "double":
        return draw(double_filters(name))
    if kind == "datetime":
        return draw(datetime_filters(name))
    if kind == "bool":
        return AttributeFilter(
            name=name, data_type="bool", operator="is", value=draw(st.booleans()), negate=False
        )
    if kind == "geo":
        return AttributeFilter(
            name=name,
            data_type="geopoint",
            value=draw(st.floats(-90, 90)),
            value1=draw(st.floats(-180, 180)),
            radius=draw(st.integers(1, 500)),
        )
    if kind == "array":
        return AttributeFilter(
            name=name,
            data_type="array_string",
            operator="in",
            value=tuple(draw(st.lists(words, min_size=1, max_size=3))),
            array_filter_type=draw(st.sampled_from(["any_of", "all_of"])),
            negate=False,
        )
    subs = draw(st.lists(st.deferred(lambda: string_filters(draw(words))), min_size=1, max_size=3))
    return AttributeFilter(
        name=name,
        data_type=draw(st.sampled_from(["object", "array_object"])),
        filter_operator=draw(operators),
        filters=tuple(subs),
    )


@st.composite
def time_ranges(draw: st.DrawFn) -> TimeRange:
    kind = draw(st.sampled_from(["inTheLast", "between", "on", "before", "after"]))
    unit = draw(st.sampled_from(["hours", "days", "weeks", "months"]))
    if kind == "inTheLast":
        return TimeRange(
            type="inTheLast",
            value_type="relative_past",
            value=draw(st.integers(1, 400)),
            period_unit=unit,
        )
    if kind != "after" and draw(st.booleans()):
        lo, hi = _ordered(draw(st.integers(0, 100)), draw(st.integers(0, 100)))
        return TimeRange(
            type=kind,  # type: ignore[arg-type]
            value_type="relative_past",
            value=lo,
            value1=hi if kind == "between" else None,
            period_unit=unit,
        )
    lo_s, hi_s = _ordered(draw(iso_datetimes()), draw(iso_datetimes()))
    return TimeRange(
        type=kind,  # type: ignore[arg-type]
        value_type="absolute",
        value=lo_s,
        value1=hi_s if kind == "between" else None,
        period_unit=draw(st.sampled_from([None, "days"])),
    )


@st.composite
def action_filters(draw: st.DrawFn) -> ActionFilter:
    executed = draw(st.booleans())
    if executed:
        kind = draw(st.sampled_from(["atleast", "exactly", "atmost", "firstTime", "lastTime"]))
        count = None if kind in ("firstTime", "lastTime") else draw(st.integers(1, 50))
        execution = Execution(kind, count)  # type: ignore[arg-type]
    else:
        execution = Execution("exactly", 0)
    attrs_ = draw(st.lists(string_filters(draw(words)), max_size=2))
    return ActionFilter(
        action_name=draw(words),
        executed=executed,
        execution=execution,
        primary_time_range=draw(time_ranges()),
        attributes=AttributeGroup(draw(operators), tuple(attrs_)),  # type: ignore[arg-type]
    )


segment_ids = st.text(alphabet="0123456789abcdef", min_size=24, max_size=24)

leaf_filters = st.one_of(
    attribute_filters(),
    action_filters(),
    st.builds(CustomSegmentFilter, id=segment_ids, name=st.one_of(st.none(), words)),
)


def _filters_at(level: int) -> st.SearchStrategy[Any]:
    """Filters of a group at nesting ``level``: within moeseg's default Limits (5 levels, a
    referenced segment counting one more; at most 2 members per nested group: < 200 filters)."""
    if level >= 4:
        return leaf_filters
    nested = st.builds(
        NestedFilter,
        filter_operator=operators,
        filters=st.lists(st.deferred(lambda: _filters_at(level + 1)), min_size=1, max_size=2).map(
            tuple
        ),
    )
    return st.one_of(leaf_filters, nested)


any_filters = _filters_at(1)


@st.composite
def definitions(draw: st.DrawFn, min_filters: int = 1) -> SegmentDefinition:
    included = FilterGroup(
        draw(operators), tuple(draw(st.lists(any_filters, min_size=min_filters, max_size=5)))
    )
    excluded = None
    if draw(st.booleans()):
        excluded = FilterGroup(draw(operators), tuple(draw(st.lists(leaf_filters, max_size=3))))
    return SegmentDefinition(name=draw(names), included_filters=included, excluded_filters=excluded)


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


# Values of the wrong shape or that no API field can hold.
_HOSTILE: list[Any] = [
    None,
    "garbage",
    [],
    {},
    [{}],
    float("nan"),
    float("inf"),
    10**5000,
    2**63,
    -(2**64),
    True,
    {"filter_operator": "and"},
    [[[]]],
]


def _nodes(data: Any) -> list[dict[str, Any]]:
    """Every object in a payload."""
    if isinstance(data, dict):
        return [data, *(n for v in data.values() for n in _nodes(v))]
    if isinstance(data, list):
        return [n for v in data for n in _nodes(v)]
    return []


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload = copy.deepcopy(to_payload(draw(definitions())))
    for _ in range(draw(st.integers(1, 4))):
        node = draw(st.sampled_from(_nodes(payload)))
        present = sorted(k for k in node if k in _MUTATIONS)
        # mostly a field the object has; sometimes one it does not
        key = draw(st.sampled_from(present or sorted(_MUTATIONS)))
        if draw(st.integers(0, 4)) == 0:
            key = draw(st.sampled_from(sorted(_MUTATIONS)))
        value = draw(st.sampled_from(_MUTATIONS[key]))
        if draw(st.integers(0, 5)) == 0:  # sometimes a value of the wrong shape altogether
            value = draw(st.sampled_from(_HOSTILE))
        node[key] = copy.deepcopy(value)
    return payload
