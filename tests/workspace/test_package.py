"""The package face of moeseg._workspace and its errors."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest

import moeseg
from moeseg import _workspace as workspace
from moeseg._workspace import (
    DesiredItemError,
    HeadroomExceeded,
    PlanFileError,
    PlanRefused,
    StalePlan,
    StateLocked,
    StateSchemaError,
)


def test_all_is_small_sorted_and_every_module_name_reachable() -> None:
    assert workspace.__all__ == sorted(workspace.__all__, key=str.casefold)
    assert len(set(workspace.__all__)) == len(workspace.__all__) <= 20  # issue 14: few names
    for name in workspace.__all__:
        assert getattr(workspace, name).__module__.startswith("moeseg._workspace"), name
    for m in pkgutil.iter_modules(workspace.__path__, "moeseg._workspace."):
        mod = importlib.import_module(m.name)
        for name in getattr(mod, "__all__", []):
            assert getattr(workspace, name) is getattr(mod, name), f"{m.name}.{name}"


@pytest.mark.parametrize(
    "error",
    [
        DesiredItemError("f.yaml", 2, "k", "duplicate key"),
        DesiredItemError("f.yaml", None, None, "YAML document 2 does not parse"),
        StateSchemaError("s.sqlite", "schema drifted"),
        StateLocked("s.sqlite", "host:123", 99.0),
        HeadroomExceeded(999, 3, 1, 1000),
        PlanRefused(["a", "b"]),
        StalePlan("a" * 64, "b" * 64),
        PlanFileError("p.json", "not a moeseg plan"),
    ],
)
def test_errors_are_moeseg_errors_and_pickle(error: Exception) -> None:
    assert isinstance(error, moeseg.MoesegError)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
