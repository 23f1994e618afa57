"""Fuzzing definitions: whatever the input, reading it gives a valid, sendable definition or a
SegmentValidationError, never another exception, in bounded time."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moeseg
from moeseg import SegmentValidationError
from moeseg.segments import request_body
from tests.segments.strategies import mutated_payloads

# Keys the models know, so that random trees reach deep into the reader.
_KEYS = st.sampled_from(
    [
        "name",
        "included_filters",
        "excluded_filters",
        "filter_operator",
        "filters",
        "filter_type",
        "data_type",
        "operator",
        "value",
        "value1",
        "attributes",
        "action_name",
        "executed",
        "execution",
        "primary_time_range",
        "type",
        "count",
        "id",
    ]
) | st.text(max_size=5)
_PLAIN_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # nan and infinities included
    | st.sampled_from(["and", "or", "user_attributes", "actions", "nested_filters", "is"])
    | st.text(max_size=8)
)
# built when drawn: such integers have no repr (more than 4300 digits), nor JSON text
_HUGE_INTS = st.sampled_from([5000, 63, -64]).map(
    lambda e: 10**e if e > 100 else 2**e if e > 0 else -(2**-e)
)


def _trees(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=6)
        ),
        max_leaves=40,
    )


json_trees = _trees(_PLAIN_SCALARS | _HUGE_INTS)
text_trees = _trees(_PLAIN_SCALARS)

# A generous per-example bound: reading must never hang or blow up, whatever the seed.
_BOUNDED = settings(
    max_examples=300,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow],
)


def _read_or_refuse(data: Any) -> None:
    try:
        defn = moeseg.from_payload(data)
    except SegmentValidationError as exc:
        issues = exc.issues
    else:
        issues = ()
    if issues:
        assert all(isinstance(i.rule, str) and i.rule for i in issues)
        return
    # valid: it round-trips and can be sent as strict JSON (no NaN, no unreadable integer)
    assert moeseg.from_payload(moeseg.to_payload(defn)) == defn
    json.dumps(request_body(defn), allow_nan=False)


@pytest.mark.slow
@_BOUNDED
@given(json_trees)
def test_random_trees_are_read_or_refused(tree: Any) -> None:
    _read_or_refuse(tree)
    wrapped = {"name": "fuzz", "included_filters": {"filter_operator": "and", "filters": [tree]}}
    _read_or_refuse(wrapped)


@pytest.mark.slow
@_BOUNDED
@given(mutated_payloads())
def test_mutated_valid_payloads_are_read_or_refused(payload: dict[str, Any]) -> None:
    _read_or_refuse(payload)


@settings(max_examples=50, deadline=timedelta(seconds=10))
@given(text_trees)
def test_random_text_is_loaded_or_refused(tree: Any) -> None:
    for text in (json.dumps(tree), repr(tree)):
        with contextlib.suppress(SegmentValidationError):
            moeseg.load_payload(text)
