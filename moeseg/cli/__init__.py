"""The ``moeseg`` command line."""

from ._app import main

__all__ = ["main"]
