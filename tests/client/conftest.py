"""Shared pieces of the client tests: a respx router as transport, a recording governor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
import respx

import moeseg
from moeseg import Client, SegmentDefinition
from moeseg.client._answers import Answer, error_from_answer
from moeseg.client._credentials import Redactor
from moeseg.governor import QuotaPolicy

BASE = "https://api-01.moengage.com"
WORKSPACE = "WS1"
API_KEY = "key-9f8e7d6c5b4a"
LEGACY_SECRET = "legacy-secret-0a1b2c"
DB_NAME = "db1"

#: The create payload of the seed document's cURL sample.
SAMPLE_PAYLOAD: dict[str, Any] = {
    "name": "segment_example_name",
    "included_filters": {
        "filter_operator": "and",
        "filters": [
            {
                "filter_type": "user_attributes",
                "name": "Name",
                "data_type": "string",
                "operator": "is",
                "value": "chandan",
                "negate": False,
                "case_sensitive": False,
            }
        ],
    },
}


def sample_definition(
    name: str = "segment_example_name", value: str = "chandan"
) -> SegmentDefinition:
    """The sample definition, renamed; another ``value`` makes another definition."""
    flt = dict(SAMPLE_PAYLOAD["included_filters"]["filters"][0], value=value)
    filters = {"filter_operator": "and", "filters": [flt]}
    return moeseg.from_payload({"name": name, "included_filters": filters})


def segment_body(
    name: str = "segment_example_name", seg_id: str = "seg-1", value: str = "chandan"
) -> dict[str, Any]:
    """A v3 success body for one segment, with the server's echo noise (``value1: ""``)."""
    flt = dict(SAMPLE_PAYLOAD["included_filters"]["filters"][0], value=value, value1="")
    return {
        "data": {
            "name": name,
            "id": seg_id,
            "created_time": "2022-12-20T06:21:44.112000",
            "updated_time": "2022-12-20T06:21:44.160000",
            "type": "ELASTIC_SEARCH",
            "source": "API",
            "description": f"Name is {value}",
            "included_filters": {"filter_operator": "and", "filters": [flt]},
        },
        "response_id": "cNjnTEJw",
        "type": "custom_segment",
    }


def list_body(*items: tuple[str, str]) -> dict[str, Any]:
    return {
        "data": [
            {
                "name": name,
                "id": seg_id,
                "created_time": "2022-12-01T13:17:46.409000",
                "type": "ELASTIC_SEARCH",
                "source": "API",
            }
            for name, seg_id in items
        ],
        "response_id": "WYanfieM",
        "type": "custom_segment",
    }


def v3_error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "response_id": "rid-1",
        "type": "custom_segment",
        "error": {"code": code, "message": message, **extra},
    }


NAME_EXISTS = v3_error(
    "Resource not created",
    "Another custom-segment already exists with the same name: segment_example_name. Please "
    "change the custom-segment name.",
)


class RecordingLease:
    """A lease that records how it was settled."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def complete(self) -> None:
        self.log.append("complete")

    async def refund(self) -> None:
        self.log.append("refund")


class RecordingGovernor:
    """Admits everything at once and records what the client asked and reported."""

    def __init__(self, policy: QuotaPolicy | None = None) -> None:
        self._policy = policy or QuotaPolicy.moengage()
        self.demands: list[dict[str, int]] = []
        self.settled: list[str] = []
        self.rate_limited: list[tuple[str, float | None]] = []
        self.observed: list[tuple[str, dict[str, str]]] = []
        self.lease_timeouts: list[float] = []
        self.max_waits: list[float | None] = []

    @property
    def policy(self) -> QuotaPolicy:
        return self._policy

    async def acquire(
        self,
        demand: Mapping[str, int],
        *,
        max_wait: float | None = None,
        lease_timeout: float = 120.0,
    ) -> RecordingLease:
        self.demands.append(dict(demand))
        self.max_waits.append(max_wait)
        self.lease_timeouts.append(lease_timeout)
        return RecordingLease(self.settled)

    async def report_rate_limited(self, group: str, window_seconds: float | None = None) -> None:
        self.rate_limited.append((group, window_seconds))

    async def observe_headers(self, group: str, headers: Mapping[str, str]) -> None:
        self.observed.append((group, dict(headers)))


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=False, assert_all_mocked=True)


@pytest.fixture
def governor() -> RecordingGovernor:
    return RecordingGovernor()


@pytest.fixture
async def client(router: respx.MockRouter, governor: RecordingGovernor) -> AsyncIterator[Client]:
    async with Client(
        WORKSPACE,
        API_KEY,
        dc="01",
        db_name=DB_NAME,
        legacy_api_secret=LEGACY_SECRET,
        governor=governor,
        transport=httpx.MockTransport(router.async_handler),
    ) as c:
        yield c


def error_from_response(
    status: int,
    content: bytes,
    *,
    method: str,
    path: str,
    redact: Redactor | None = None,
    headers: Mapping[str, str] | None = None,
) -> moeseg.MoesegError:
    """The typed error the client raises for this answer."""
    answer = Answer(status, httpx.Headers(headers or {}), content, method, path)
    return error_from_answer(answer, status, redact or Redactor(()))
