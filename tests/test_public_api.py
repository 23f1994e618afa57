"""The package's public surface: one sorted, complete ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import moeseg


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in moeseg.__all__ if n != "__version__"]
    assert names == sorted(names, key=str.casefold) or names == sorted(names)
    assert len(set(moeseg.__all__)) == len(moeseg.__all__)


def test_all_names_resolve() -> None:
    for name in moeseg.__all__:
        assert hasattr(moeseg, name), name


def _private_modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.iter_modules(moeseg.__path__, "moeseg.")
        if m.name.rsplit(".", 1)[1].startswith("_") and not m.ispkg
    ]


@pytest.mark.parametrize("modname", _private_modules())
def test_every_public_name_of_private_modules_is_exported(modname: str) -> None:
    """Whatever a private module declares public is reachable from ``moeseg``."""
    mod = importlib.import_module(modname)
    for name in getattr(mod, "__all__", []):
        assert name in moeseg.__all__, f"{modname}.{name} missing from moeseg.__all__"
        assert getattr(moeseg, name) is getattr(mod, name)


def test_errors_are_moeseg_errors() -> None:
    for name in moeseg.__all__:
        obj = getattr(moeseg, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, moeseg.MoesegError), name
