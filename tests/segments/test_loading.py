"""Reading definitions from text and files: JSON or YAML, bounded, every problem a typed error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import moeseg
from moeseg import SegmentValidationError, load_definitions, load_payload


def _alias_bomb(levels: int = 9, fan: int = 8) -> str:
    """The "billion laughs" file: each level lists ``fan`` aliases of the level below."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * fan)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"name: *a{levels}")
    lines.append("included_filters: {filter_operator: and, filters: []}")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_while_reading(tmp_path: Path) -> None:
    text = _alias_bomb()
    assert len(text) < 1200
    with pytest.raises(SegmentValidationError, match="anchors and aliases"):
        load_payload(text)
    path = tmp_path / "bomb.yaml"
    path.write_text(text.replace("name: *a9", "segments: [{name: x, bomb: *a9}]"))
    with pytest.raises(SegmentValidationError, match="anchors and aliases"):
        load_definitions(path)


def test_anchors_and_aliases_still_work(sample_payload: dict[str, Any]) -> None:
    text = """
    city: &city {filter_type: user_attributes, name: City, data_type: string, operator: is,
                 value: Berlin, negate: false, case_sensitive: false}
    name: berlin_twice
    included_filters: {filter_operator: or, filters: [*city, *city]}
    """
    defn = load_payload(text)
    city = sample_payload["included_filters"]["filters"][0]
    assert moeseg.to_payload(defn)["included_filters"]["filters"] == [city, city]


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(SegmentValidationError, match="recursive alias"):
        load_payload("name: &x [*x]\nincluded_filters: {filter_operator: and, filters: []}\n")


@pytest.mark.parametrize(
    "text", ["[" * 100_000, "{'a': " * 100_000, '{"name": ' + "[" * 100_000], ids=len
)
def test_deep_nesting_in_json_or_yaml_is_a_validation_error(text: str) -> None:
    with pytest.raises(SegmentValidationError, match="nested"):
        load_payload(text)


def test_deep_nesting_in_a_file_is_a_validation_error(tmp_path: Path) -> None:
    for suffix in (".json", ".yaml"):
        path = tmp_path / f"deep{suffix}"
        path.write_text("[" * 100_000)
        with pytest.raises(SegmentValidationError, match="nested"):
            load_definitions(path)


def test_deep_nesting_in_a_mapping_is_a_validation_error(sample_payload: dict[str, Any]) -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    sample_payload["included_filters"]["filters"][0]["value"] = deep
    with pytest.raises(SegmentValidationError) as info:
        moeseg.from_payload(sample_payload)
    assert info.value.issues[0].path.startswith("included_filters.filters[0].value[0]")
    assert "nested more than" in info.value.issues[0].rule


def test_a_5000_digit_integer_is_named_by_its_path(sample_payload: dict[str, Any]) -> None:
    text = json.dumps(sample_payload).replace('"count": 2', '"count": ' + "9" * 5000)
    for source in (text, text.encode()):
        with pytest.raises(SegmentValidationError) as info:
            load_payload(source)
        (issue,) = info.value.issues
        assert issue.path == "included_filters.filters[1].execution.count"
        assert "5000 digits" in issue.rule
    yaml_text = "count: " + "9" * 5000 + "\n"
    with pytest.raises(SegmentValidationError, match="5000 digits"):
        load_payload(yaml_text)


def test_nan_and_infinity_in_text_are_refused(sample_payload: dict[str, Any]) -> None:
    for literal in ("NaN", "Infinity", "-Infinity", "1e5000"):
        text = json.dumps(sample_payload).replace('"count": 2', f'"count": {literal}')
        with pytest.raises(SegmentValidationError) as info:
            load_payload(text)
        assert info.value.issues[0].path == "included_filters.filters[1].execution.count"
        assert "finite" in info.value.issues[0].rule


def test_a_single_payload_is_a_batch_of_one(tmp_path: Path, sample_payload: dict[str, Any]) -> None:
    for suffix, text in (
        (".json", json.dumps(sample_payload)),
        (".yaml", json.dumps(sample_payload)),
    ):
        path = tmp_path / f"one{suffix}"
        path.write_text(text)
        assert load_definitions(path) == [sample_payload]
    listed = tmp_path / "listed.yaml"
    listed.write_text(json.dumps({"segments": [sample_payload, sample_payload]}))
    assert load_definitions(listed) == [sample_payload, sample_payload]


def test_a_file_that_is_not_utf8_names_the_file_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes('- name: "Köln"\n'.encode("latin-1"))
    with pytest.raises(SegmentValidationError) as info:
        load_definitions(path)
    (issue,) = info.value.issues
    assert issue.path == "latin1.yaml"
    assert issue.rule == "not UTF-8 text: byte 0xf6 at byte offset 10"
    with pytest.raises(SegmentValidationError, match="byte 0xff at byte offset 5"):
        load_payload(b"\xef\xbb\xbfab\xff")  # the offset counts the byte order mark


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, sample_payload: dict[str, Any]) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([sample_payload]).encode())
    assert load_definitions(path) == [sample_payload]


def test_yaml_12_booleans_and_timestamps_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "defs.yaml"
    path.write_text("- {a: on, b: yes, c: 2024-01-15, d: true}\n")
    assert load_definitions(path) == [{"a": "on", "b": "yes", "c": "2024-01-15", "d": True}]


def test_the_loader_is_importable_where_it_was() -> None:
    from moeseg.batch import load_definitions as from_batch

    assert from_batch is moeseg.load_definitions is load_definitions
