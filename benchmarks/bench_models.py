"""Serialize and parse segment definitions: moeseg (attrs + cattrs) next to pydantic v2.

Two payloads: the founding document's sample request (one filter) and a 50-filter definition
mixing every common filter kind. The pydantic models are an equivalent description of the same
wire format (the same five-member discriminated union on ``filter_type``, strict types, optional
fields omitted when None), measured in the same run so that the ratio means something on a noisy
machine.

moeseg's parse is ``from_payload`` and includes the full rule validation (pydantic's does only
types); the shape-only parse (``structure`` of the filter group) is printed too.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

import moeseg
from moeseg.segments._converter import structure

# -- the equivalent pydantic v2 models ---------------------------------------------------------

Scalar = str | int | float | bool
Value = Scalar | list[str | int | float]


class _M(BaseModel):
    # strict like moeseg's reader: "false" is not a bool, 18 is not a string
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


class PAttr(_M):
    name: str
    data_type: str
    operator: str | None = None
    value: Value | None = None
    value1: Value | None = None
    negate: bool | None = None
    case_sensitive: bool | None = None
    category: str | None = None
    value_type: str | None = None
    extract_type: str | None = None
    radius: float | None = None
    array_filter_type: str | None = None
    filter_operator: str | None = None
    filters: list[PAttr] | None = None
    is_dynamic_value: bool | None = None
    dynamic_attribute_type: str | None = None


class PUserAttr(PAttr):
    filter_type: Literal["user_attributes"]


class PAttrGroup(_M):
    filter_operator: str = "and"
    filters: list[PAttr] = []


class PExecution(_M):
    type: str
    count: int | None = None


class PTimeRange(_M):
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True, populate_by_name=True)
    type: str
    value_type: str | None = None
    value: Scalar | None = None
    value1: Scalar | None = None
    period_unit: str | None = None
    days: int | None = None
    days1: int | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class PBaseTimeRange(_M):
    type: str
    value: str | None = None
    value1: str | None = None


class PAggregation(_M):
    attribute_name: str
    aggregation_type: str
    operator: str
    value: Value
    data_type: str = "double"
    value1: Value | None = None
    negate: bool | None = None
    is_dynamic_value: bool | None = None
    comparator: str | None = None
    base_time_range: PBaseTimeRange | None = None


class PAggregationGroup(_M):
    filter_operator: str
    filters: list[PAggregation]


class PAction(_M):
    filter_type: Literal["actions"]
    action_name: str
    executed: bool
    execution: PExecution
    primary_time_range: PTimeRange
    attributes: PAttrGroup = PAttrGroup()
    aggregation_attributes: PAggregationGroup | None = None
    project_name: str | None = None


class PAffinity(_M):
    filter_type: Literal["psychographic_event"]
    action_name: str
    execution: PExecution
    operator_type: str
    psychographic_attributes: PAttrGroup
    primary_time_range: PTimeRange
    executed: bool | None = None
    percent_of_times: int | None = None
    percent_of_users: int | None = None
    attributes: PAttrGroup | None = None


class PSegmentRef(_M):
    filter_type: Literal["custom_segments"]
    id: str
    name: str | None = None


class PNested(_M):
    filter_type: Literal["nested_filters"]
    filter_operator: str
    filters: list[PFilter]


# the same five members as moeseg.Filter
PFilter = Annotated[
    PUserAttr | PAction | PNested | PSegmentRef | PAffinity, Field(discriminator="filter_type")
]


class PGroup(_M):
    filter_operator: str
    filters: list[PFilter]


class PDefinition(_M):
    name: str
    included_filters: PGroup
    excluded_filters: PGroup | None = None


PNested.model_rebuild()
PDefinition.model_rebuild()

# -- payloads ----------------------------------------------------------------------------------


def seed_payload() -> dict[str, Any]:
    """The founding document's sample request (its curl body)."""
    return {
        "name": "segment_example_name",
        "included_filters": {
            "filter_operator": "and",
            "filters": [
                {
                    "filter_type": "user_attributes",
                    "name": "Name",
                    "data_type": "string",
                    "operator": "is",
                    "value": "chandan",
                    "negate": False,
                    "case_sensitive": False,
                }
            ],
        },
    }


def fifty_filter_definition() -> moeseg.SegmentDefinition:
    """50 filters: strings, lists, numbers, dates, events with attributes, nested groups."""
    A, did, days = moeseg.attr, moeseg.did, moeseg.days
    parts: list[moeseg.Condition] = []
    for i in range(10):
        parts.append(A(f"city_{i}").in_([f"c{i}", f"d{i}", f"e{i}"]))
        parts.append(A(f"age_{i}").between(18 + i, 65 + i))
        parts.append(A(f"signup_{i}").after(_dt.date(2024, 1, 1 + i)))
        parts.append(
            did(
                f"event_{i}",
                at_least=1 + i,
                in_the_last=days(7 + i),
                where=A("channel").is_("email") & A("amount").greater_than(i),
            )
        )
        parts.append(A(f"plan_{i}").is_("pro") | ~A(f"trial_{i}").is_(True))
    expr = parts[0]
    for p in parts[1:]:
        expr = expr & p
    return moeseg.segment("fifty-filters", expr, exclude=A("is_test_user").is_(True))


# -- measurement -------------------------------------------------------------------------------


def _timer(fn: Callable[[], object]) -> timeit.Timer:
    # CPU time of this process: on a shared machine, waiting for a core is not our cost.
    return timeit.Timer(fn, timer=time.process_time)


def _loop_size(fn: Callable[[], object], seconds: float) -> int:
    n, t = _timer(fn).autorange()
    return max(1, int(n * seconds / max(t, 1e-9)))


def compare(ours: Callable[[], object], theirs: Callable[[], object]) -> tuple[float, float]:
    """Ops/s (CPU time) of both, measured in alternating rounds (best of 7 each), so that a
    change in the machine's load hits both sides alike."""
    n_ours, n_theirs = _loop_size(ours, 0.08), _loop_size(theirs, 0.08)
    best_ours = best_theirs = 0.0
    for _ in range(7):
        best_ours = max(best_ours, n_ours / _timer(ours).timeit(n_ours))
        best_theirs = max(best_theirs, n_theirs / _timer(theirs).timeit(n_theirs))
    return best_ours, best_theirs


def machine() -> str:
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return (
        f"{uname}\nnproc {nproc}; Python {platform.python_version()}; "
        f"pydantic {pydantic.VERSION}; date {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    )


def main() -> None:
    print(machine())
    cases = {
        "seed sample (1 filter)": seed_payload(),
        "50 filters": moeseg.to_payload(fifty_filter_definition()),
    }
    print(
        f"{'payload':24} {'operation':22} {'moeseg ops/s':>13} {'pydantic ops/s':>15} {'ratio':>6}"
    )
    for label, payload in cases.items():
        defn = moeseg.from_payload(payload)
        model = PDefinition.model_validate(payload)
        # Same output from both sides, or the comparison would be meaningless.
        assert model.model_dump(exclude_none=True, by_alias=True) == payload
        assert moeseg.to_payload(defn) == payload
        group = payload["included_filters"]
        rows = [
            (
                "serialize",
                partial(moeseg.to_payload, defn),
                partial(model.model_dump, exclude_none=True, by_alias=True),
            ),
            (
                "parse + validate",
                partial(moeseg.from_payload, payload),
                partial(PDefinition.model_validate, payload),
            ),
            (
                "parse (shape only)",
                partial(structure, group, moeseg.FilterGroup),
                partial(PGroup.model_validate, group),
            ),
        ]
        for op, ours, theirs in rows:
            a, b = compare(ours, theirs)
            print(f"{label:24} {op:22} {a:13,.0f} {b:15,.0f} {a / b:6.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
