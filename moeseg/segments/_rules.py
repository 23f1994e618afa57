"""The documented rules as data: operators per data type, value shapes, datetime forms.

From the founding document and MoEngage's OpenAPI description (see /work/shared/reference);
``_validation`` applies them to a definition, ``_fingerprint`` reads the list operators.
"""

from __future__ import annotations

import re
from datetime import datetime

from ._limits import number_problem

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

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
HTML = re.compile(r"[<>]")
DYNAMIC = re.compile(r"^\{\{MoeUserAttribute\['[^'\]]+'\]\}\}$")

ISO_FORM = "an ISO-8601 datetime like 2024-01-15T00:00:00.000Z"


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and number_problem(v) is None


def is_number(v: object) -> bool:
    return is_int(v) or (isinstance(v, float) and number_problem(v) is None)


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
        if a is not None and b is not None:
            return a > b
        return lo > hi
    if is_number(lo) and is_number(hi):
        return bool(lo > hi)  # type: ignore[operator]
    return False
