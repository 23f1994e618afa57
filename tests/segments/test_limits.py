"""moeseg's assumed size limits and the numbers no API field can hold: refused locally, with the
path and the rule, before any quota is spent."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

import moeseg
from moeseg import Limits, SegmentValidationError, attr, from_payload, in_segment, segment

CITY = {
    "filter_type": "user_attributes",
    "name": "City",
    "data_type": "string",
    "operator": "is",
    "value": "Berlin",
}


def _nested(levels: int) -> dict[str, Any]:
    """A payload whose included group nests ``levels`` levels (the root group is level 1)."""
    group: dict[str, Any] = {"filter_operator": "and", "filters": [CITY]}
    for _ in range(levels - 1):
        group = {"filter_operator": "or", "filters": [{"filter_type": "nested_filters", **group}]}
    return {"name": "deep", "included_filters": group}


def _flat(n: int, **extra: Any) -> dict[str, Any]:
    filters = [{**CITY, "value": f"c{i}", **extra} for i in range(n)]
    return {"name": "wide", "included_filters": {"filter_operator": "or", "filters": filters}}


def _refs(n: int) -> dict[str, Any]:
    filters = [{"filter_type": "custom_segments", "id": f"{i:024x}"} for i in range(n)]
    return {"name": "refs", "included_filters": {"filter_operator": "or", "filters": filters}}


def _only_issue(payload: dict[str, Any], limits: Limits | None = None) -> moeseg.ValidationIssue:
    with pytest.raises(SegmentValidationError) as info:
        from_payload(payload) if limits is None else from_payload(payload, limits=limits)
    (issue,) = info.value.issues
    return issue


def test_the_defaults_are_the_sandboxs_figures() -> None:
    assert Limits() == Limits(max_depth=5, max_segment_refs=10, max_filters=200)
    from moeseg.sandbox import SandboxConfig

    cfg = SandboxConfig()
    assert (cfg.max_nesting, cfg.max_segments_per_query, cfg.max_filters_per_query) == (5, 10, 200)


def test_nesting_beyond_five_levels_is_refused_and_says_how_to_raise_it() -> None:
    from_payload(_nested(5))
    issue = _only_issue(_nested(6))
    assert issue.path.startswith("included_filters.filters[0]")
    assert "more than 5 levels of nesting" in issue.rule
    assert "limits=moeseg.Limits(max_depth=...)" in issue.rule
    assert from_payload(_nested(6), limits=Limits(max_depth=6)).limits.max_depth == 6


def test_more_than_200_filters_are_refused_and_can_be_allowed() -> None:
    from_payload(_flat(200))
    issue = _only_issue(_flat(201))
    assert issue.path == "included_filters.filters[200]"
    assert "more than 200 filters" in issue.rule
    assert "max_filters=" in issue.rule
    from_payload(_flat(201), limits=Limits(max_filters=201))


def test_conditions_inside_an_event_count_as_filters(sample_payload: dict[str, Any]) -> None:
    event = sample_payload["included_filters"]["filters"][1]
    event["attributes"] = {"filter_operator": "and", "filters": [CITY] * 3}
    from_payload(sample_payload, limits=Limits(max_filters=5))
    with pytest.raises(SegmentValidationError, match="more than 4 filters"):
        from_payload(sample_payload, limits=Limits(max_filters=4))


def test_more_than_ten_referenced_segments_are_refused() -> None:
    from_payload(_refs(10))
    issue = _only_issue(_refs(11))
    assert issue.path == "included_filters.filters[10]"
    assert "more than 10 referenced segments" in issue.rule
    from_payload(_refs(11), limits=Limits(max_segment_refs=11))


def test_a_referenced_segment_counts_as_one_more_level() -> None:
    payload = _nested(5)
    inner = payload["included_filters"]
    for _ in range(4):
        inner = inner["filters"][0]
    inner["filters"] = [{"filter_type": "custom_segments", "id": "a" * 24}]
    assert "levels of nesting" in _only_issue(payload).rule


def test_the_builder_and_validate_take_limits_too() -> None:
    many = attr("City").is_("c0")
    for i in range(1, 201):
        many = many | attr("City").is_(f"c{i}")
    with pytest.raises(SegmentValidationError, match="more than 200 filters"):
        segment("wide", many)
    defn = segment("wide", many, limits=Limits(max_filters=300))
    moeseg.validate(defn)  # against its own limits
    with pytest.raises(SegmentValidationError, match="more than 150 filters"):
        moeseg.validate(defn, limits=Limits(max_filters=150))
    assert defn == segment("wide", many, limits=Limits(max_filters=1000))  # not part of the value
    assert "limits" not in moeseg.to_payload(defn)
    refs = in_segment("a" * 24) | in_segment("b" * 24)
    with pytest.raises(SegmentValidationError, match="referenced segments"):
        segment("two", refs, limits=Limits(max_segment_refs=1))


def test_limits_must_be_positive_integers() -> None:
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            Limits(max_filters=bad)  # type: ignore[arg-type]


def test_a_huge_mapping_is_refused_before_it_is_read() -> None:
    shared = [f"v{i}" for i in range(1000)]
    payload = _flat(1, operator="in")
    payload["included_filters"]["filters"][0]["value"] = [shared] * 200  # 200,000 values
    issue = _only_issue(payload)
    assert "holds more than 100000 objects, lists and values" in issue.rule


# -- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        (10**5000, "64 bits"),
        (2**63, "64 bits"),
    ],
    ids=["nan", "inf", "-inf", "10^5000", "2^63"],
)
def test_numbers_no_field_can_hold_are_refused_with_their_path(value: Any, rule: str) -> None:
    payload = _flat(1)
    f = payload["included_filters"]["filters"][0]
    f.update(data_type="double", operator="between", value=1, value1=value)
    issue = _only_issue(payload)
    assert issue.path == "included_filters.filters[0].value1"
    assert rule in issue.rule
    # the same number from the builder (no payload involved) is refused by the checks
    with pytest.raises(SegmentValidationError) as info:
        segment("x", attr("Age").between(1, value))
    assert [i.path for i in info.value.issues] == ["included_filters.filters[0].value1"]
    assert rule in info.value.issues[0].rule


def test_numbers_in_every_numeric_field_are_checked(sample_payload: dict[str, Any]) -> None:
    for path in ("execution.count", "primary_time_range.value"):
        for bad in (math.nan, 10**5000):
            payload = copy.deepcopy(sample_payload)
            node = payload["included_filters"]["filters"][1]
            *parents, last = path.split(".")
            for key in parents:
                node = node[key]
            node[last] = bad
            issue = _only_issue(payload)
            assert issue.path == f"included_filters.filters[1].{path}"


def test_a_valid_definition_is_unchanged_by_the_checks(sample_payload: dict[str, Any]) -> None:
    assert moeseg.to_payload(from_payload(sample_payload)) == sample_payload
