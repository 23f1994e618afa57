"""Local validation of segment definitions: every broken rule, each with its path.

Rules come from the founding document and MoEngage's OpenAPI description: operators allowed per
data type, the value shape each operator needs, ISO-8601 datetimes in the documented form,
relative ranges as integers, execution counts that match the execution type, segment names
MoEngage accepts, and moeseg's assumed size limits (:class:`Limits`); enumerations are the
``Literal`` types of ``_models``. Nothing is sent before a definition passes, so a mistake costs
no quota. Paths read like the payload: ``included_filters.filters[0].attributes.filters[1].value``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, get_args

from .._exceptions import ValidationIssue
from ._limits import Limits, is_int, is_number, number_problem
from ._models import (
    ActionFilter,
    AffinityFilter,
    AffinityOperator,
    AggregationFilter,
    AggregationGroup,
    AggregationOperator,
    AggregationType,
    AttributeFilter,
    AttributeGroup,
    CustomSegmentFilter,
    DynamicAttributeType,
    Execution,
    ExecutionType,
    FilterGroup,
    FilterOperator,
    NestedFilter,
    PeriodUnit,
    TimeRange,
    TimeRangeType,
    ValueType,
)

__all__ = ["LIST_OPERATORS", "check_tree"]

MAX_NAME_LENGTH = 200

#: operators whose value is a list
LIST_OPERATORS = frozenset(
    {"in", "containsInTheFollowing", "startsWithInTheFollowing", "endsWithInTheFollowing"}
)
#: operators that take no value
NO_VALUE_OPERATORS = frozenset({"exists", "today"})
#: operators allowed for each data type (None: the data type takes no operator)
OPERATORS: dict[str, frozenset[str] | None] = {
    "string": frozenset({"is", "contains", "startsWith", "endsWith", "exists"}) | LIST_OPERATORS,
    "double": frozenset({"is", "in", "lessThan", "greaterThan", "between", "exists"}),
    "bool": frozenset({"is", "exists"}),
    "datetime": NO_VALUE_OPERATORS
    | {"is", "in", "on", "between", "before", "after", "inTheLast", "inTheNext"},
    "array_string": frozenset({"is", "in", "contains", "startsWith", "endsWith", "exists"}),
    "array_double": frozenset({"in", "lessThan", "greaterThan", "between", "exists"}),
    "geopoint": None,
    "object": None,
    "array_object": None,
}
#: on array_string these take a list too (any/all of the given substrings)
ARRAY_STRING_LIST_OPERATORS = frozenset({"contains", "startsWith", "endsWith"})
EXTRACT_RANGES: dict[str, tuple[int, int]] = {
    "time_of_the_day": (0, 23),
    "day_of_the_week": (0, 6),
    "day_of_the_month": (1, 31),
    "month_of_the_year": (1, 12),
}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ISO_FORM = "an ISO-8601 datetime like 2024-01-15T00:00:00.000Z"
MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
HTML = re.compile(r"[<>]")
DYNAMIC = re.compile(r"^\{\{MoeUserAttribute\['[^'\]]+'\]\}\}$")


def parse_iso(v: object) -> datetime | None:
    """The datetime of a string in the documented form, or None."""
    if not isinstance(v, str) or not ISO.match(v):
        return None
    try:
        return datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None


def after(lo: object, hi: object) -> bool:
    """True when lo > hi (both already well-formed)."""
    if isinstance(lo, str) and isinstance(hi, str):
        a, b = parse_iso(lo), parse_iso(hi)
        return a > b if a is not None and b is not None else lo > hi
    return is_number(lo) and is_number(hi) and bool(lo > hi)  # type: ignore[operator]


def check_tree(
    name: str | None,
    included: FilterGroup,
    excluded: FilterGroup | None,
    limits: Limits,
    *,
    name_required: bool = True,
) -> list[ValidationIssue]:
    """All issues of a definition's name and filter groups (empty when valid)."""
    c = _Checker(limits)
    if name_required or name is not None:
        c.name(name)
    c.group(included, "included_filters", root=True, depth=1)
    if excluded is not None:
        c.group(excluded, "excluded_filters", root=False, depth=1)
    # value and value1 of one filter can break the same rule (a missing value_type): say it once
    return list(dict.fromkeys(c.issues))


class _Checker:
    """Walks a definition and collects issues; one method per kind of node."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.issues: list[ValidationIssue] = []
        self.filters = 0
        self.too_deep = False
        self.segment_ids: set[str] = set()

    def add(self, path: str, rule: str, value: object = None) -> None:
        """Note a broken rule; a number that is not finite or too large says so instead."""
        self.issues.append(ValidationIssue(path, number_problem(value) or rule))

    def check(self, ok: bool, path: str, rule: str, value: object = None) -> bool:
        """``ok``, noting ``rule`` when it is False."""
        if not ok:
            self.add(path, rule, value)
        return ok

    def one_of(self, value: object, choices: Any, path: str, say: str = "must be") -> bool:
        """Whether ``value`` is one of the ``Literal`` type ``choices``, noting it when not."""
        allowed = get_args(choices)
        rule = f"{say} {', '.join(allowed[:-1])} or {allowed[-1]}"
        return self.check(value in allowed, path, rule)

    def count_filter(self, path: str, n: int = 1) -> None:
        before, self.filters = self.filters, self.filters + n
        if before <= self.limits.max_filters < self.filters:  # said once, where it happens
            self.add(path, self.limits.too_many("filters", "max_filters"))

    def deeper_than_allowed(self, path: str, depth: int, what: str) -> bool:
        if depth > self.limits.max_depth and not self.too_deep:  # said once
            self.too_deep = True
            self.add(path, self.limits.too_many(what, "max_depth"))
        return depth > self.limits.max_depth

    # -- names and groups -----------------------------------------------------------------

    def name(self, name: object) -> None:
        path = "name"
        if not isinstance(name, str) or not name:
            self.add(path, "segment name must not be empty")
        elif not name.strip():
            self.add(path, "segment name must not be only whitespace")
        else:
            if HTML.search(name):
                self.add(path, "segment name must not contain HTML characters (< or >)")
            if len(name) > MAX_NAME_LENGTH:
                self.add(path, f"segment name must be at most {MAX_NAME_LENGTH} characters")

    def operator(self, op: object, path: str) -> None:
        if op not in get_args(FilterOperator):
            self.add(f"{path}.filter_operator", f"must be 'and' or 'or', got {op!r}")

    def group(
        self, group: FilterGroup | NestedFilter, path: str, *, root: bool, depth: int
    ) -> None:
        if self.deeper_than_allowed(path, depth, "levels of nesting"):
            return  # deeper levels are not walked
        self.operator(group.filter_operator, path)
        # An empty excluded_filters group means "exclude nobody"; elsewhere it is a mistake.
        if not group.filters and (root or isinstance(group, NestedFilter)):
            self.add(f"{path}.filters", "must hold at least one filter")
        for i, member in enumerate(group.filters):
            p = f"{path}.filters[{i}]"
            # attrs does not check types at runtime: anything may have been put in a group.
            f: object = member
            if not isinstance(f, NestedFilter):
                self.count_filter(p)
            if isinstance(f, AttributeFilter):
                self.attribute(f, p)
            elif isinstance(f, ActionFilter):
                self.action(f, p)
            elif isinstance(f, NestedFilter):
                self.group(f, p, root=False, depth=depth + 1)
            elif isinstance(f, CustomSegmentFilter):
                self.segment(f, p, depth)
            elif isinstance(f, AffinityFilter):
                self.affinity(f, p)
            else:
                self.add(p, f"not a filter: {type(f).__name__}")

    def segment(self, f: CustomSegmentFilter, path: str, depth: int) -> None:
        # the referenced segment is at least one more level (its own is not known here)
        self.deeper_than_allowed(path, depth + 1, "levels of nesting (a referenced segment is one)")
        before = len(self.segment_ids)
        self.segment_ids.add(f.id)
        if before == self.limits.max_segment_refs < len(self.segment_ids):
            self.add(path, self.limits.too_many("referenced segments", "max_segment_refs"))
        self.check(bool(f.id), f"{path}.id", "segment id must not be empty")

    def attribute_group(
        self, group: AttributeGroup, path: str, data_types: frozenset[str] | None = None
    ) -> None:
        self.operator(group.filter_operator, path)
        self.count_filter(f"{path}.filters", len(group.filters))
        for i, f in enumerate(group.filters):
            p = f"{path}.filters[{i}]"
            if data_types is not None and f.data_type not in data_types:
                self.add(f"{p}.data_type", f"must be one of {sorted(data_types)}")
            self.attribute(f, p)

    # -- attribute conditions --------------------------------------------------------------

    def attribute(self, f: AttributeFilter, path: str) -> None:
        self.check(bool(f.name), f"{path}.name", "attribute name must not be empty")
        if f.data_type not in OPERATORS:
            self.add(
                f"{path}.data_type", f"must be one of {sorted(OPERATORS)}, got {f.data_type!r}"
            )
            return
        if f.array_filter_type is not None:
            if f.data_type not in ("array_string", "array_double"):
                self.add(f"{path}.array_filter_type", "only for array_string and array_double")
            elif f.array_filter_type not in ("any_of", "all_of"):
                self.add(f"{path}.array_filter_type", "must be 'any_of' or 'all_of'")
        if f.radius is not None and f.data_type != "geopoint":
            self.add(f"{path}.radius", "only for geopoint attributes")
        if f.data_type in ("object", "array_object"):
            self.object_attribute(f, path)
        elif f.data_type == "geopoint":
            self.geopoint(f, path)
        else:
            self.scalar_attribute(f, path)

    def object_attribute(self, f: AttributeFilter, path: str) -> None:
        for field in ("operator", "value", "value1", "negate"):
            if getattr(f, field) is not None:
                self.add(f"{path}.{field}", f"not allowed for {f.data_type} attributes")
        if f.is_dynamic_value:
            self.add(f"{path}.is_dynamic_value", f"not available for {f.data_type} attributes")
        self.operator(f.filter_operator, path)
        if not f.filters:
            self.add(f"{path}.filters", f"{f.data_type} attributes need at least one sub-filter")
        for i, sub in enumerate(f.filters or ()):
            self.attribute(sub, f"{path}.filters[{i}]")

    def geopoint(self, f: AttributeFilter, path: str) -> None:
        if f.operator is not None:
            self.add(f"{path}.operator", "geopoint takes no operator (it is always 'around')")
        for field, lo, hi, what in (
            ("value", -90, 90, "latitude"),
            ("value1", -180, 180, "longitude"),
        ):
            v = getattr(f, field)
            rule = f"must be the {what}, a number in [{lo}, {hi}]"
            self.check(is_number(v) and lo <= v <= hi, f"{path}.{field}", rule, v)
        ok = is_number(f.radius) and f.radius > 0  # type: ignore[operator]
        self.check(ok, f"{path}.radius", "must be a positive number", f.radius)

    def scalar_attribute(self, f: AttributeFilter, path: str) -> None:
        allowed = OPERATORS[f.data_type]
        assert allowed is not None
        op = f.operator
        if op is None or op not in allowed:
            rule = f"{op!r} is not allowed for {f.data_type}; allowed: {sorted(allowed)}"
            self.add(f"{path}.operator", "required" if op is None else rule)
            return
        if f.filters is not None or f.filter_operator is not None:
            self.add(f"{path}.filters", "only object and array_object attributes have sub-filters")
        if op in NO_VALUE_OPERATORS:
            self.check(f.value is None, f"{path}.value", f"must be absent for {op!r}")
            self.check(f.value1 in (None, ""), f"{path}.value1", f"must be absent for {op!r}")
            return
        if f.is_dynamic_value:
            self.dynamic(f, path)
            return
        if f.dynamic_attribute_type is not None:
            self.add(f"{path}.dynamic_attribute_type", "only with is_dynamic_value: true")
        if op in LIST_OPERATORS or (
            f.data_type == "array_string" and op in ARRAY_STRING_LIST_OPERATORS
        ):
            if not isinstance(f.value, tuple) or not f.value:
                self.add(f"{path}.value", f"{op!r} needs a non-empty list of values")
                return
            for i, item in enumerate(f.value):
                self.element(f, item, f"{path}.value[{i}]")
        elif f.value is None:
            self.add(f"{path}.value", f"required for {op!r}")
            return
        elif isinstance(f.value, tuple):
            self.add(f"{path}.value", f"{op!r} takes a single value, not a list")
            return
        else:
            self.element(f, f.value, f"{path}.value")
        if op != "between":
            self.check(f.value1 in (None, ""), f"{path}.value1", "only 'between' takes value1")
        elif f.value1 is None or f.value1 == "":
            self.add(f"{path}.value1", "required for 'between'")
        elif isinstance(f.value1, tuple):
            self.add(f"{path}.value1", "'between' takes a single upper bound")
        elif self.element(f, f.value1, f"{path}.value1"):
            # Order is only defined for numbers and absolute dates: for relative days
            # and date parts (hours 22 to 6?) the documents do not say which comes first.
            ordered = f.data_type != "datetime" or (
                f.value_type == "absolute" and f.extract_type in (None, "default_option_date")
            )
            if ordered and after(f.value, f.value1):
                self.add(f"{path}.value1", "must not be less than value")

    def dynamic(self, f: AttributeFilter, path: str) -> None:
        if f.data_type in ("double", "array_double") and f.operator == "between":
            self.add(f"{path}.is_dynamic_value", "not available with 'between' on numbers")
        if not isinstance(f.value, str) or not DYNAMIC.match(f.value):
            self.add(f"{path}.value", "must be \"{{MoeUserAttribute['<attribute name>']}}\"")
        self.one_of(
            f.dynamic_attribute_type,
            DynamicAttributeType,
            f"{path}.dynamic_attribute_type",
            "required:",
        )

    def element(self, f: AttributeFilter, v: object, path: str) -> bool:
        """Check one value against the data type; True when it is well-formed."""
        dt = f.data_type
        if dt in ("string", "array_string"):
            return self.check(isinstance(v, str), path, "must be a string")
        if dt in ("double", "array_double"):
            return self.check(is_number(v), path, "must be a number", v)
        if dt == "bool":
            return self.check(isinstance(v, bool), path, "must be true or false")
        if dt == "datetime":
            return self.datetime_value(f, v, path)
        return True

    def datetime_value(self, f: AttributeFilter, v: object, path: str) -> bool:
        base = path[: path.rfind(".value")]  # the filter's path: value_type sits beside value
        et, op, vt = f.extract_type, f.operator, f.value_type
        if et == "date_month_of_the_year":
            ok = isinstance(v, str) and MONTH_DAY.match(v) is not None
            return self.check(ok, path, "must be a month and day as 'MM-DD'")
        if et is not None and et != "default_option_date":
            if et not in EXTRACT_RANGES:
                return self.check(False, f"{base}.extract_type", f"unknown extract_type {et!r}")
            lo, hi = EXTRACT_RANGES[et]
            rule = f"must be an integer in [{lo}, {hi}] for {et}"
            return self.check(is_int(v) and lo <= v <= hi, path, rule, v)  # type: ignore[operator]
        relative = {"inTheLast": "relative_past", "inTheNext": "relative_future"}.get(op or "")
        if relative is not None:
            self.check(vt == relative, f"{base}.value_type", f"must be {relative!r} for {op!r}")
            ok = is_int(v) and v > 0  # type: ignore[operator]
            return self.check(ok, path, f"{op!r} needs a positive integer", v)
        if vt is None:
            return self.check(False, f"{base}.value_type", "required for datetime values")
        if vt == "absolute":
            return self.check(parse_iso(v) is not None, path, f"must be {ISO_FORM}")
        if vt in ("relative_past", "relative_future"):
            ok = is_int(v) and v >= 0  # type: ignore[operator]
            return self.check(ok, path, "a relative datetime must be a non-negative integer", v)
        return self.one_of(vt, ValueType, f"{base}.value_type")

    # -- events ---------------------------------------------------------------------------

    def execution(self, e: Execution, executed: bool | None, path: str) -> None:
        p = f"{path}.execution"
        if not self.one_of(e.type, ExecutionType, f"{p}.type"):
            return
        if e.type in ("firstTime", "lastTime"):
            self.check(e.count is None, f"{p}.count", f"{e.type!r} takes no count")
        elif not is_int(e.count) or e.count < 0:  # type: ignore[operator]
            self.add(f"{p}.count", f"{e.type!r} needs a count, a non-negative integer", e.count)
        elif e.type == "atleast" and e.count == 0:
            self.add(f"{p}.count", "'atleast' needs a count of at least 1")
        if executed is False and (e.type != "exactly" or e.count != 0):
            self.add(p, "an event that was not executed has execution {exactly, count 0}")

    def action(self, f: ActionFilter, path: str) -> None:
        self.check(bool(f.action_name), f"{path}.action_name", "event name must not be empty")
        self.execution(f.execution, f.executed, path)
        self.time_range(f.primary_time_range, f"{path}.primary_time_range")
        if f.attributes is not None:
            self.attribute_group(f.attributes, f"{path}.attributes")
        if f.aggregation_attributes is not None:
            self.aggregation(f, f.aggregation_attributes, f"{path}.aggregation_attributes")

    def time_range(self, t: TimeRange, path: str) -> None:
        if t.days is not None or t.from_ is not None:
            self.dashboard_range(t, path)
            return
        kind, vt = t.type, t.value_type
        if not self.one_of(kind, TimeRangeType, f"{path}.type"):
            return
        if vt not in ("absolute", "relative_past"):
            self.add(f"{path}.value_type", "must be 'absolute' or 'relative_past'")
            return
        if kind == "inTheLast" and vt != "relative_past":
            self.add(f"{path}.value_type", "'inTheLast' is relative_past")
            return
        if kind == "after" and vt != "absolute":
            self.add(f"{path}.value_type", "'after' is absolute")
            return
        values = [("value", t.value)]
        if kind == "between":
            values.append(("value1", t.value1))
        else:
            self.check(t.value1 in (None, ""), f"{path}.value1", "only 'between' takes value1")
        least, need = (1, "a positive") if kind == "inTheLast" else (0, "a non-negative")
        ok = True
        for field, v in values:
            if vt == "absolute":
                ok &= self.check(parse_iso(v) is not None, f"{path}.{field}", f"must be {ISO_FORM}")
            else:
                rule = f"a relative range needs {need} integer"
                ok &= self.check(is_int(v) and v >= least, f"{path}.{field}", rule, v)  # type: ignore[operator]
        if vt == "relative_past":
            self.one_of(t.period_unit, PeriodUnit, f"{path}.period_unit")
        if ok and kind == "between" and vt == "absolute" and after(t.value, t.value1):
            self.add(f"{path}.value1", "must not be before value")

    def dashboard_range(self, t: TimeRange, path: str) -> None:
        # The days/days1 and from/to form of affinity filters and dashboard-built segments.
        if t.value_type not in ("absolute", "relative_past"):
            self.add(f"{path}.value_type", "required: 'absolute' or 'relative_past'")
        if t.value_type == "absolute" or t.from_ is not None:
            for field, v in (("from", t.from_), ("to", t.to)):
                self.check(parse_iso(v) is not None, f"{path}.{field}", f"must be {ISO_FORM}")
        else:
            for field, n in (("days", t.days), ("days1", t.days1)):
                if field == "days" or n is not None:
                    ok = is_int(n) and n >= 0  # type: ignore[operator]
                    self.check(ok, f"{path}.{field}", "must be a non-negative integer", n)

    def aggregation(self, f: ActionFilter, g: AggregationGroup, path: str) -> None:
        self.check(bool(f.executed), path, "aggregation needs executed: true")
        if f.execution.type in ("firstTime", "lastTime"):
            self.add(path, f"aggregation is not available with {f.execution.type!r}")
        if f.primary_time_range.type in ("before", "after"):
            self.add(path, f"aggregation is not available with {f.primary_time_range.type!r}")
        self.operator(g.filter_operator, path)
        self.check(len(g.filters) == 1, f"{path}.filters", "must hold exactly one aggregation")
        for i, a in enumerate(g.filters):
            self.aggregation_filter(a, f"{path}.filters[{i}]")

    def aggregation_filter(self, a: AggregationFilter, path: str) -> None:
        self.check(bool(a.attribute_name), f"{path}.attribute_name", "must not be empty")
        data_type: object = a.data_type  # typed as a Literal, but read leniently from JSON
        self.check(data_type == "double", f"{path}.data_type", "must be 'double'")
        self.one_of(a.aggregation_type, AggregationType, f"{path}.aggregation_type")
        self.one_of(a.operator, AggregationOperator, f"{path}.operator")
        self.check(is_number(a.value), f"{path}.value", "must be a number", a.value)
        if a.operator != "between":
            self.check(a.value1 is None, f"{path}.value1", "only 'between' takes value1")
        elif not is_number(a.value1):
            self.add(f"{path}.value1", "required for 'between': a number", a.value1)
        elif is_number(a.value) and after(a.value, a.value1):
            self.add(f"{path}.value1", "must not be less than value")
        if (a.comparator is None) != (a.base_time_range is None):
            self.add(f"{path}.base_time_range", "required exactly when comparator is set")
        b = a.base_time_range
        if b is not None and b.type == "between":
            for field, v in (("value", b.value), ("value1", b.value1)):
                p = f"{path}.base_time_range.{field}"
                self.check(parse_iso(v) is not None, p, f"must be {ISO_FORM}")

    def affinity(self, f: AffinityFilter, path: str) -> None:
        self.check(bool(f.action_name), f"{path}.action_name", "event name must not be empty")
        self.check(f.executed is not None, f"{path}.executed", "required: true or false")
        self.execution(f.execution, f.executed, path)
        self.one_of(f.operator_type, AffinityOperator, f"{path}.operator_type")
        need = {
            "minimum": "percent_of_times",
            "top": "percent_of_users",
            "bottom": "percent_of_users",
        }
        for field in ("percent_of_times", "percent_of_users"):
            v: Any = getattr(f, field)
            if need.get(f.operator_type) == field:
                rule = f"{f.operator_type!r} needs an integer 1..100"
                self.check(is_int(v) and 1 <= v <= 100, f"{path}.{field}", rule, v)
            elif v is not None:
                self.add(f"{path}.{field}", f"not used with {f.operator_type!r}")
        self.attribute_group(
            f.psychographic_attributes,
            f"{path}.psychographic_attributes",
            data_types=frozenset({"string", "double"}),
        )
        if f.attributes is not None:
            self.attribute_group(f.attributes, f"{path}.attributes")
        self.time_range(f.primary_time_range, f"{path}.primary_time_range")
