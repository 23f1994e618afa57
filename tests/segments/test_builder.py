"""The builder produces the same models (and payloads) as writing them out by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

import moeseg
from moeseg import attr, days, did, did_not, in_segment, months, segment, weeks
from tests.segments.reference import openapi_examples, seed_create_examples

OFFICIAL = "moengage-custom-segments-official-openapi.yaml"


def _official(name: str) -> dict[str, object]:
    return next(b for w, b in openapi_examples(OFFICIAL) if w.endswith(f"/examples/{name}"))


def test_the_readme_example() -> None:
    defn = segment(
        "berlin-openers",
        attr("City").is_("Berlin") & did("MOE_EMAIL_SENT", at_least=1, in_the_last=days(7)),
        exclude=attr("is_test_user").is_(True),
    )
    assert moeseg.to_payload(defn) == {
        "name": "berlin-openers",
        "included_filters": {
            "filter_operator": "and",
            "filters": [
                {
                    "filter_type": "user_attributes",
                    "name": "City",
                    "data_type": "string",
                    "operator": "is",
                    "value": "Berlin",
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
        "excluded_filters": {
            "filter_operator": "and",
            "filters": [
                {
                    "filter_type": "user_attributes",
                    "name": "is_test_user",
                    "data_type": "bool",
                    "operator": "is",
                    "value": True,
                    "negate": False,
                }
            ],
        },
    }


def test_seed_curl_body_built_with_the_builder() -> None:
    body = seed_create_examples()[0][1]
    built = segment("segment_example_name", attr("Name").is_("chandan"))
    assert moeseg.to_payload(built) == body


@pytest.mark.parametrize(
    ("example", "built"),
    [
        (
            "behavior_executed",
            lambda: segment("app-openers-30d", did("app_opened", in_the_last=days(30))),
        ),
        (
            "behavior_not_executed",
            lambda: segment("lapsed-purchasers-7d", did_not("purchase", in_the_last=days(7))),
        ),
        (
            "behavior_first_time",
            lambda: segment(
                "new-signups-90d", did("sign_up", first_time=True, in_the_last=days(90))
            ),
        ),
        (
            "behavior_between_absolute",
            lambda: segment(
                "jan-2024-event-attendees",
                did("event_attended", between=(date(2024, 1, 1), date(2024, 1, 31))),
            ),
        ),
        (
            "custom_segment_reference",
            lambda: segment(
                "combined-vip-premium", in_segment("5c93982f573bb92004975a36", "VIP Customers")
            ),
        ),
    ],
)
def test_builder_matches_official_examples(example: str, built: object) -> None:
    assert moeseg.to_payload(built()) == _official(example)  # type: ignore[operator]


def test_official_nested_example_has_the_same_fingerprint() -> None:
    cat = {"category": "Location"}
    expr = (
        attr("age", category="default").greater_than(18)
        & (
            attr("country", **cat).in_(["US"])  # type: ignore[arg-type]
            | attr("country", **cat).in_(["UK"])  # type: ignore[arg-type]
        )
        & did("purchase", in_the_last=days(90))
    )
    built = segment(
        "active-buyers-us-uk-non-test",
        expr,
        exclude=attr("is_test_user", category="default").is_(True),
    )
    assert moeseg.to_payload(built) == _official("nested_filters_and_or")


def test_operators_flatten_and_nest() -> None:
    a, b, c = attr("a").is_("1"), attr("b").is_("2"), attr("c").is_("3")
    g = ((a & b) & c).to_group()
    assert g.filter_operator == "and"
    assert len(g.filters) == 3
    g = (a & (b | c)).to_group()
    assert isinstance(g.filters[1], moeseg.NestedFilter)
    assert g.filters[1].filter_operator == "or"


def test_negation() -> None:
    f = (~attr("City").is_("Berlin")).to_group().filters[0]
    assert isinstance(f, moeseg.AttributeFilter)
    assert f.negate is True
    # De Morgan on groups
    g = (~(attr("a").is_("1") & attr("b").is_("2"))).to_group()
    assert g.filter_operator == "or"
    assert all(isinstance(m, moeseg.AttributeFilter) and m.negate for m in g.filters)
    # events: "did" <-> "did not"; counts flip to the complementary bound
    ev = (~did("x", in_the_last=days(1))).to_group().filters[0]
    assert isinstance(ev, moeseg.ActionFilter)
    assert (ev.executed, ev.execution) == (False, moeseg.Execution("exactly", 0))
    back = (~~did("x", in_the_last=days(1))).to_group().filters[0]
    assert isinstance(back, moeseg.ActionFilter)
    assert (back.executed, back.execution) == (True, moeseg.Execution("atleast", 1))
    ev = (~did("x", at_least=3, in_the_last=days(1))).to_group().filters[0]
    assert isinstance(ev, moeseg.ActionFilter)
    assert ev.execution == moeseg.Execution("atmost", 2)
    with pytest.raises(TypeError, match="exclude"):
        ~in_segment("abc")
    with pytest.raises(TypeError, match="exclude"):
        ~attr("address", "object").where(attr("city").is_("Berlin"))
    with pytest.raises(TypeError, match="firstTime"):
        ~did("x", first_time=True, in_the_last=days(1))


def test_data_types_follow_values_and_dates_are_iso() -> None:
    g = (
        attr("n").less_than(3)
        & attr("flag").is_(False)
        & attr("d").between(date(2024, 1, 1), date(2024, 1, 31))
        & attr("t").after(datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))))
        & attr("s").in_the_last(weeks(2))
        & attr("tags", "array_string").in_(["a", "b"], all_of=True)
        & attr("home", "geopoint").near(52.5, 13.4, 10)
        & attr("address", "object").where(attr("city").is_("Berlin"))
    ).to_group()
    n, flag, d, t, s, tags, home, address = g.filters
    assert isinstance(n, moeseg.AttributeFilter)
    assert n.data_type == "double"
    assert isinstance(flag, moeseg.AttributeFilter)
    assert flag.data_type == "bool"
    assert isinstance(d, moeseg.AttributeFilter)
    assert (d.value, d.value1) == ("2024-01-01T00:00:00.000Z", "2024-01-31T23:59:59.999Z")
    assert isinstance(t, moeseg.AttributeFilter)
    assert t.value == "2024-05-01T10:30:00.000Z"
    assert isinstance(s, moeseg.AttributeFilter)
    assert (s.value, s.value_type) == (14, "relative_past")
    assert isinstance(tags, moeseg.AttributeFilter)
    assert tags.array_filter_type == "all_of"
    assert isinstance(home, moeseg.AttributeFilter)
    assert home.radius == 10
    assert isinstance(address, moeseg.AttributeFilter)
    assert address.filters is not None
    segment("all-types", attr("x").exists() & ~attr("y").exists())


def test_builder_errors_are_immediate_and_clear() -> None:
    with pytest.raises(TypeError, match="exactly one of"):
        did("x")
    with pytest.raises(TypeError, match="exactly one of"):
        did("x", in_the_last=days(1), on=date(2024, 1, 1))
    with pytest.raises(TypeError, match="at most one of"):
        did("x", at_least=1, exactly=2, in_the_last=days(1))
    with pytest.raises(ValueError, match="days or weeks"):
        attr("d").in_the_last(months(1))
    with pytest.raises(TypeError, match="attr"):
        did("x", in_the_last=days(1), where=did("y", in_the_last=days(1)))
    # rule violations surface as SegmentValidationError with the path, at segment()
    with pytest.raises(moeseg.SegmentValidationError) as info:
        segment(" ", attr("d").between(10, 1) & did("x", in_the_last=days(0)))
    assert [i.path for i in info.value.issues] == [
        "name",
        "included_filters.filters[0].value1",
        "included_filters.filters[1].primary_time_range.value",
    ]


def test_an_empty_moment_is_a_validation_error_not_an_assertion() -> None:
    """``did(..., before="")`` used to stop on a bare AssertionError inside the builder."""
    with pytest.raises(moeseg.SegmentValidationError) as info:
        segment("n", did("x", before=""))
    assert [i.path for i in info.value.issues] == [
        "included_filters.filters[0].primary_time_range.value"
    ]


def test_exclude_list_means_any_of_them() -> None:
    defn = segment("x", attr("a").is_("1"), exclude=[attr("b").is_("2"), in_segment("abc")])
    assert defn.excluded_filters is not None
    assert defn.excluded_filters.filter_operator == "or"
    assert len(defn.excluded_filters.filters) == 2
