"""The reference document is read at test time: absent -> skip, or fail when it is required."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cohorts import _shared


def test_absent_reference_skips_with_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_shared, "COHORT_DOC", tmp_path / "missing.yaml")
    monkeypatch.delenv("MOESEG_REQUIRE_SHARED", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"missing\.yaml not found"):
        _shared.cohort_document()


def test_absent_reference_fails_when_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_shared, "COHORT_DOC", tmp_path / "missing.yaml")
    monkeypatch.setenv("MOESEG_REQUIRE_SHARED", "1")
    with pytest.raises(pytest.fail.Exception, match="MOESEG_REQUIRE_SHARED=1"):
        _shared.cohort_document()
