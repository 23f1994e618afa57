"""Every example payload in shared/reference round-trips: read, then written, gives it back.

The examples are read from the documents at test time (nothing is copied into the tests), so a
document update is checked automatically.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

import moeseg
from moeseg import segments as wire
from moeseg.segments import structure, unstructure
from tests.segments.reference import (
    openapi_examples,
    reference_dir,
    seed_create_examples,
    seed_legacy_examples,
)

OFFICIAL = "moengage-custom-segments-official-openapi.yaml"
THIRD_PARTY = "moengage-segments-openapi.yml"


def _model_for(where: str, body: dict[str, Any]) -> type[Any]:
    """Which model reads an example, from where it sits in the document and its keys."""
    if "/callbacks/" in where or "db_name" in body:
        return wire.FileSegmentCallback
    if "/requestBody/" in where:
        if "/v3/" in where:
            return moeseg.SegmentUpdate if "/patch/" in where else moeseg.SegmentDefinition
        if "archive" in where:
            return wire.ArchiveRequest
        return wire.FileSegmentRequest
    if "error" in body:
        return wire.V3ErrorBody
    if "title" in body:
        return wire.V2ErrorBody
    if "data" in body:
        return wire.SegmentListResponse if isinstance(body["data"], list) else wire.SegmentResponse
    if "success" in body:
        return wire.V2AcceptedBody
    if set(body) == {"type", "count"}:
        return moeseg.Execution
    if "value_type" in body:
        return moeseg.TimeRange
    raise AssertionError(f"no model for the example at {where}: {sorted(body)}")


def _round_trip(model: type[Any], body: dict[str, Any]) -> Any:
    if model is moeseg.SegmentDefinition:
        return moeseg.to_payload(moeseg.from_payload(body))
    if model is moeseg.SegmentUpdate:
        return moeseg.to_payload(moeseg.from_update_payload(body))
    return unstructure(structure(body, model))


_LEGACY = {
    "legacy:request": wire.LegacyCsvRequest,
    "legacy:response": wire.LegacyCsvResponse,
    "legacy:callback": wire.LegacyCsvCallback,
}


def _all_examples() -> list[Any]:
    cases = []
    for filename in (OFFICIAL, THIRD_PARTY):
        for where, body in openapi_examples(filename):
            cases.append(pytest.param(where, body, id=f"{filename.split('-')[1]}{where}"))
    for where, body in seed_create_examples():
        cases.append(pytest.param(f"seed:{where}", body, id=f"seed-create:{where}"))
    for kind, bodies in seed_legacy_examples().items():
        for i, body in enumerate(bodies):
            cases.append(pytest.param(f"legacy:{kind}", body, id=f"seed-legacy:{kind}#{i}"))
    return cases


@pytest.mark.parametrize(("where", "body"), _all_examples())
def test_example_round_trips(where: str, body: dict[str, Any]) -> None:
    if where == "seed:curl --data-raw":
        model: type[Any] = moeseg.SegmentDefinition
    else:
        model = _LEGACY.get(where) or _model_for(where, body)
    assert _round_trip(model, body) == body


def test_every_document_contributes_examples() -> None:
    # Guards the extraction itself: a reader that silently found nothing would pass the above.
    assert len(openapi_examples(OFFICIAL)) >= 70
    assert len(openapi_examples(THIRD_PARTY)) >= 50
    seed = seed_create_examples()
    assert len(seed) >= 16
    assert sum("error" in body for _, body in seed) == 13
    legacy = seed_legacy_examples()
    assert (len(legacy["request"]), len(legacy["response"]), len(legacy["callback"])) == (1, 5, 4)


def test_request_examples_are_valid_definitions() -> None:
    # from_payload validates: the documented create bodies must all pass our rules.
    bodies = [b for w, b in openapi_examples(OFFICIAL) if "/v3/custom-segments/post/" in w]
    bodies.append(seed_create_examples()[0][1])
    assert len(bodies) == 22
    for body in bodies:
        moeseg.validate(moeseg.from_payload(body))


def test_response_keeps_server_echo_noise() -> None:
    (_, body) = next((w, b) for w, b in seed_create_examples() if isinstance(b.get("data"), dict))
    seg = structure(body, wire.SegmentResponse).data
    assert seg.recovered is False
    first = seg.included_filters.filters[0] if seg.included_filters else None
    assert isinstance(first, moeseg.AttributeFilter)
    assert first.value1 == ""
    assert "recovered" not in unstructure(seg)


def test_dashboard_payload_loads_and_dumps_back_unchanged_json_and_yaml() -> None:
    text = json.dumps(seed_create_examples()[0][1], indent=2)
    assert json.loads(json.dumps(moeseg.to_payload(moeseg.from_payload(json.loads(text))))) == (
        json.loads(text)
    )
    for where, body in openapi_examples(OFFICIAL):
        if "/v3/custom-segments/post/" not in where:
            continue
        as_yaml = yaml.safe_dump(body, sort_keys=False)
        loaded = yaml.safe_load(as_yaml)
        assert moeseg.to_payload(moeseg.from_payload(loaded)) == loaded, where


def test_reference_folder_is_found() -> None:
    assert (reference_dir() / OFFICIAL).is_file()


def test_load_payload_reads_json_and_yaml_text() -> None:
    for where, body in openapi_examples(OFFICIAL):
        if "/v3/custom-segments/post/" not in where:
            continue
        assert moeseg.to_payload(moeseg.load_payload(json.dumps(body))) == body, where
        assert moeseg.to_payload(moeseg.load_payload(yaml.safe_dump(body))) == body, where


UNQUOTED_ON = """
name: signed-up-on-a-day
included_filters:
  filter_operator: and
  filters:
    - filter_type: user_attributes
      name: signup_date
      data_type: datetime
      operator: on
      value_type: absolute
      value: "2024-01-15T00:00:00.000Z"
      negate: false
    - filter_type: actions
      action_name: purchase
      executed: true
      execution: {type: atleast, count: 1}
      primary_time_range: {type: on, value: 0, value_type: relative_past, period_unit: days}
      attributes: {filter_operator: and, filters: []}
"""


def test_unquoted_on_in_yaml_stays_the_operator_on() -> None:
    payload = moeseg.to_payload(moeseg.load_payload(UNQUOTED_ON))
    first, second = payload["included_filters"]["filters"]
    assert first["operator"] == "on"
    assert first["negate"] is False
    assert second["primary_time_range"]["type"] == "on"
    # PyYAML's safe_load reads YAML 1.1: the error says what happened, at both places
    with pytest.raises(moeseg.SegmentValidationError) as info:
        moeseg.from_payload(yaml.safe_load(UNQUOTED_ON))
    assert [i.path for i in info.value.issues] == [
        "included_filters.filters[0].operator",
        "included_filters.filters[1].primary_time_range.type",
    ]
    assert all("unquoted on/off" in i.rule for i in info.value.issues)


def test_load_payload_rejects_text_that_is_not_a_payload() -> None:
    with pytest.raises(moeseg.SegmentValidationError, match="neither JSON nor YAML"):
        moeseg.load_payload("name: [unclosed")
    with pytest.raises(moeseg.SegmentValidationError, match="must be an object"):
        moeseg.load_payload("- just\n- a list\n")


UNQUOTED_DATES = """\
name: signed up in March
included_filters:
  filter_operator: and
  filters:
    - filter_type: user_attributes
      name: First Seen
      data_type: datetime
      operator: between
      value: 2023-03-01T00:00:00.000Z
      value1: 2023-03-31T23:59:59.999Z
      value_type: absolute
"""


def test_unquoted_yaml_timestamps_stay_the_iso_text_written() -> None:
    payload = moeseg.to_payload(moeseg.load_payload(UNQUOTED_DATES))
    flt = payload["included_filters"]["filters"][0]
    assert (flt["value"], flt["value1"]) == ("2023-03-01T00:00:00.000Z", "2023-03-31T23:59:59.999Z")
