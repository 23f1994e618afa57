"""Local validation of segment definitions: every broken rule, each with its path.

Rules come from the founding document and MoEngage's OpenAPI description (see
/work/shared/reference): operators allowed per data type, the value shape each operator needs,
ISO-8601 datetimes in the documented form, relative ranges as integers, execution counts that
match the execution type, and segment names MoEngage accepts. Nothing is sent before a definition
passes, so a mistake costs no quota.

Paths read like the payload: ``included_filters.filters[2].value1``,
``included_filters.filters[0].attributes.filters[1].operator``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from .._exceptions import SegmentValidationError, ValidationIssue
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
    SegmentDefinition,
    SegmentUpdate,
    TimeRange,
)

__all__ = ["validate"]

MAX_NAME_LENGTH = 200

GROUP_OPERATORS = frozenset({"and", "or"})

#: operators allowed for each data type (None: the data type takes no operator)
OPERATORS: dict[str, frozenset[str] | None] = {
    "string": frozenset(
        {
            "is",
            "in",
            "contains",
            "startsWith",
            "endsWith",
            "containsInTheFollowing",
            "startsWithInTheFollowing",
            "endsWithInTheFollowing",
            "exists",
        }
    ),
    "double": frozenset({"is", "in", "lessThan", "greaterThan", "between", "exists"}),
    "bool": frozenset({"is", "exists"}),
    "datetime": frozenset(
        {
            "is",
            "in",
            "on",
            "between",
            "before",
            "after",
            "inTheLast",
            "inTheNext",
            "today",
            "exists",
        }
    ),
    "array_string": frozenset({"is", "in", "contains", "startsWith", "endsWith", "exists"}),
    "array_double": frozenset({"in", "lessThan", "greaterThan", "between", "exists"}),
    "geopoint": None,
    "object": None,
    "array_object": None,
}

#: operators whose value is a list
LIST_OPERATORS = frozenset(
    {"in", "containsInTheFollowing", "startsWithInTheFollowing", "endsWithInTheFollowing"}
)
#: on array_string these take a list too (any/all of the given substrings)
ARRAY_STRING_LIST_OPERATORS = frozenset({"contains", "startsWith", "endsWith"})
#: operators that take no value
NO_VALUE_OPERATORS = frozenset({"exists", "today"})

EXTRACT_RANGES: dict[str, tuple[int, int]] = {
    "time_of_the_day": (0, 23),
    "day_of_the_week": (0, 6),
    "day_of_the_month": (1, 31),
    "month_of_the_year": (1, 12),
}

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_HTML = re.compile(r"[<>]")
_DYNAMIC = re.compile(r"^\{\{MoeUserAttribute\['[^'\]]+'\]\}\}$")

ISO_FORM = "an ISO-8601 datetime like 2024-01-15T00:00:00.000Z"


def validate(defn: SegmentDefinition | SegmentUpdate) -> None:
    """Check ``defn`` against every documented rule.

    Raises :class:`moeseg.SegmentValidationError` carrying all issues (not just the first), each
    with the path of the offending field.
    """
    issues = check(defn)
    if issues:
        raise SegmentValidationError(issues)


def check(defn: SegmentDefinition | SegmentUpdate) -> list[ValidationIssue]:
    """All issues of ``defn`` (empty when valid)."""
    c = _Checker()
    if isinstance(defn, SegmentDefinition) or defn.name is not None:
        c.name(defn.name)
    c.group(defn.included_filters, "included_filters", root=True)
    if defn.excluded_filters is not None:
        c.group(defn.excluded_filters, "excluded_filters", root=False)
    # value and value1 of one filter can break the same rule (a missing value_type): say it once
    return list(dict.fromkeys(c.issues))


# The exact-class test first is only a shortcut for the common case (it runs per value).
def _is_int(v: object) -> bool:
    return v.__class__ is int or (isinstance(v, int) and not isinstance(v, bool))


def _is_number(v: object) -> bool:
    c = v.__class__
    return c is int or c is float or (isinstance(v, (int, float)) and not isinstance(v, bool))


def parse_iso(v: object) -> datetime | None:
    """The datetime of a string in the documented form, or None."""
    if v.__class__ is not str or not _ISO.match(v):
        return None
    s: str = v
    try:
        # by hand: strptime is ten times slower, and this runs for every date in a definition
        return datetime(
            int(s[0:4]),
            int(s[5:7]),
            int(s[8:10]),
            int(s[11:13]),
            int(s[14:16]),
            int(s[17:19]),
            int(s[20:23]) * 1000,
        )
    except ValueError:
        return None


# Fields in range (ASCII digits; year 0 is not a date): only days 29 to 31 need a calendar.
_ISO_IN_RANGE = re.compile(
    r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$"
)


def _is_iso(v: object) -> bool:
    """``parse_iso(v) is not None``, without building the datetime in the common case."""
    if isinstance(v, str) and _ISO_IN_RANGE.match(v) and (v[8:10] <= "28" and v[:4] != "0000"):
        return True
    return parse_iso(v) is not None  # an unusual form or day: the slow test decides


# -- shortcuts ------------------------------------------------------------------------------------
#
# Most conditions are plain (a string ``is``, an ``in`` list, a number range, an absolute date, an
# event in the last N days) and break no rule. The shortcuts below say "breaks no rule" quickly;
# False only means "look closely": the full checks then find the issues (or accept it after all).
# Property tests check that a shortcut never accepts what the full checks reject.

#: how one value ``x`` of a plain condition is checked, by element kind (exact classes: a
#: subclass of int or str is left to the full checks)
_ELEMENT = {
    "str": "x.__class__ is str",
    "num": "(x.__class__ is int or x.__class__ is float)",
    "bool": "(x is True or x is False)",
    "iso": "_is_iso(x)",
    "posint": "(x.__class__ is int and x > 0)",
}


def _plan_source(fname: str, data_type: str, shape: str, element: str, vt: str | None) -> str:
    """A function ``(name, value, value1, value_type, extract_type, array_filter_type) -> bool``
    for one (data type, operator). Shapes: "one" value, a non-empty "list", "none", or a
    "range" (between: value <= value1; ISO strings of the documented form sort like their
    dates)."""
    ok = _ELEMENT[element]
    lines = [f"def {fname}(name, v, v1, vt, et, aft):", "    if not name: return False"]
    if data_type.startswith("array_"):
        lines.append("    if aft is not None and aft != 'any_of' and aft != 'all_of': return False")
    else:
        lines.append("    if aft is not None: return False")
    if vt is not None:
        lines.append(f"    if vt != {vt!r}: return False")
        lines.append("    if et is not None and et != 'default_option_date': return False")
    if shape != "range":
        lines.append("    if not (v1 is None or v1 == ''): return False")
    if shape == "one":
        lines.append(f"    x = v\n    return {ok}")
    elif shape == "list":
        lines.append("    if v.__class__ is not tuple or not v: return False")
        lines.append(f"    for x in v:\n        if not {ok}: return False\n    return True")
    elif shape == "none":
        lines.append("    return v is None")
    else:
        lines.append("    if v is None or v1 is None: return False")
        lines.append(f"    x = v\n    if not {ok}: return False")
        lines.append(f"    x = v1\n    if not {ok}: return False")
        lines.append("    return not v > v1")
    return "\n".join(lines)


def _attribute_plans() -> dict[tuple[str, str], Any]:
    """(data_type, operator) -> the plain check of that kind of condition (absent: no shortcut)."""
    plans: dict[tuple[str, str], tuple[str, str, str | None]] = {}
    for dt, element in (
        ("string", "str"),
        ("array_string", "str"),
        ("double", "num"),
        ("array_double", "num"),
        ("bool", "bool"),
    ):
        for op in OPERATORS[dt] or ():
            if op in NO_VALUE_OPERATORS:
                shape = "none"
            elif op in LIST_OPERATORS or (
                dt == "array_string" and op in ARRAY_STRING_LIST_OPERATORS
            ):
                shape = "list"
            elif op == "between":
                shape = "range"
            else:
                shape = "one"
            plans[dt, op] = (shape, element, None)
    for op in ("on", "before", "after", "is"):
        plans["datetime", op] = ("one", "iso", "absolute")
    plans["datetime", "between"] = ("range", "iso", "absolute")
    plans["datetime", "inTheLast"] = ("one", "posint", "relative_past")
    plans["datetime", "inTheNext"] = ("one", "posint", "relative_future")
    plans["datetime", "exists"] = ("none", "str", None)
    plans["datetime", "today"] = ("none", "str", None)
    env: dict[str, Any] = {"_is_iso": _is_iso}
    names = {}
    src = []
    for i, ((dt, op), (shape, element, vt)) in enumerate(sorted(plans.items())):
        names[dt, op] = f"_plan_{i}"
        src.append(_plan_source(f"_plan_{i}", dt, shape, element, vt))
    # generated just above from the tables of this module, nothing comes from outside
    exec(compile("\n".join(src), "<moeseg validation plans>", "exec"), env)
    return {key: env[fname] for key, fname in names.items()}


def _plain_name(name: str) -> bool:
    return (
        bool(name)
        and bool(name.strip())
        and len(name) <= MAX_NAME_LENGTH
        and ("<" not in name and ">" not in name)
    )


_PERIOD_UNITS = frozenset({"hours", "days", "weeks", "months"})


def _plain_event(executed: bool, e: Execution, t: TimeRange) -> bool:
    """An event's execution and time range break no rule (plain: "in the last N units")."""
    kind: object = e.type  # typed as Literals, but read leniently from JSON
    n: Any = e.count
    if kind == "atleast":
        if n.__class__ is not int or n < 1:
            return False
    elif kind == "exactly" or kind == "atmost":
        if n.__class__ is not int or n < 0:
            return False
    elif kind == "firstTime" or kind == "lastTime":
        if n is not None:
            return False
    else:
        return False
    if executed is False and (kind != "exactly" or n != 0):
        return False
    v: Any = t.value
    return (
        t.type == "inTheLast"
        and t.value_type == "relative_past"
        and t.days is None
        and t.from_ is None
        and v.__class__ is int
        and v > 0
        and (t.value1 is None or t.value1 == "")
        and t.period_unit in _PERIOD_UNITS
    )


#: The shortcut rule of each node of a definition, over its own fields (``{field}`` stands for
#: the field's value, already of the right JSON type): True only when the node breaks no rule
#: of its own. Its children have their own rules (Execution and TimeRange are checked by the
#: action's rule). The fast reader of a definition runs them on the values it has just read and
#: runs the full checks only when one says False. Rules only hold together: a group's rule does
#: not check that its members are plain.
SHORTCUT_RULES: dict[type[Any], str] = {
    SegmentDefinition: "_plain_name({name}) and len({included_filters}.filters) > 0",
    SegmentUpdate: (
        "({name} is None or _plain_name({name})) and len({included_filters}.filters) > 0"
    ),
    FilterGroup: "{filter_operator} in _GROUP_OPERATORS",
    NestedFilter: "{filter_operator} in _GROUP_OPERATORS and len({filters}) > 0",
    CustomSegmentFilter: "{id} != ''",
    AffinityFilter: "False",  # rare: always the full checks
    ActionFilter: (
        "{action_name} != '' and {aggregation_attributes} is None"
        " and _plain_event({executed}, {execution}, {primary_time_range})"
    ),
    AttributeGroup: "{filter_operator} in _GROUP_OPERATORS",
    AttributeFilter: (
        "(_p := _ATTRIBUTE_PLANS.get(({data_type}, {operator}))) is not None"
        " and {radius} is None and {filter_operator} is None and {filters} is None"
        " and not {is_dynamic_value} and {dynamic_attribute_type} is None"
        " and _p({name}, {value}, {value1}, {value_type}, {extract_type}, {array_filter_type})"
    ),
}
#: the names the rules use
SHORTCUT_ENV: dict[str, Any] = {
    "_ATTRIBUTE_PLANS": _attribute_plans(),
    "_GROUP_OPERATORS": GROUP_OPERATORS,
    "_plain_name": _plain_name,
    "_plain_event": _plain_event,
}


def _attribute_shortcut() -> Any:
    fields = [a.name for a in attrs.fields(AttributeFilter)]
    rule = SHORTCUT_RULES[AttributeFilter].format(**{n: f"f.{n}" for n in fields})
    env = dict(SHORTCUT_ENV)
    # generated from the rule just above, nothing comes from outside
    exec(compile(f"def _plainly_valid(f):\n    return {rule}", "<moeseg shortcut>", "exec"), env)
    return env["_plainly_valid"]


#: True only when an attribute condition ``f`` breaks no rule (the same rule as the reader's)
_plainly_valid: Callable[[AttributeFilter], bool] = _attribute_shortcut()


class _Checker:
    """Walks a definition and collects issues; one method per kind of node."""

    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []

    def add(self, path: str, rule: str) -> None:
        self.issues.append(ValidationIssue(path, rule))

    # -- names and groups -----------------------------------------------------------------

    def name(self, name: object, path: str = "name") -> None:
        if not isinstance(name, str) or not name:
            self.add(path, "segment name must not be empty")
        elif not name.strip():
            self.add(path, "segment name must not be only whitespace")
        else:
            if _HTML.search(name):
                self.add(path, "segment name must not contain HTML characters (< or >)")
            if len(name) > MAX_NAME_LENGTH:
                self.add(path, f"segment name must be at most {MAX_NAME_LENGTH} characters")

    def operator(self, op: object, path: str) -> None:
        if op not in GROUP_OPERATORS:
            self.add(f"{path}.filter_operator", f"must be 'and' or 'or', got {op!r}")

    def group(self, group: FilterGroup | NestedFilter, path: str, *, root: bool) -> None:
        self.operator(group.filter_operator, path)
        # An empty excluded_filters group means "exclude nobody"; elsewhere it is a mistake.
        if not group.filters and (root or isinstance(group, NestedFilter)):
            self.add(f"{path}.filters", "must hold at least one filter")
        for i, member in enumerate(group.filters):
            if member.__class__ is AttributeFilter and _plainly_valid(member):
                continue
            p = f"{path}.filters[{i}]"
            # attrs does not check types at runtime: anything may have been put in a group.
            f: object = member
            if isinstance(f, AttributeFilter):
                self.attribute(f, p)
            elif isinstance(f, ActionFilter):
                self.action(f, p)
            elif isinstance(f, NestedFilter):
                self.group(f, p, root=False)
            elif isinstance(f, CustomSegmentFilter):
                if not f.id:
                    self.add(f"{p}.id", "segment id must not be empty")
            elif isinstance(f, AffinityFilter):
                self.affinity(f, p)
            else:
                self.add(p, f"not a filter: {type(f).__name__}")

    def attribute_group(
        self, group: AttributeGroup, path: str, data_types: frozenset[str] | None = None
    ) -> None:
        self.operator(group.filter_operator, path)
        for i, f in enumerate(group.filters):
            if data_types is None and f.__class__ is AttributeFilter and _plainly_valid(f):
                continue
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
            if not _is_number(v) or not lo <= v <= hi:
                self.add(f"{path}.{field}", f"must be the {what}, a number in [{lo}, {hi}]")
        if not _is_number(f.radius) or f.radius <= 0:  # type: ignore[operator]
            self.add(f"{path}.radius", "must be a positive number")

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
                if ok and ordered and self.after(f.value, f.value1):
                    self.add(f"{path}.value1", "must not be less than value")
        elif f.value1 not in (None, ""):
            self.add(f"{path}.value1", "only 'between' takes value1")

    def dynamic(self, f: AttributeFilter, path: str) -> None:
        if f.data_type in ("double", "array_double") and f.operator == "between":
            self.add(f"{path}.is_dynamic_value", "not available with 'between' on numbers")
        if not isinstance(f.value, str) or not _DYNAMIC.match(f.value):
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
            if not _is_number(v):
                self.add(path, "must be a number")
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
                if not isinstance(v, str) or not _MONTH_DAY.match(v):
                    self.add(path, "must be a month and day as 'MM-DD'")
                    return False
                return True
            rng = EXTRACT_RANGES.get(et)
            if rng is None:
                self.add(f"{base}.extract_type", f"unknown extract_type {et!r}")
                return False
            if not _is_int(v) or not rng[0] <= v <= rng[1]:  # type: ignore[operator]
                self.add(path, f"must be an integer in [{rng[0]}, {rng[1]}] for {et}")
                return False
            return True
        op = f.operator
        vt = f.value_type
        relative_ops = {"inTheLast": "relative_past", "inTheNext": "relative_future"}
        if op in relative_ops:
            if vt != relative_ops[op]:
                self.add(f"{base}.value_type", f"must be {relative_ops[op]!r} for {op!r}")
            if not _is_int(v) or v <= 0:  # type: ignore[operator]
                self.add(path, f"{op!r} needs a positive integer")
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
            if not _is_int(v) or v < 0:  # type: ignore[operator]
                self.add(path, "a relative datetime must be a non-negative integer")
                return False
            return True
        self.add(f"{base}.value_type", "must be absolute, relative_past or relative_future")
        return False

    @staticmethod
    def after(lo: object, hi: object) -> bool:
        """True when lo > hi (both already well-formed)."""
        if isinstance(lo, str) and isinstance(hi, str):
            a, b = parse_iso(lo), parse_iso(hi)
            if a is not None and b is not None:
                return a > b
            return lo > hi
        if _is_number(lo) and _is_number(hi):
            return bool(lo > hi)  # type: ignore[operator]
        return False

    # -- events ---------------------------------------------------------------------------

    def execution(self, e: Execution, executed: bool | None, path: str) -> None:
        p = f"{path}.execution"
        if e.type in ("atleast", "exactly", "atmost"):
            if not _is_int(e.count) or e.count < 0:  # type: ignore[operator]
                self.add(f"{p}.count", f"{e.type!r} needs a count, a non-negative integer")
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
            elif not _is_int(v) or v < (1 if kind == "inTheLast" else 0):  # type: ignore[operator]
                need = "a positive integer" if kind == "inTheLast" else "a non-negative integer"
                self.add(f"{path}.{field}", f"a relative range needs {need}")
                ok = False
        if vt == "relative_past" and t.period_unit not in ("hours", "days", "weeks", "months"):
            self.add(f"{path}.period_unit", "must be hours, days, weeks or months")
        if ok and kind == "between" and vt == "absolute" and self.after(t.value, t.value1):
            self.add(f"{path}.value1", "must not be before value")

    def dashboard_range(self, t: TimeRange, path: str) -> None:
        # The days/days1 and from/to form of affinity filters and dashboard-built segments.
        if t.value_type == "absolute" or t.from_ is not None:
            for field, v in (("from", t.from_), ("to", t.to)):
                if parse_iso(v) is None:
                    self.add(f"{path}.{field}", f"must be {ISO_FORM}")
        else:
            for field, n in (("days", t.days), ("days1", t.days1)):
                if (field == "days" or n is not None) and (not _is_int(n) or n < 0):  # type: ignore[operator]
                    self.add(f"{path}.{field}", "must be a non-negative integer")

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
        if not _is_number(a.value):
            self.add(f"{path}.value", "must be a number")
        if a.operator == "between":
            if not _is_number(a.value1):
                self.add(f"{path}.value1", "required for 'between': a number")
            elif _is_number(a.value) and self.after(a.value, a.value1):
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
                if not _is_int(v) or not 1 <= v <= 100:
                    self.add(f"{path}.{field}", f"{f.operator_type!r} needs an integer 1..100")
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
