"""The desired-files loader: formats, directories, references, and every refusal with its
file, item and rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from moeseg import SegmentValidationError
from moeseg._workspace import DesiredItemError, load_desired, parse_desired

from ._model import payload


def write_yaml(path: Path, *docs: Any) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return path


def refusal(paths: list[Path], **kw: Any) -> DesiredItemError:
    with pytest.raises(DesiredItemError) as info:
        load_desired(paths, **kw)
    return info.value


def test_yaml_documents_json_and_directories_in_sorted_order(tmp_path: Path) -> None:
    d = tmp_path / "segments"
    (d / "sub").mkdir(parents=True)
    write_yaml(d / "b.yaml", payload("B", "b", key="kb"), [payload("C", "c"), payload("D", "d")])
    (d / "a.json").write_text(json.dumps(payload("A", "a")), encoding="utf-8")
    write_yaml(d / "sub" / "e.yml", payload("E", "e", ("kb",)))
    (d / "notes.txt").write_text("ignored", encoding="utf-8")
    desired = load_desired([d])
    assert [i.key for i in desired.items] == ["A", "kb", "C", "D", "E"]
    assert [(i.file, i.index) for i in desired.items][1:4] == [
        (str(d / "b.yaml"), 0),
        (str(d / "b.yaml"), 1),
        (str(d / "b.yaml"), 2),
    ]
    assert desired.by_key()["E"].references == ("kb",)
    assert "key" not in desired.by_key()["kb"].payload
    # the same files read again give the same digest
    assert load_desired([d]).digest() == desired.digest()


def test_yaml_12_booleans_keep_on_a_string(tmp_path: Path) -> None:
    f = tmp_path / "on.yaml"
    f.write_text(
        "name: Signed up on a day\nincluded_filters:\n  filter_operator: and\n  filters:\n"
        "    - filter_type: user_attributes\n      name: signup\n      data_type: datetime\n"
        "      operator: on\n      value: 2024-01-15T00:00:00.000Z\n      value_type: absolute\n",
        encoding="utf-8",
    )
    item = load_desired([f]).items[0]
    assert item.payload["included_filters"]["filters"][0]["operator"] == "on"


def test_reference_is_resolved_to_the_id_and_the_name_label(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "s.yaml", payload("A", "a", key="a"), payload("B", "b", ("a",)))
    b = load_desired([f]).by_key()["B"]
    resolved = b.resolve({"a": "id-a"}, {"a": "A"})
    ref = resolved["included_filters"]["filters"][1]
    assert ref == {"filter_type": "custom_segments", "id": "id-a", "name": "A"}
    assert b.payload["included_filters"]["filters"][1]["segment_key"] == "a"  # not mutated


@pytest.mark.parametrize(
    ("items", "index", "key", "rule"),
    [
        ([payload("A", "a"), payload("B", "b", key="A")], 1, "A", "duplicate key"),
        ([payload("A", "a", key="x"), payload("A", "b", key="y")], 1, "y", "duplicate name"),
        ([payload("A", "a"), payload("B", "a")], 1, "B", "duplicate definition"),
        ([payload("A", "a", ("nope",))], 0, "A", "dangling reference: segment_key 'nope'"),
        ([payload("A", "a", ("B",)), payload("B", "b", ("A",))], 0, "A", "reference cycle"),
        ([payload("A", "a", ("A",))], 0, "A", "reference cycle: A -> A"),
        ([["not", "a", "mapping"]], 0, None, "an item must be a mapping"),
        ([{**payload("A", "a"), "key": 7}], 0, None, "key must be a non-empty string"),
        ([{**payload("A", "a"), "key": " padded"}], 0, " padded", "no outer whitespace"),
    ],
)
def test_item_refusals_name_file_item_and_rule(
    tmp_path: Path, items: list[Any], index: int, key: str | None, rule: str
) -> None:
    f = write_yaml(tmp_path / "s.yaml", items)
    err = refusal([f])
    assert (err.file, err.index, err.key) == (str(f), index, key)
    assert rule in err.rule
    assert str(f) in str(err)
    assert f"item {index}" in str(err)
    assert rule in str(err)


def test_duplicates_across_files_name_the_first_one(tmp_path: Path) -> None:
    a = write_yaml(tmp_path / "a.yaml", payload("A", "a"))
    b = write_yaml(tmp_path / "b.yaml", payload("A", "b", key="other"))
    err = refusal([a, b])
    assert err.file == str(b)
    assert "duplicate name" in err.rule
    assert str(a) in err.rule


def test_invalid_definition_wraps_the_validation_issues(tmp_path: Path) -> None:
    bad = payload("A", "a")
    bad["included_filters"]["filters"][0]["operator"] = "lessThan"  # not for strings
    f = write_yaml(tmp_path / "s.yaml", payload("OK", "ok"), bad)
    err = refusal([f])
    assert (err.index, err.key) == (1, "A")
    assert err.rule.startswith("invalid definition: included_filters.filters[0].operator")
    assert not isinstance(err, SegmentValidationError)  # a loader error, cause not chained
    assert err.__cause__ is None


def test_a_second_document_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(payload("A", "a")) + "---\nname: [unclosed\n", encoding="utf-8")
    err = refusal([f])
    assert (err.file, err.index) == (str(f), None)
    assert "YAML document 2 does not parse" in err.rule


def test_bad_json_missing_path_and_size_cap(tmp_path: Path) -> None:
    j = tmp_path / "s.json"
    j.write_text("{not json", encoding="utf-8")
    assert "not valid JSON" in refusal([j]).rule
    assert refusal([tmp_path / "missing.yaml"]).rule == "no such file or directory"
    big = write_yaml(tmp_path / "big.yaml", payload("A", "a"))
    assert "exceeds the cap of 10" in refusal([big], max_file_bytes=10).rule


def test_alias_bomb_is_refused_by_the_node_cap(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = refusal([f], max_nodes=10_000)  # 10^9 values once expanded
    assert "document 1 expands to more than 10000 values" in err.rule


def test_reference_and_nesting_caps(tmp_path: Path) -> None:
    many = write_yaml(tmp_path / "m.yaml", payload("A", "a"), payload("B", "b", ("A",)))
    assert "exceed the cap of 0" in refusal([many], max_references=0).rule
    chain = write_yaml(
        tmp_path / "c.yaml", payload("A", "a"), payload("B", "b", ("A",)), payload("C", "c", ("B",))
    )
    err = refusal([chain], max_reference_depth=1)
    assert err.key == "C"
    assert "depth 2 exceeds the cap of 1" in err.rule
    nested = payload("N", "n")
    leaf = dict(nested["included_filters"]["filters"][0])
    inner: dict[str, Any] = {"filter_type": "nested_filters", "filter_operator": "or"}
    inner["filters"] = [leaf]
    nested["included_filters"]["filters"].append(
        {"filter_type": "nested_filters", "filter_operator": "and", "filters": [inner]}
    )
    f = write_yaml(tmp_path / "n.yaml", nested)
    assert load_desired([f]).items[0].key == "N"
    assert "nest deeper than the cap of 1" in refusal([f], max_nesting=1).rule


def test_both_id_and_segment_key_is_refused() -> None:
    item = payload("A", "a", ("B",))
    item["included_filters"]["filters"][1]["id"] = "123"
    with pytest.raises(DesiredItemError, match="both id and segment_key"):
        parse_desired([("mem", [item, payload("B", "b")])])


def test_empty_documents_hold_no_items() -> None:
    assert parse_desired([("mem", [None, [], payload("A", "a")])]).by_key().keys() == {"A"}


def test_huge_numbers_and_deep_nesting_are_refusals_not_crashes(tmp_path: Path) -> None:
    f = tmp_path / "n.yaml"
    f.write_text("name: x\nvalue: " + "9" * 5000 + "\n", encoding="utf-8")
    assert "YAML document 1 does not parse" in refusal([f]).rule
    deep = tmp_path / "d.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    assert "does not parse" in refusal([deep]).rule
    j = tmp_path / "d.json"
    j.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert "not valid JSON" in refusal([j]).rule


def test_yaml_11_words_stay_strings(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(
        "name: Yes no\nincluded_filters:\n  filter_operator: and\n  filters:\n"
        "    - filter_type: user_attributes\n      name: answer\n      data_type: string\n"
        "      operator: in\n      value: [yes, no, off, 2024-01-15]\n",
        encoding="utf-8",
    )
    value = load_desired([f]).items[0].payload["included_filters"]["filters"][0]["value"]
    assert value == ["yes", "no", "off", "2024-01-15"]
