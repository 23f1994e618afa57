"""The Cohort Sync OpenAPI document from ../shared/reference (beside the repo), at test time.

Absent folder: the tests that need it skip with the reason, unless MOESEG_REQUIRE_SHARED=1, when
they fail instead.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COHORT_DOC = REPO / ".." / "shared" / "reference" / "moengage-cohort-sync-official-openapi.yaml"


def cohort_document() -> dict[str, Any]:
    """The parsed document, or a skip (a failure under MOESEG_REQUIRE_SHARED=1)."""
    if not COHORT_DOC.is_file():
        reason = f"{COHORT_DOC} not found (shared/reference sits beside the repo)"
        if os.environ.get("MOESEG_REQUIRE_SHARED") == "1":
            pytest.fail(reason + " and MOESEG_REQUIRE_SHARED=1")
        pytest.skip(reason)
    return _parse(COHORT_DOC)


@functools.lru_cache(maxsize=2)
def _parse(path: Path) -> dict[str, Any]:
    # Parsed once per run: the document does not change while the tests read it.
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def operation() -> dict[str, Any]:
    op = cohort_document()["paths"]["/v1/integrations/cohortsync"]["post"]
    assert isinstance(op, dict)
    return op


def response_examples() -> list[tuple[int, str, dict[str, Any]]]:
    """(status, example name, body) of every example under every documented response."""
    out = []
    for status, response in operation()["responses"].items():
        content = response["content"]["application/json"]
        if "example" in content:
            out.append((int(status), "example", content["example"]))
        for name, example in content.get("examples", {}).items():
            out.append((int(status), name, example["value"]))
    return out


def request_examples() -> dict[str, dict[str, Any]]:
    examples = operation()["requestBody"]["content"]["application/json"]["examples"]
    return {name: ex["value"] for name, ex in examples.items()}
