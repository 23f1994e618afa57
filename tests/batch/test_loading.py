"""Reading batch files: JSON and YAML lists, YAML 1.2 booleans, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moeseg import SegmentValidationError
from moeseg.segments import load_definitions

ITEM = {
    "name": "a",
    "included_filters": {
        "filter_operator": "and",
        "filters": [
            {
                "filter_type": "actions",
                "action_name": "MOE_APP_OPENED",
                "executed": True,
                "execution": {"type": "atleast", "count": 1},
                "primary_time_range": {
                    "type": "on",
                    "value": "2024-01-01T00:00:00.000Z",
                    "value_type": "absolute",
                    "period_unit": "days",
                },
            }
        ],
    },
}


def test_json_list(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    p.write_text(json.dumps([ITEM, ITEM]))
    assert load_definitions(p) == [ITEM, ITEM]


def test_yaml_keeps_on_and_timestamps_as_strings(tmp_path: Path) -> None:
    p = tmp_path / "b.yaml"
    p.write_text(
        "segments:\n"
        "  - name: a\n"
        "    included_filters:\n"
        "      filter_operator: and\n"
        "      filters:\n"
        "        - filter_type: actions\n"
        "          action_name: MOE_APP_OPENED\n"
        "          executed: true\n"
        "          execution: {type: atleast, count: 1}\n"
        "          primary_time_range:\n"
        "            type: on\n"
        "            value: 2024-01-01T00:00:00.000Z\n"
        "            value_type: absolute\n"
        "            period_unit: days\n"
    )
    assert load_definitions(p) == [ITEM]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("42\n", "expected a list"),
        ("- 1\n- name: b\n", "b.yaml[0]"),
        ("- [unclosed\n", "cannot parse"),
    ],
)
def test_bad_files_raise_validation_error(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "b.yaml"
    p.write_text(text)
    with pytest.raises(SegmentValidationError, match=needle.replace("[", r"\[")):
        load_definitions(p)
