"""fingerprint(): equal for the same selection whatever the order or echo noise; else different."""

from __future__ import annotations

import copy
import random
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

import moeseg
from moeseg import segments as wire
from moeseg.segments import structure
from tests.segments.reference import seed_create_examples
from tests.segments.strategies import definitions


def _shuffle(node: Any, rng: random.Random) -> Any:
    """Reorder every and/or group and every in-style list of a payload, recursively."""
    if isinstance(node, dict):
        out = {k: _shuffle(v, rng) for k, v in node.items()}
        if isinstance(out.get("filters"), list):
            rng.shuffle(out["filters"])
        if out.get("operator") in ("in", "containsInTheFollowing") and isinstance(
            out.get("value"), list
        ):
            rng.shuffle(out["value"])
        return out
    if isinstance(node, list):
        return [_shuffle(v, rng) for v in node]
    return node


@settings(max_examples=100, deadline=None)
@given(definitions(), st.randoms(use_true_random=False), st.text(min_size=1, max_size=5))
def test_member_order_and_name_do_not_matter(
    defn: moeseg.SegmentDefinition, rng: random.Random, other_name: str
) -> None:
    payload = moeseg.to_payload(defn)
    shuffled = _shuffle(copy.deepcopy(payload), rng)
    shuffled["name"] = other_name
    assert moeseg.fingerprint(shuffled) == moeseg.fingerprint(defn)
    # same answer from a definition, its payload, and a Segment echoing it
    seg = moeseg.Segment(
        id="x",
        name="y",
        included_filters=defn.included_filters,
        excluded_filters=defn.excluded_filters,
    )
    assert moeseg.fingerprint(seg) == moeseg.fingerprint(payload)


def _base() -> dict[str, Any]:
    return {
        "name": "a",
        "included_filters": {
            "filter_operator": "and",
            "filters": [
                {
                    "filter_type": "user_attributes",
                    "name": "City",
                    "data_type": "string",
                    "operator": "in",
                    "value": ["Berlin", "Paris"],
                    "negate": False,
                    "case_sensitive": False,
                },
                {
                    "filter_type": "actions",
                    "action_name": "MOE_EMAIL_SENT",
                    "executed": True,
                    "execution": {"type": "atleast", "count": 1},
                    "primary_time_range": {
                        "type": "inTheLast",
                        "value": 7,
                        "value_type": "relative_past",
                        "period_unit": "days",
                    },
                    "attributes": {"filter_operator": "and", "filters": []},
                },
            ],
        },
    }


def _echo(payload: dict[str, Any]) -> dict[str, Any]:
    """What the server sends back: value1 "", flags dropped, attributes group dropped, floats."""
    out = copy.deepcopy(payload)
    city, action = out["included_filters"]["filters"]
    city["value1"] = ""
    del city["negate"], city["case_sensitive"]
    city["category"] = "Tracked Custom Attribute"
    del action["attributes"]
    action["primary_time_range"]["value"] = 7.0
    out["excluded_filters"] = {"filter_operator": "and", "filters": []}
    return out


def test_server_echo_noise_is_ignored() -> None:
    assert moeseg.fingerprint(_echo(_base())) == moeseg.fingerprint(_base())
    assert moeseg.fingerprint(moeseg.from_payload(_base())) == moeseg.fingerprint(_base())


def test_scalar_echo_of_a_one_element_in_list_is_the_list() -> None:
    one = _base()
    one["included_filters"]["filters"][0]["value"] = ["Berlin"]
    echoed = copy.deepcopy(one)
    echoed["included_filters"]["filters"][0]["value"] = "Berlin"
    assert moeseg.fingerprint(echoed) == moeseg.fingerprint(one)


def test_seed_response_echo_matches_the_request_it_describes() -> None:
    body = next(b for _, b in seed_create_examples() if isinstance(b.get("data"), dict))
    seg = structure(body, wire.SegmentResponse).data
    request = {
        "name": "anything",
        "included_filters": {
            "filter_operator": "and",
            "filters": [
                {
                    "filter_type": "user_attributes",
                    "name": "Subscription Status 19Dec_7",
                    "data_type": "string",
                    "operator": "is",
                    "value": "active",
                    "negate": False,
                    "case_sensitive": False,
                },
                {
                    "filter_type": "actions",
                    "action_name": "MOE_EMAIL_SENT",
                    "executed": True,
                    "execution": {"type": "atleast", "count": 1},
                    "primary_time_range": {
                        "type": "between",
                        "value": "2023-02-15T00:00:00.000Z",
                        "value1": "2023-02-24T23:59:59.999Z",
                        "value_type": "absolute",
                        "period_unit": "days",
                    },
                    "attributes": {"filter_operator": "and", "filters": []},
                },
            ],
        },
    }
    assert moeseg.fingerprint(seg) == moeseg.fingerprint(moeseg.from_payload(request))


def _mutate(path: str, value: Any) -> dict[str, Any]:
    p = _base()
    node: Any = p
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return p


def test_different_definitions_differ() -> None:
    variants = [
        _base(),
        _mutate("included_filters.filter_operator", "or"),
        _mutate("included_filters.filters.0.value", ["Berlin"]),
        _mutate("included_filters.filters.0.value", ["Berlin", "Rome"]),
        _mutate("included_filters.filters.0.negate", True),
        _mutate("included_filters.filters.0.case_sensitive", True),
        _mutate("included_filters.filters.0.operator", "containsInTheFollowing"),
        _mutate("included_filters.filters.0.name", "Town"),
        _mutate("included_filters.filters.1.executed", False),
        _mutate("included_filters.filters.1.execution", {"type": "atleast", "count": 2}),
        _mutate("included_filters.filters.1.primary_time_range.value", 8),
        _mutate("included_filters.filters.1.primary_time_range.period_unit", "weeks"),
        _mutate("included_filters.filters.1.action_name", "MOE_EMAIL_OPENED"),
        _mutate(
            "included_filters.filters.1.attributes",
            {
                "filter_operator": "and",
                "filters": [{"name": "c", "data_type": "string", "operator": "is", "value": "x"}],
            },
        ),
    ]
    moved = _base()  # the same filters, but excluded instead of included
    moved["excluded_filters"] = {
        "filter_operator": "and",
        "filters": [moved["included_filters"]["filters"].pop()],
    }
    variants.append(moved)
    prints = [moeseg.fingerprint(v) for v in variants]
    assert len(set(prints)) == len(prints)


@settings(max_examples=100, deadline=None)
@given(definitions(), st.data())
def test_changing_one_member_changes_the_fingerprint(
    defn: moeseg.SegmentDefinition, data: st.DataObject
) -> None:
    before = moeseg.fingerprint(defn)
    members = list(defn.included_filters.filters)
    i = data.draw(st.integers(0, len(members) - 1))
    m = members[i]
    if isinstance(m, moeseg.AttributeFilter) and m.operator is not None:
        members[i] = attrs.evolve(m, negate=not m.negate)
    elif isinstance(m, moeseg.ActionFilter):
        members[i] = attrs.evolve(m, action_name=m.action_name + "_other")
    elif isinstance(m, moeseg.CustomSegmentFilter):
        members[i] = attrs.evolve(m, id=m.id[::-1] + "x")
    else:  # object attribute or nested group: add a member no generated filter has
        members.append(moeseg.CustomSegmentFilter(id="not-a-generated-id"))
    changed = attrs.evolve(
        defn, included_filters=attrs.evolve(defn.included_filters, filters=tuple(members))
    )
    assert moeseg.fingerprint(changed) != before


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    fp = moeseg.fingerprint(_base())
    assert len(fp) == 64
    assert int(fp, 16) >= 0
