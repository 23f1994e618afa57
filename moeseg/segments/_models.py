"""Segment definitions: frozen attrs classes mirroring MoEngage's v3 filter grammar.

The classes hold data only: the wire format lives in ``_codec`` (optional fields are ``None``
when absent; ``Literal`` fields are read leniently), the rules in ``_validation``, and the roots
that validate their whole tree when built (``SegmentDefinition``, ``SegmentUpdate``) in
``_requests``.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

__all__ = [
    "ActionFilter",
    "AffinityFilter",
    "AggregationFilter",
    "AggregationGroup",
    "AttributeFilter",
    "AttributeGroup",
    "BaseTimeRange",
    "CustomSegmentFilter",
    "Execution",
    "Filter",
    "FilterGroup",
    "NestedFilter",
    "TimeRange",
]

FilterOperator: TypeAlias = Literal["and", "or"]
DataType: TypeAlias = Literal[
    "string",
    "double",
    "bool",
    "datetime",
    "geopoint",
    "array_string",
    "array_double",
    "object",
    "array_object",
]
Operator: TypeAlias = Literal[
    "is",
    "in",
    "contains",
    "containsInTheFollowing",
    "startsWith",
    "startsWithInTheFollowing",
    "endsWith",
    "endsWithInTheFollowing",
    "exists",
    "lessThan",
    "greaterThan",
    "between",
    "on",
    "before",
    "after",
    "inTheLast",
    "inTheNext",
    "today",
]
ValueType: TypeAlias = Literal["absolute", "relative_past", "relative_future"]
ExtractType: TypeAlias = Literal[
    "default_option_date",
    "time_of_the_day",
    "day_of_the_week",
    "day_of_the_month",
    "month_of_the_year",
    "date_month_of_the_year",
]
ArrayFilterType: TypeAlias = Literal["any_of", "all_of"]
ExecutionType: TypeAlias = Literal["atleast", "exactly", "atmost", "firstTime", "lastTime"]
TimeRangeType: TypeAlias = Literal["inTheLast", "between", "on", "before", "after"]
PeriodUnit: TypeAlias = Literal["hours", "days", "weeks", "months"]
AggregationType: TypeAlias = Literal["sum", "avg", "min", "max", "median"]
AffinityOperator: TypeAlias = Literal["predominant", "minimum", "top", "bottom"]
AggregationOperator: TypeAlias = Literal["is", "between", "lessThan", "greaterThan"]
DynamicAttributeType: TypeAlias = Literal["string", "double", "bool", "datetime"]

#: A scalar filter value as it appears in JSON.
Scalar: TypeAlias = str | int | float | bool
#: A filter value: a scalar, or a tuple of them for ``in`` and the ``*InTheFollowing`` operators.
Value: TypeAlias = str | int | float | bool | tuple[str | int | float, ...]
#: A JSON number (ints stay ints so that payloads are written back unchanged).
Number: TypeAlias = int | float


@attrs.frozen(slots=True)
class AttributeFilter:
    """A condition on a user attribute (``filter_type: user_attributes``).

    The same class is used, without the ``filter_type`` tag, for event-attribute conditions inside
    an action's ``attributes`` group, for affinity attributes, and for the sub-filters of
    ``object`` / ``array_object`` attributes (which use ``filter_operator`` and ``filters``
    instead of ``operator`` and ``value``).
    """

    name: str
    data_type: DataType
    operator: Operator | None = None
    value: Value | None = None
    value1: Value | None = None
    negate: bool | None = None
    case_sensitive: bool | None = None
    category: str | None = None
    value_type: ValueType | None = None
    extract_type: ExtractType | None = None
    radius: Number | None = None
    array_filter_type: ArrayFilterType | None = None
    filter_operator: FilterOperator | None = None
    filters: tuple[AttributeFilter, ...] | None = None
    is_dynamic_value: bool | None = None
    dynamic_attribute_type: DynamicAttributeType | None = None


@attrs.frozen(slots=True)
class AttributeGroup:
    """An and/or group of attribute conditions (an action's ``attributes``, affinity attributes)."""

    filter_operator: FilterOperator = "and"
    filters: tuple[AttributeFilter, ...] = ()


@attrs.frozen(slots=True)
class Execution:
    """How often the event happened: ``atleast``/``exactly``/``atmost`` with ``count``, or
    ``firstTime``/``lastTime`` without."""

    type: ExecutionType
    count: int | None = None


@attrs.frozen(slots=True)
class TimeRange:
    """An event's ``primary_time_range``.

    Actions use ``value``/``value1``/``period_unit``; affinity filters and segments built in the
    dashboard use ``days``/``days1`` (relative) or ``from_``/``to`` (absolute, ``from`` on the
    wire).
    """

    type: TimeRangeType
    value_type: ValueType | None = None
    value: Scalar | None = None
    value1: Scalar | None = None
    period_unit: PeriodUnit | None = None
    days: int | None = None
    days1: int | None = None
    from_: str | None = None
    to: str | None = None


@attrs.frozen(slots=True)
class BaseTimeRange:
    """The earlier window an aggregation with a ``comparator`` is compared against."""

    type: Literal["previousPeriod", "between"]
    value: str | None = None
    value1: str | None = None


@attrs.frozen(slots=True)
class AggregationFilter:
    """A condition on an aggregate (sum, avg, ...) of a numeric event attribute."""

    attribute_name: str
    aggregation_type: AggregationType
    operator: AggregationOperator
    value: Value
    data_type: Literal["double"] = "double"
    value1: Value | None = None
    negate: bool | None = None
    is_dynamic_value: bool | None = None
    comparator: Literal["change", "percentageChange"] | None = None
    base_time_range: BaseTimeRange | None = None


@attrs.frozen(slots=True)
class AggregationGroup:
    """The ``aggregation_attributes`` block of an action (documented to hold one filter)."""

    filter_operator: FilterOperator
    filters: tuple[AggregationFilter, ...]


@attrs.frozen(slots=True)
class ActionFilter:
    """The user did (or did not) perform an event (``filter_type: actions``).

    ``attributes`` is kept as given (None when absent); MoEngage requires the group on a request,
    so the request body carries an empty one where it is None (see ``request_body``).
    """

    action_name: str
    executed: bool
    execution: Execution
    primary_time_range: TimeRange
    attributes: AttributeGroup | None = None
    aggregation_attributes: AggregationGroup | None = None
    project_name: str | None = None


@attrs.frozen(slots=True)
class AffinityFilter:
    """Behavioural affinity over an event (``filter_type: psychographic_event``)."""

    action_name: str
    execution: Execution
    operator_type: AffinityOperator
    psychographic_attributes: AttributeGroup
    primary_time_range: TimeRange
    executed: bool | None = None
    percent_of_times: int | None = None
    percent_of_users: int | None = None
    attributes: AttributeGroup | None = None


@attrs.frozen(slots=True)
class CustomSegmentFilter:
    """Membership of a saved segment, by id (``filter_type: custom_segments``).

    ``name`` is a display label only; MoEngage resolves the segment by ``id``.
    """

    id: str
    name: str | None = None


@attrs.frozen(slots=True)
class NestedFilter:
    """An and/or group inside a group (``filter_type: nested_filters``)."""

    filter_operator: FilterOperator
    filters: tuple[Filter, ...]


#: Any member of a filter group; the wire tag ``filter_type`` tells them apart.
Filter: TypeAlias = (
    AttributeFilter | ActionFilter | NestedFilter | CustomSegmentFilter | AffinityFilter
)


@attrs.frozen(slots=True)
class FilterGroup:
    """The root ``included_filters`` / ``excluded_filters`` group."""

    filter_operator: FilterOperator
    filters: tuple[Filter, ...]
