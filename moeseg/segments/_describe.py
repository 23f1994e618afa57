"""One-line human descriptions of segment definitions, in the spirit of the server's
``description`` field ("City is Berlin AND Has executed MOE_EMAIL_SENT atleast 1 time in the
last 7 days")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._codec import structure
from ._models import (
    ActionFilter,
    AffinityFilter,
    AttributeFilter,
    AttributeGroup,
    CustomSegmentFilter,
    Filter,
    FilterGroup,
    NestedFilter,
    TimeRange,
)
from ._requests import SegmentDefinition, SegmentUpdate
from ._responses import Segment

__all__ = ["describe"]

_WORDS = {
    "is": ("is", "is not"),
    "in": ("is one of", "is none of"),
    "contains": ("contains", "does not contain"),
    "containsInTheFollowing": ("contains one of", "contains none of"),
    "startsWith": ("starts with", "does not start with"),
    "startsWithInTheFollowing": ("starts with one of", "starts with none of"),
    "endsWith": ("ends with", "does not end with"),
    "endsWithInTheFollowing": ("ends with one of", "ends with none of"),
    "exists": ("exists", "does not exist"),
    "lessThan": ("is less than", "is not less than"),
    "greaterThan": ("is greater than", "is not greater than"),
    "between": ("is between", "is not between"),
    "on": ("is on", "is not on"),
    "before": ("is before", "is not before"),
    "after": ("is after", "is not after"),
    "inTheLast": ("is in the last", "is not in the last"),
    "inTheNext": ("is in the next", "is not in the next"),
    "today": ("is today", "is not today"),
}


def describe(
    defn: SegmentDefinition | SegmentUpdate | Segment | FilterGroup | Mapping[str, Any],
) -> str:
    """A one-line description of what ``defn`` selects (a payload mapping is read first)."""
    included: FilterGroup | None
    if isinstance(defn, Mapping):
        included = structure(defn["included_filters"], FilterGroup)
        raw_ex = defn.get("excluded_filters")
        excluded = structure(raw_ex, FilterGroup) if raw_ex is not None else None
    elif isinstance(defn, FilterGroup):
        included, excluded = defn, None
    else:
        included, excluded = defn.included_filters, defn.excluded_filters
    text = _group(included.filter_operator, included.filters) if included else ""
    if excluded is not None and excluded.filters:
        text += " EXCLUDING " + _group(excluded.filter_operator, excluded.filters, nested=True)
    return text


def _group(op: str, members: tuple[Filter, ...], *, nested: bool = False) -> str:
    parts = [_filter(m) for m in members]
    text = f" {op.upper()} ".join(parts)
    return f"({text})" if nested and len(parts) > 1 else text


def _filter(f: Filter) -> str:
    if isinstance(f, AttributeFilter):
        return _attribute(f)
    if isinstance(f, ActionFilter):
        return _action(f)
    if isinstance(f, NestedFilter):
        return _group(f.filter_operator, f.filters, nested=True)
    if isinstance(f, CustomSegmentFilter):
        return f"In segment {f.name or f.id}"
    return _affinity(f)


def _value(v: Any) -> str:
    if isinstance(v, tuple):
        return ", ".join(_value(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        try:
            return datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ").strftime("%b %d, %Y")
        except ValueError:
            return v
    return f"{v:g}" if isinstance(v, float) else str(v)


def _attribute(f: AttributeFilter) -> str:
    if f.data_type in ("object", "array_object"):
        inner = _group(f.filter_operator or "and", f.filters or (), nested=True)
        return f"{f.name} has {inner}"
    if f.data_type == "geopoint":
        return (
            f"{f.name} is within {_value(f.radius)} km of ({_value(f.value)}, {_value(f.value1)})"
        )
    op = f.operator or "is"
    pos, neg = _WORDS.get(op, (op, f"not {op}"))
    text = f"{f.name} {neg if f.negate else pos}"
    if op == "between":
        text += f" {_value(f.value)} and {_value(f.value1)}"
    elif op in ("inTheLast", "inTheNext"):
        text += f" {_value(f.value)} days"
    elif f.value is not None:
        text += f" {_value(f.value)}"
    if f.array_filter_type == "all_of":
        text += " (all of them)"
    if f.data_type in ("string", "array_string") and op != "exists":
        text += " (case sensitive)" if f.case_sensitive else " (case insensitive)"
    return text


def _attr_group(g: AttributeGroup) -> str:
    return _group(g.filter_operator, g.filters, nested=True)


def _time(t: TimeRange) -> str:
    if t.from_ is not None:
        return f"in-between {_value(t.from_)} and {_value(t.to)}"
    unit = t.period_unit or "days"
    value, value1 = (t.days, t.days1) if t.days is not None else (t.value, t.value1)
    if t.type == "inTheLast":
        return f"in the last {_value(value)} {unit}"
    ago = f" {unit} ago" if t.value_type != "absolute" else ""
    if t.type == "between":
        return f"in-between {_value(value)} and {_value(value1)}{ago}"
    return f"{t.type} {_value(value)}{ago}"


def _action(f: ActionFilter) -> str:
    e = f.execution
    if not f.executed:
        text = f"Has not executed {f.action_name}"
    elif e.type == "firstTime":
        text = f"Has executed {f.action_name} for the first time"
    elif e.type == "lastTime":
        text = f"Has executed {f.action_name} for the last time"
    else:
        times = "time" if e.count == 1 else "times"
        text = f"Has executed {f.action_name} {e.type} {e.count} {times}"
    text += " " + _time(f.primary_time_range)
    if f.attributes is not None and f.attributes.filters:
        text += " where " + _attr_group(f.attributes)
    agg = f.aggregation_attributes
    if agg is not None:
        for a in agg.filters:
            pos, neg = _WORDS.get(a.operator, (a.operator, f"not {a.operator}"))
            text += f" with {a.aggregation_type} of {a.attribute_name} {neg if a.negate else pos}"
            text += f" {_value(a.value)}" + (
                f" and {_value(a.value1)}" if a.value1 is not None else ""
            )
    return text


def _affinity(f: AffinityFilter) -> str:
    what = _attr_group(f.psychographic_attributes)
    if f.operator_type == "minimum":
        how = f"at least {f.percent_of_times}% of the time"
    elif f.operator_type in ("top", "bottom"):
        how = f"in the {f.operator_type} {f.percent_of_users}% of users"
    else:
        how = "predominantly"
    return f"Has affinity for {f.action_name} where {what} {how} {_time(f.primary_time_range)}"
