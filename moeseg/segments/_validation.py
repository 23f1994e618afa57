"""Local validation of segment definitions: every broken rule, each with its path.

Rules come from the founding document and MoEngage's OpenAPI description: operators allowed per
data type, the value shape each operator needs, ISO-8601 datetimes in the documented form,
relative ranges as integers, execution counts that match the execution type, segment names
MoEngage accepts, and moeseg's assumed size limits (:class:`Limits`). Nothing is sent before a
definition passes, so a mistake costs no quota.

Paths read like the payload: ``included_filters.filters[2].value1``,
``included_filters.filters[0].attributes.filters[1].operator``.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ValidationIssue
from ._limits import Limits, number_problem
from ._models import (
    ActionFilter,
    AffinityFilter,
    AggregationFilter,
    AggregationGroup,
    AttributeFilter,
    AttributeGroup,
    CustomSegmentFilter,
    Execution,
    FilterGroup,
    NestedFilter,
    TimeRange,
)
from ._rules import (
    ARRAY_STRING_LIST_OPERATORS,
    DYNAMIC,
    EXTRACT_RANGES,
    GROUP_OPERATORS,
    HTML,
    ISO_FORM,
    LIST_OPERATORS,
    MAX_NAME_LENGTH,
    MONTH_DAY,
    NO_VALUE_OPERATORS,
    OPERATORS,
    after,
    is_int,
    is_number,
    parse_iso,
)

__all__ = ["check_tree"]


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

    def count_filter(self, path: str, n: int = 1) -> None:
        before, self.filters = self.filters, self.filters + n
        if before <= self.limits.max_filters < self.filters:  # said once, where it happens
            self.add(path, self.limits.too_many("filters", "max_filters"))

    # -- names and groups -----------------------------------------------------------------

    def name(self, name: object, path: str = "name") -> None:
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
        if op not in GROUP_OPERATORS:
            self.add(f"{path}.filter_operator", f"must be 'and' or 'or', got {op!r}")

    def group(
        self, group: FilterGroup | NestedFilter, path: str, *, root: bool, depth: int
    ) -> None:
        if depth > self.limits.max_depth:
            if not self.too_deep:  # said once; deeper levels are not walked
                self.too_deep = True
                self.add(path, self.limits.too_many("levels of nesting", "max_depth"))
            return
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
                if not f.id:
                    self.add(f"{p}.id", "segment id must not be empty")
            elif isinstance(f, AffinityFilter):
                self.affinity(f, p)
            else:
                self.add(p, f"not a filter: {type(f).__name__}")

    def segment(self, f: CustomSegmentFilter, path: str, depth: int) -> None:
        lim = self.limits
        # the referenced segment is at least one more level (its own is not known here)
        if depth + 1 > lim.max_depth and not self.too_deep:
            self.too_deep = True
            self.add(
                path, lim.too_many("levels of nesting (a referenced segment is one)", "max_depth")
            )
        before = len(self.segment_ids)
        self.segment_ids.add(f.id)
        if before == lim.max_segment_refs < len(self.segment_ids):
            self.add(path, lim.too_many("referenced segments", "max_segment_refs"))

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
        if not f.name:
            self.add(f"{path}.name", "attribute name must not be empty")
        if f.data_type not in OPERATORS:
            self.add(
                f"{path}.data_type", f"must be one of {sorted(OPERATORS)}, got {f.data_type!r}"
            )
            return
        if f.array_filter_type is not None:
            if not f.data_type.startswith("array_") or f.data_type == "array_object":
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
            if not is_number(v) or not lo <= v <= hi:
                self.add(f"{path}.{field}", f"must be the {what}, a number in [{lo}, {hi}]", v)
        if not is_number(f.radius) or f.radius <= 0:  # type: ignore[operator]
            self.add(f"{path}.radius", "must be a positive number", f.radius)

    def scalar_attribute(self, f: AttributeFilter, path: str) -> None:
        allowed = OPERATORS[f.data_type]
        assert allowed is not None
        op = f.operator
        if op is None:
            self.add(f"{path}.operator", "required")
            return
        if op not in allowed:
            self.add(
                f"{path}.operator",
                f"{op!r} is not allowed for {f.data_type}; allowed: {sorted(allowed)}",
            )
            return
        if f.filters is not None or f.filter_operator is not None:
            self.add(f"{path}.filters", "only object and array_object attributes have sub-filters")
        if op in NO_VALUE_OPERATORS:
            if f.value is not None:
                self.add(f"{path}.value", f"must be absent for {op!r}")
            if f.value1 not in (None, ""):
                self.add(f"{path}.value1", f"must be absent for {op!r}")
            return
        if f.is_dynamic_value:
            self.dynamic(f, path)
            return
        if f.dynamic_attribute_type is not None:
            self.add(f"{path}.dynamic_attribute_type", "only with is_dynamic_value: true")
        wants_list = op in LIST_OPERATORS or (
            f.data_type == "array_string" and op in ARRAY_STRING_LIST_OPERATORS
        )
        if wants_list:
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
        if op == "between":
            if f.value1 is None or f.value1 == "":
                self.add(f"{path}.value1", "required for 'between'")
            elif isinstance(f.value1, tuple):
                self.add(f"{path}.value1", "'between' takes a single upper bound")
            else:
                ok = self.element(f, f.value1, f"{path}.value1")
                # Order is only defined for numbers and absolute dates: for relative days
                # and date parts (hours 22 to 6?) the documents do not say which comes first.
                ordered = f.data_type != "datetime" or (
                    f.value_type == "absolute" and f.extract_type in (None, "default_option_date")
                )
                if ok and ordered and after(f.value, f.value1):
                    self.add(f"{path}.value1", "must not be less than value")
        elif f.value1 not in (None, ""):
            self.add(f"{path}.value1", "only 'between' takes value1")

    def dynamic(self, f: AttributeFilter, path: str) -> None:
        if f.data_type in ("double", "array_double") and f.operator == "between":
            self.add(f"{path}.is_dynamic_value", "not available with 'between' on numbers")
        if not isinstance(f.value, str) or not DYNAMIC.match(f.value):
            self.add(f"{path}.value", "must be \"{{MoeUserAttribute['<attribute name>']}}\"")
        if f.dynamic_attribute_type not in ("string", "double", "bool", "datetime"):
            self.add(f"{path}.dynamic_attribute_type", "required: string, double, bool or datetime")

    def element(self, f: AttributeFilter, v: object, path: str) -> bool:
        """Check one value against the data type; True when it is well-formed."""
        dt = f.data_type
        if dt in ("string", "array_string"):
            if not isinstance(v, str):
                self.add(path, "must be a string")
                return False
        elif dt in ("double", "array_double"):
            if not is_number(v):
                self.add(path, "must be a number", v)
                return False
        elif dt == "bool":
            if not isinstance(v, bool):
                self.add(path, "must be true or false")
                return False
        elif dt == "datetime":
            return self.datetime_value(f, v, path)
        return True

    def datetime_value(self, f: AttributeFilter, v: object, path: str) -> bool:
        base = path[: path.rfind(".value")]  # the filter's path: value_type sits beside value
        et = f.extract_type
        if et is not None and et != "default_option_date":
            if et == "date_month_of_the_year":
                if not isinstance(v, str) or not MONTH_DAY.match(v):
                    self.add(path, "must be a month and day as 'MM-DD'")
                    return False
                return True
            rng = EXTRACT_RANGES.get(et)
            if rng is None:
                self.add(f"{base}.extract_type", f"unknown extract_type {et!r}")
                return False
            if not is_int(v) or not rng[0] <= v <= rng[1]:  # type: ignore[operator]
                self.add(path, f"must be an integer in [{rng[0]}, {rng[1]}] for {et}", v)
                return False
            return True
        op = f.operator
        vt = f.value_type
        relative_ops = {"inTheLast": "relative_past", "inTheNext": "relative_future"}
        if op in relative_ops:
            if vt != relative_ops[op]:
                self.add(f"{base}.value_type", f"must be {relative_ops[op]!r} for {op!r}")
            if not is_int(v) or v <= 0:  # type: ignore[operator]
                self.add(path, f"{op!r} needs a positive integer", v)
                return False
            return True
        if vt is None:
            self.add(f"{base}.value_type", "required for datetime values")
            return False
        if vt == "absolute":
            if parse_iso(v) is None:
                self.add(path, f"must be {ISO_FORM}")
                return False
            return True
        if vt in ("relative_past", "relative_future"):
            if not is_int(v) or v < 0:  # type: ignore[operator]
                self.add(path, "a relative datetime must be a non-negative integer", v)
                return False
            return True
        self.add(f"{base}.value_type", "must be absolute, relative_past or relative_future")
        return False

    # -- events ---------------------------------------------------------------------------

    def execution(self, e: Execution, executed: bool | None, path: str) -> None:
        p = f"{path}.execution"
        if e.type in ("atleast", "exactly", "atmost"):
            if not is_int(e.count) or e.count < 0:  # type: ignore[operator]
                self.add(f"{p}.count", f"{e.type!r} needs a count, a non-negative integer", e.count)
            elif e.type == "atleast" and e.count == 0:
                self.add(f"{p}.count", "'atleast' needs a count of at least 1")
        elif e.type in ("firstTime", "lastTime"):
            if e.count is not None:
                self.add(f"{p}.count", f"{e.type!r} takes no count")
        else:
            self.add(f"{p}.type", "must be atleast, exactly, atmost, firstTime or lastTime")
            return
        if executed is False and (e.type != "exactly" or e.count != 0):
            self.add(p, "an event that was not executed has execution {exactly, count 0}")

    def action(self, f: ActionFilter, path: str) -> None:
        if not f.action_name:
            self.add(f"{path}.action_name", "event name must not be empty")
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
        kind = t.type
        if kind not in ("inTheLast", "between", "on", "before", "after"):
            self.add(f"{path}.type", "must be inTheLast, between, on, before or after")
            return
        vt = t.value_type
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
        elif t.value1 not in (None, ""):
            self.add(f"{path}.value1", "only 'between' takes value1")
        ok = True
        for field, v in values:
            if vt == "absolute":
                if parse_iso(v) is None:
                    self.add(f"{path}.{field}", f"must be {ISO_FORM}")
                    ok = False
            elif not is_int(v) or v < (1 if kind == "inTheLast" else 0):  # type: ignore[operator]
                need = "a positive integer" if kind == "inTheLast" else "a non-negative integer"
                self.add(f"{path}.{field}", f"a relative range needs {need}", v)
                ok = False
        if vt == "relative_past" and t.period_unit not in ("hours", "days", "weeks", "months"):
            self.add(f"{path}.period_unit", "must be hours, days, weeks or months")
        if ok and kind == "between" and vt == "absolute" and after(t.value, t.value1):
            self.add(f"{path}.value1", "must not be before value")

    def dashboard_range(self, t: TimeRange, path: str) -> None:
        # The days/days1 and from/to form of affinity filters and dashboard-built segments.
        if t.value_type not in ("absolute", "relative_past"):
            self.add(f"{path}.value_type", "required: 'absolute' or 'relative_past'")
        if t.value_type == "absolute" or t.from_ is not None:
            for field, v in (("from", t.from_), ("to", t.to)):
                if parse_iso(v) is None:
                    self.add(f"{path}.{field}", f"must be {ISO_FORM}")
        else:
            for field, n in (("days", t.days), ("days1", t.days1)):
                if (field == "days" or n is not None) and (not is_int(n) or n < 0):  # type: ignore[operator]
                    self.add(f"{path}.{field}", "must be a non-negative integer", n)

    def aggregation(self, f: ActionFilter, g: AggregationGroup, path: str) -> None:
        if not f.executed:
            self.add(path, "aggregation needs executed: true")
        if f.execution.type in ("firstTime", "lastTime"):
            self.add(path, f"aggregation is not available with {f.execution.type!r}")
        if f.primary_time_range.type in ("before", "after"):
            self.add(path, f"aggregation is not available with {f.primary_time_range.type!r}")
        self.operator(g.filter_operator, path)
        if len(g.filters) != 1:
            self.add(f"{path}.filters", "must hold exactly one aggregation")
        for i, a in enumerate(g.filters):
            self.aggregation_filter(a, f"{path}.filters[{i}]")

    def aggregation_filter(self, a: AggregationFilter, path: str) -> None:
        if not a.attribute_name:
            self.add(f"{path}.attribute_name", "must not be empty")
        data_type: object = a.data_type  # typed as a Literal, but read leniently from JSON
        if data_type != "double":
            self.add(f"{path}.data_type", "must be 'double'")
        if a.aggregation_type not in ("sum", "avg", "min", "max", "median"):
            self.add(f"{path}.aggregation_type", "must be sum, avg, min, max or median")
        if a.operator not in ("is", "between", "lessThan", "greaterThan"):
            self.add(f"{path}.operator", "must be is, between, lessThan or greaterThan")
        if not is_number(a.value):
            self.add(f"{path}.value", "must be a number", a.value)
        if a.operator == "between":
            if not is_number(a.value1):
                self.add(f"{path}.value1", "required for 'between': a number", a.value1)
            elif is_number(a.value) and after(a.value, a.value1):
                self.add(f"{path}.value1", "must not be less than value")
        elif a.value1 is not None:
            self.add(f"{path}.value1", "only 'between' takes value1")
        if (a.comparator is None) != (a.base_time_range is None):
            self.add(f"{path}.base_time_range", "required exactly when comparator is set")
        b = a.base_time_range
        if b is not None and b.type == "between":
            for field, v in (("value", b.value), ("value1", b.value1)):
                if parse_iso(v) is None:
                    self.add(f"{path}.base_time_range.{field}", f"must be {ISO_FORM}")

    def affinity(self, f: AffinityFilter, path: str) -> None:
        if not f.action_name:
            self.add(f"{path}.action_name", "event name must not be empty")
        if f.executed is None:
            self.add(f"{path}.executed", "required: true or false")
        self.execution(f.execution, f.executed, path)
        need = {
            "minimum": "percent_of_times",
            "top": "percent_of_users",
            "bottom": "percent_of_users",
        }
        if f.operator_type not in ("predominant", "minimum", "top", "bottom"):
            self.add(f"{path}.operator_type", "must be predominant, minimum, top or bottom")
        for field in ("percent_of_times", "percent_of_users"):
            v: Any = getattr(f, field)
            if need.get(f.operator_type) == field:
                if not is_int(v) or not 1 <= v <= 100:
                    self.add(f"{path}.{field}", f"{f.operator_type!r} needs an integer 1..100", v)
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
