"""describe(): one line, in the words of the server's own description field."""

from __future__ import annotations

from datetime import date

from moeseg import attr, days, describe, did, in_segment, segment
from moeseg import segments as wire
from moeseg.segments import structure
from tests.segments.reference import openapi_examples, seed_create_examples


def test_seed_response_description_is_matched_in_spirit() -> None:
    body = next(b for _, b in seed_create_examples() if isinstance(b.get("data"), dict))
    seg = structure(body, wire.SegmentResponse).data
    assert describe(seg) == (
        "Subscription Status 19Dec_7 is active (case insensitive) AND Has executed "
        "MOE_EMAIL_SENT atleast 1 time in-between Feb 15, 2023 and Feb 24, 2023"
    )


def test_builder_segment() -> None:
    defn = segment(
        "x",
        (attr("Age").between(18, 65) | ~attr("Country").in_(["US", "UK"]))
        & did("MOE_EMAIL_SENT", between=(date(2023, 2, 15), date(2023, 2, 24)))
        & in_segment("5c93982f573bb92004975a36", "VIP"),
        exclude=~did("purchase", in_the_last=days(30)),
    )
    assert describe(defn) == (
        "(Age is between 18 and 65 OR Country is none of US, UK (case insensitive)) AND "
        "Has executed MOE_EMAIL_SENT atleast 1 time in-between Feb 15, 2023 and Feb 24, 2023 "
        "AND In segment VIP EXCLUDING Has not executed purchase in the last 30 days"
    )


def test_every_official_example_gets_one_line_naming_its_attributes() -> None:
    official = openapi_examples("moengage-custom-segments-official-openapi.yaml")
    bodies = [b for w, b in official if "/v3/custom-segments/post/" in w]
    assert bodies
    for body in bodies:
        _one_line_naming_its_first_filter(body)


def _one_line_naming_its_first_filter(body: dict[str, object]) -> None:
    text = describe(body)
    assert "\n" not in text
    first = body["included_filters"]["filters"][0]  # type: ignore[index]
    assert (first.get("name") or first.get("action_name")) in text
