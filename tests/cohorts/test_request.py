"""The Cohort model and one body: names, ids, partner, uids, the exact bytes of a body."""

from __future__ import annotations

import json
import pickle
import warnings

import pytest

import moeseg
from moeseg._cohorts import (
    FORBIDDEN_NAME_CHARACTERS,
    Cohort,
    CohortNameWarning,
    CohortValidationError,
    derive_cohort_id,
    encode_body,
    encode_member,
    validate_uid,
)
from tests.cohorts._shared import request_examples


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def test_defaults_partner_and_a_derived_id() -> None:
    cohort = Cohort("Partner_Name")
    assert cohort.partner == "moeseg"
    assert cohort.description is None
    assert cohort.cohort_id == derive_cohort_id("Partner_Name")


def test_the_derived_id_is_pinned() -> None:
    # The derivation is a stored key: changing it would orphan every cohort synced before.
    assert derive_cohort_id("Partner_Name") == "moeseg-9a0244fac4ddd409baa9f30e0b07a3ba"
    assert derive_cohort_id("partner_name") != derive_cohort_id("Partner_Name")
    assert derive_cohort_id("é") != derive_cohort_id("e\u0301")  # no normalisation


def test_an_explicit_id_wins() -> None:
    assert Cohort("A", cohort_id="JKTAuqTRhC").cohort_id == "JKTAuqTRhC"


@pytest.mark.parametrize("character", list(FORBIDDEN_NAME_CHARACTERS))
def test_forbidden_characters_are_refused_naming_the_character(character: str) -> None:
    with pytest.raises(CohortValidationError) as info:
        Cohort(f"before{character}after")
    assert info.value.field == "parameters.cohort_name"
    assert repr(character) in info.value.rule
    assert isinstance(info.value, moeseg.SegmentValidationError)
    assert isinstance(info.value, ValueError)


def test_a_leading_dot_warns_and_is_kept() -> None:
    with pytest.warns(CohortNameWarning, match="starts with '.'") as record:
        cohort = Cohort(".hidden")
    assert cohort.name == ".hidden"
    assert record[0].filename == __file__  # points at the caller's line


def test_an_ordinary_name_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Cohort("a.b_c-d e")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "parameters.cohort_name"),
        ({"name": "   "}, "parameters.cohort_name"),
        ({"name": 7}, "parameters.cohort_name"),
        ({"name": "a\ud800"}, "parameters.cohort_name"),
        ({"name": "a", "cohort_id": ""}, "parameters.cohort_id"),
        ({"name": "a", "partner": " "}, "partner"),
        ({"name": "a", "description": ""}, "parameters.cohort_description"),
        ({"name": "a", "description": 3}, "parameters.cohort_description"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(CohortValidationError) as info:
        Cohort(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize("uid", ["", " ", "\t", "a\nb", "a\rb", "\udc80", None, 5])
def test_bad_uids_are_refused(uid: object) -> None:
    with pytest.raises(CohortValidationError) as info:
        validate_uid(uid)
    assert info.value.field == "members[].uid"


def test_the_body_is_compact_utf8_json_with_members_last() -> None:
    cohort = Cohort("Ünïcode", description="d", partner="p")
    uids = ["a", "é😀", 'quote"back\\slash', "\x01ctl", "a\u2028b"]
    expected = {
        "action": "remove_members",
        "partner": "p",
        "parameters": {
            "cohort_name": "Ünïcode",
            "cohort_id": cohort.cohort_id,
            "cohort_description": "d",
            "members": [{"uid": u} for u in uids],
        },
    }
    assert encode_body(cohort, "remove_members", uids) == compact(expected)
    assert encode_member("é") == '{"uid":"é"}'.encode()


def test_no_description_no_key() -> None:
    body = json.loads(encode_body(Cohort("a"), "add_members", ["u"]))
    assert "cohort_description" not in body["parameters"]


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(CohortValidationError) as info:
        encode_body(Cohort("a"), "add", ["u"])  # type: ignore[arg-type]
    assert info.value.field == "action"


def test_errors_survive_pickling() -> None:
    with pytest.raises(CohortValidationError) as info:
        Cohort("a|b")
    again = pickle.loads(pickle.dumps(info.value))
    assert (type(again), again.field, again.rule, str(again)) == (
        type(info.value),
        info.value.field,
        info.value.rule,
        str(info.value),
    )


@pytest.mark.parametrize("name", ["AddMembers", "RemoveMembers"])
def test_the_documented_request_examples_are_what_we_send(name: str) -> None:
    example = request_examples()[name]
    params = example["parameters"]
    cohort = Cohort(
        params["cohort_name"],
        cohort_id=params["cohort_id"],
        description=params["cohort_description"],
        partner=example["partner"],
    )
    uids = [m["uid"] for m in params["members"]]
    assert json.loads(encode_body(cohort, example["action"], uids)) == example
