"""A builder that reads like the segment it builds, and produces the ordinary models.

    from moeseg import attr, days, did, segment

    defn = segment(
        "berlin-email-openers",
        attr("City").is_("Berlin") & did("MOE_EMAIL_SENT", at_least=1, in_the_last=days(7)),
        exclude=attr("is_test_user").is_(True),
    )

``&`` and ``|`` combine conditions into and/or groups (flattened: ``a & b & c`` is one group),
``~`` negates (``negate: true`` on attributes, "did not" on events, De Morgan on groups). The
data type of an attribute follows from the value (str, number, bool, date/datetime) unless given.
The result is validated like any :class:`moeseg.SegmentDefinition`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timezone
from typing import Any, Literal

import attrs

from ._limits import DEFAULT_LIMITS, Limits
from ._models import (
    ActionFilter,
    AttributeFilter,
    AttributeGroup,
    CustomSegmentFilter,
    DataType,
    Execution,
    Filter,
    FilterGroup,
    NestedFilter,
    PeriodUnit,
    TimeRange,
)
from ._requests import SegmentDefinition

__all__ = [
    "AttributeRef",
    "Condition",
    "Period",
    "attr",
    "days",
    "did",
    "did_not",
    "hours",
    "in_segment",
    "months",
    "segment",
    "weeks",
]

Moment = date | datetime | str


@attrs.frozen(slots=True)
class Period:
    """A relative length of time: ``days(7)``, ``hours(12)``, ``weeks(2)``, ``months(1)``."""

    count: int
    unit: PeriodUnit


def hours(n: int) -> Period:
    """``n`` hours (for event time ranges)."""
    return Period(n, "hours")


def days(n: int) -> Period:
    """``n`` days."""
    return Period(n, "days")


def weeks(n: int) -> Period:
    """``n`` weeks (for event time ranges)."""
    return Period(n, "weeks")


def months(n: int) -> Period:
    """``n`` months (for event time ranges)."""
    return Period(n, "months")


def _iso(moment: Moment, *, end_of_day: bool = False) -> str:
    """The documented form ``YYYY-MM-DDTHH:MM:SS.sssZ``; a date means its start (or its end,
    for the upper bound of a range, as the dashboard does); naive datetimes are UTC."""
    if isinstance(moment, str):
        return moment
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time.max if end_of_day else time.min)
    elif moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- expressions ----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Condition:
    """A condition, or an and/or group of conditions, not yet placed in a segment.

    Combine with ``&`` (and), ``|`` (or) and ``~`` (not); pass to :func:`segment`.
    """

    op: Literal["leaf", "and", "or"]
    parts: tuple[Condition, ...] = ()
    leaf: Filter | None = None

    def __and__(self, other: Condition) -> Condition:
        return self._join("and", other)

    def __or__(self, other: Condition) -> Condition:
        return self._join("or", other)

    def __invert__(self) -> Condition:
        if self.leaf is not None:
            return Condition("leaf", leaf=_negate(self.leaf))
        # De Morgan: not (a and b) == (not a) or (not b)
        flipped: Literal["and", "or"] = "or" if self.op == "and" else "and"
        return Condition(flipped, tuple(~p for p in self.parts))

    def _join(self, op: Literal["and", "or"], other: Condition) -> Condition:
        if not isinstance(other, Condition):
            return NotImplemented
        # flatten: (a & b) & c is one "and" group of three
        left = self.parts if self.op == op else (self,)
        right = other.parts if other.op == op else (other,)
        return Condition(op, left + right)

    def _members(self) -> tuple[Literal["and", "or"], tuple[Condition, ...]]:
        return ("and", (self,)) if self.leaf is not None else (self.op, self.parts)  # type: ignore[return-value]

    def to_filter(self) -> Filter:
        """This condition as one filter (a group becomes ``nested_filters``)."""
        if self.leaf is not None:
            return self.leaf
        return NestedFilter(self.op, tuple(p.to_filter() for p in self.parts))  # type: ignore[arg-type]

    def to_group(self) -> FilterGroup:
        """This condition as a root group (a single condition becomes an ``and`` of one)."""
        op, parts = self._members()
        return FilterGroup(op, tuple(p.to_filter() for p in parts))

    def to_attribute_group(self) -> AttributeGroup:
        """This condition as an event's ``attributes`` group (attribute conditions only, one
        level: the API has no nested groups there)."""
        op, parts = self._members()
        if not all(isinstance(p.leaf, AttributeFilter) for p in parts):
            raise TypeError("event attribute conditions must be attr(...) conditions, one level")
        return AttributeGroup(op, tuple(p.leaf for p in parts))  # type: ignore[misc]


def _negate(f: Filter) -> Filter:
    if isinstance(f, AttributeFilter):
        if f.data_type in ("object", "array_object"):
            # The API has no negate for these, and "not any element matches" is not the same
            # as "some element does not match": exclusion says what is meant.
            raise TypeError(
                f"cannot negate the {f.data_type} condition on {f.name!r}; "
                "put it in segment(..., exclude=...)"
            )
        # Arrays lose array_filter_type when negated (documented for the dashboard form).
        if f.data_type.startswith("array_"):
            return attrs.evolve(f, negate=not f.negate, array_filter_type=None)
        return attrs.evolve(f, negate=not f.negate)
    if isinstance(f, ActionFilter):
        e = f.execution
        if not f.executed:
            return attrs.evolve(f, executed=True, execution=Execution("atleast", 1))
        if e.type == "atleast" and e.count == 1:
            return attrs.evolve(f, executed=False, execution=Execution("exactly", 0))
        if e.type == "atleast" and e.count is not None:
            return attrs.evolve(f, execution=Execution("atmost", e.count - 1))
        if e.type == "atmost" and e.count is not None:
            return attrs.evolve(f, execution=Execution("atleast", e.count + 1))
        raise TypeError(f"cannot negate an event condition with execution {e.type!r}")
    if isinstance(f, NestedFilter):
        return NestedFilter(
            "or" if f.filter_operator == "and" else "and", tuple(_negate(m) for m in f.filters)
        )
    raise TypeError(f"cannot negate a {type(f).__name__}; put it in segment(..., exclude=...)")


# -- attributes -----------------------------------------------------------------------------


def _data_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "double"
    if isinstance(value, (date, datetime)):
        return "datetime"
    return "string"


@attrs.frozen(slots=True)
class AttributeRef:
    """The left-hand side of an attribute condition: ``attr("City")``."""

    name: str
    data_type: str | None = None
    case_sensitive: bool = False
    category: str | None = None

    def _make(self, operator: str | None, value: Any = None, **kw: Any) -> Condition:
        sample = value[0] if isinstance(value, (tuple, list)) and value else value
        hint = kw.pop("data_type", None)
        dt = self.data_type or hint or _data_type(sample)
        fields: dict[str, Any] = {
            "name": self.name,
            "data_type": dt,
            "operator": operator,
            "negate": False,
            "category": self.category,
        }
        if isinstance(value, (list, tuple)):
            value = tuple(value)
        if dt == "datetime" and value is not None and "value_type" not in kw:
            value = _iso(value)
            kw.setdefault("value_type", "absolute")
            if isinstance(kw.get("value1"), (date, datetime)):
                kw["value1"] = _iso(kw["value1"], end_of_day=True)
        fields["value"] = value
        if dt in ("string", "array_string"):
            fields["case_sensitive"] = self.case_sensitive
        fields.update(kw)
        return Condition("leaf", leaf=AttributeFilter(**fields))

    def is_(self, value: str | float | bool | Moment) -> Condition:
        """Equals ``value`` (a date/datetime: the same instant)."""
        return self._make("is", value)

    def in_(self, values: Iterable[str | float], *, all_of: bool = False) -> Condition:
        """One of ``values`` (array attributes: any of them, or all of them with all_of)."""
        vals = tuple(values)
        extra = {}
        if self.data_type and self.data_type.startswith("array_"):
            extra["array_filter_type"] = "all_of" if all_of else "any_of"
        return self._make("in", vals, **extra)

    def contains(self, text: str) -> Condition:
        """Contains ``text``."""
        return self._make("contains", text)

    def contains_any(self, texts: Iterable[str]) -> Condition:
        """Contains one of ``texts`` (``containsInTheFollowing``)."""
        return self._make("containsInTheFollowing", tuple(texts))

    def starts_with(self, text: str) -> Condition:
        """Starts with ``text``."""
        return self._make("startsWith", text)

    def ends_with(self, text: str) -> Condition:
        """Ends with ``text``."""
        return self._make("endsWith", text)

    def exists(self) -> Condition:
        """Has a value."""
        return self._make("exists", data_type=self.data_type or "string")

    def less_than(self, n: float) -> Condition:
        """Less than ``n``."""
        return self._make("lessThan", n)

    def greater_than(self, n: float) -> Condition:
        """Greater than ``n``."""
        return self._make("greaterThan", n)

    def between(self, low: float | Moment, high: float | Moment) -> Condition:
        """``low <= value <= high`` (numbers, or dates: from the start of ``low`` to the end of
        ``high``)."""
        return self._make("between", low, value1=high)

    def on(self, day: Moment) -> Condition:
        """On the date ``day``."""
        return self._make("on", day, data_type="datetime")

    def before(self, moment: Moment) -> Condition:
        """Before ``moment``."""
        return self._make("before", moment, data_type="datetime")

    def after(self, moment: Moment) -> Condition:
        """After ``moment``."""
        return self._make("after", moment, data_type="datetime")

    def in_the_last(self, period: Period) -> Condition:
        """Within the last ``period`` (user attributes count in days)."""
        return self._make(
            "inTheLast", _as_days(period), data_type="datetime", value_type="relative_past"
        )

    def in_the_next(self, period: Period) -> Condition:
        """Within the next ``period`` (in days)."""
        return self._make(
            "inTheNext", _as_days(period), data_type="datetime", value_type="relative_future"
        )

    def today(self) -> Condition:
        """Today."""
        return self._make("today", data_type="datetime")

    def near(self, latitude: float, longitude: float, radius: float) -> Condition:
        """Within ``radius`` of a point (a geopoint attribute)."""
        f = AttributeFilter(
            name=self.name,
            data_type="geopoint",
            value=latitude,
            value1=longitude,
            radius=radius,
            category=self.category,
        )
        return Condition("leaf", leaf=f)

    def where(self, condition: Condition) -> Condition:
        """An ``object`` / ``array_object`` attribute whose fields match ``condition``."""
        group = condition.to_attribute_group()
        f = AttributeFilter(
            name=self.name,
            data_type=self.data_type or "object",  # type: ignore[arg-type]
            filter_operator=group.filter_operator,
            filters=group.filters,
            category=self.category,
        )
        return Condition("leaf", leaf=f)


def _as_days(period: Period | int) -> int:
    if isinstance(period, int):
        return period
    factor = {"days": 1, "weeks": 7}.get(period.unit)
    if factor is None:
        raise ValueError(f"a user attribute range counts days or weeks, not {period.unit}")
    return period.count * factor


def attr(
    name: str,
    data_type: DataType | None = None,
    *,
    case_sensitive: bool = False,
    category: str | None = None,
) -> AttributeRef:
    """A user attribute (or, inside ``where=``, an event attribute), to compare: ``attr("City")
    .is_("Berlin")``. ``data_type`` is inferred from the value unless given."""
    return AttributeRef(name, data_type, case_sensitive, category)


# -- events ---------------------------------------------------------------------------------


def _time_range(
    in_the_last: Period | None,
    between: tuple[Moment, Moment] | None,
    on: Moment | None,
    before: Moment | None,
    after: Moment | None,
) -> TimeRange:
    options: dict[str, Any] = {
        "inTheLast": in_the_last,
        "between": between,
        "on": on,
        "before": before,
        "after": after,
    }
    given = [(kind, value) for kind, value in options.items() if value is not None]
    if len(given) != 1:
        raise TypeError("give exactly one of in_the_last=, between=, on=, before=, after=")
    kind, value = given[0]
    if kind == "inTheLast":
        return TimeRange("inTheLast", "relative_past", value.count, period_unit=value.unit)
    if kind == "between":
        lo, hi = value
        return TimeRange(
            "between", "absolute", _iso(lo), _iso(hi, end_of_day=True), period_unit="days"
        )
    return TimeRange(kind, "absolute", _iso(value), period_unit="days")  # type: ignore[arg-type]


def _execution(
    at_least: int | None,
    exactly: int | None,
    at_most: int | None,
    first_time: bool,
    last_time: bool,
) -> Execution:
    chosen = [
        Execution(kind, count)  # type: ignore[arg-type]
        for kind, count, given in (
            ("atleast", at_least, at_least is not None),
            ("exactly", exactly, exactly is not None),
            ("atmost", at_most, at_most is not None),
            ("firstTime", None, first_time),
            ("lastTime", None, last_time),
        )
        if given
    ]
    if len(chosen) > 1:
        raise TypeError("give at most one of at_least=, exactly=, at_most=, first_time, last_time")
    return chosen[0] if chosen else Execution("atleast", 1)


def did(
    action: str,
    *,
    at_least: int | None = None,
    exactly: int | None = None,
    at_most: int | None = None,
    first_time: bool = False,
    last_time: bool = False,
    in_the_last: Period | None = None,
    between: tuple[Moment, Moment] | None = None,
    on: Moment | None = None,
    before: Moment | None = None,
    after: Moment | None = None,
    where: Condition | None = None,
    project: str | None = None,
) -> Condition:
    """The user performed ``action`` (at least once unless told), in one time range, optionally
    with event attribute conditions ``where=attr(...)...``."""
    return Condition(
        "leaf",
        leaf=ActionFilter(
            action_name=action,
            executed=True,
            execution=_execution(at_least, exactly, at_most, first_time, last_time),
            primary_time_range=_time_range(in_the_last, between, on, before, after),
            attributes=where.to_attribute_group() if where is not None else AttributeGroup(),
            project_name=project,
        ),
    )


def did_not(
    action: str,
    *,
    in_the_last: Period | None = None,
    between: tuple[Moment, Moment] | None = None,
    on: Moment | None = None,
    before: Moment | None = None,
    after: Moment | None = None,
    where: Condition | None = None,
    project: str | None = None,
) -> Condition:
    """The user did not perform ``action`` in the time range (``~did(...)`` is the same)."""
    return ~did(
        action,
        in_the_last=in_the_last,
        between=between,
        on=on,
        before=before,
        after=after,
        where=where,
        project=project,
    )


def in_segment(segment_id: str, name: str | None = None) -> Condition:
    """Member of the saved segment ``segment_id`` (``name`` is only a label)."""
    return Condition("leaf", leaf=CustomSegmentFilter(segment_id, name))


def segment(
    name: str,
    condition: Condition,
    *,
    exclude: Condition | Sequence[Condition] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> SegmentDefinition:
    """A validated :class:`moeseg.SegmentDefinition` of users matching ``condition`` and none of
    ``exclude`` (one condition, a group, or a list of conditions: any of them excludes), checked
    against moeseg's assumed size ``limits``."""
    excluded = None
    if isinstance(exclude, Condition):
        excluded = exclude.to_group()
    elif exclude is not None:
        excluded = FilterGroup("or", tuple(c.to_filter() for c in exclude))
    return SegmentDefinition(name, condition.to_group(), excluded, limits=limits)
