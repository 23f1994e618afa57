"""The sample payload the segments tests share (written for these tests, in the dashboard's
"Generate payload" form: one user attribute condition and one event)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

SAMPLE_PAYLOAD: dict[str, Any] = {
    "name": "berlin_openers",
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
                "action_name": "MOE_EMAIL_OPEN",
                "executed": True,
                "execution": {"type": "atleast", "count": 2},
                "primary_time_range": {
                    "type": "inTheLast",
                    "value": 7,
                    "value_type": "relative_past",
                    "period_unit": "days",
                },
            },
        ],
    },
}


@pytest.fixture
def sample_payload() -> dict[str, Any]:
    """A valid create payload; a fresh copy each time, so a test may change it."""
    return copy.deepcopy(SAMPLE_PAYLOAD)
