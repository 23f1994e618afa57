"""The installed package's version (the client sends it in its User-Agent)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """moeseg's version from the installed metadata, or ``0.0.0+unknown`` in a bare source tree."""
    try:
        return version("moeseg")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0+unknown"
