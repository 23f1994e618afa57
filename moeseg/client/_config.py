"""Where the client sends and how patiently: API roots, the environment, per-call options.

Nothing here sends a request. Every setting is checked when it is given (the constructor or
``with_options``), so a wrong one raises :class:`~moeseg.ConfigurationError` before any quota is
spent, never at the first call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Final, TypedDict

import attrs

from .._exceptions import ConfigurationError

#: Data centers MoEngage documents (``api-{dc}.moengage.com``).
DATA_CENTERS: Final = ("01", "02", "03", "04", "05", "06", "101")
DEFAULT_LEGACY_BASE_URL: Final = "https://api.moengage.com"

ENV_WORKSPACE_ID: Final = "MOENGAGE_WORKSPACE_ID"
ENV_API_KEY: Final = "MOENGAGE_API_KEY"
ENV_DC: Final = "MOENGAGE_DC"
ENV_DB_NAME: Final = "MOENGAGE_DB_NAME"
ENV_BASE_URL: Final = "MOENGAGE_BASE_URL"

#: Decoded bytes of one answer the client reads at most (MoEngage's bodies are a few KB; a list
#: of 1,000 segments is about 200 KB).
DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024


def env(value: str | None, name: str) -> str | None:
    """``value`` when given, else the environment variable ``name`` (empty counts as unset)."""
    if value is not None and value != "":
        return value
    found = os.environ.get(name, "")
    return found or None


def required(value: str | None, name: str, what: str, param: str) -> str:
    """``value``, else the environment variable ``name``; neither is a ConfigurationError."""
    found = env(value, name)
    if found is None:
        raise ConfigurationError(f"no MoEngage {what}: pass {param}= or set {name}")
    return found


def normalize_dc(dc: str | int) -> str:
    """``1``, ``"1"`` or ``"01"`` -> ``"01"``; ``101`` -> ``"101"``; anything else is refused."""
    text = str(dc).strip()
    if text.isdigit() and len(text) <= 3:
        candidate = f"{int(text):02d}"
        if candidate in DATA_CENTERS:
            return candidate
    raise ConfigurationError(
        f"unknown MoEngage data center {dc!r}: expected one of {', '.join(DATA_CENTERS)}"
    )


def base_url_for_dc(dc: str | int) -> str:
    """The API host of a data center: ``https://api-{dc}.moengage.com``."""
    return f"https://api-{normalize_dc(dc)}.moengage.com"


def check_base_url(url: str, what: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{what} must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def api_root(base_url: str | None, dc: str | int | None) -> str:
    """The API root from ``base_url``, ``dc``, or the environment (in that order)."""
    if not base_url and (dc is None or dc == ""):
        base_url = env(None, ENV_BASE_URL)
    if base_url:
        return check_base_url(base_url, "base_url")
    center = dc if dc is not None and dc != "" else env(None, ENV_DC)
    if center is None:
        raise ConfigurationError(
            f"no MoEngage data center: pass dc= (01..06 or 101) or base_url=, or set {ENV_DC}"
        )
    return base_url_for_dc(center)


def _timeout(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {value!r}")
    return float(value)


def _retries(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"max_retries must be an int >= 0, got {value!r}")
    return value


def _wait(value: float | None) -> float | None:
    if value is None or value == math.inf:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"max_wait must be >= 0 seconds or None, got {value!r}")
    if not (value >= 0 and math.isfinite(value)):
        raise ConfigurationError(f"max_wait must be >= 0 seconds or None, got {value!r}")
    return float(value)


def _size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ConfigurationError(f"max_response_bytes must be an int >= 1024, got {value!r}")
    return value


@attrs.frozen(slots=True)
class Options:
    """The settings of one call: seconds per attempt, retries after the first attempt, the
    longest quota wait per attempt (``None``: as long as needed) and the decoded size of an
    answer the client reads at most."""

    timeout: float = attrs.field(default=30.0, converter=_timeout)
    max_retries: int = attrs.field(default=4, converter=_retries)
    max_wait: float | None = attrs.field(default=None, converter=_wait)
    max_response_bytes: int = attrs.field(default=DEFAULT_MAX_RESPONSE_BYTES, converter=_size)


class CallOptions(TypedDict, total=False):
    """Keyword arguments of :meth:`moeseg.Client.with_options` (each optional)."""

    timeout: float
    max_retries: int
    max_wait: float | None
    max_response_bytes: int


class PerCall(TypedDict, total=False):
    """Deprecated per-call keywords (use ``client.with_options(...)``); ``None`` keeps the
    client's setting."""

    timeout: float | None
    max_retries: int | None
    max_wait: float | None


class ArchiveKw(PerCall, total=False):
    """Deprecated keywords of archive/unarchive (``cs_id`` is now ``segment_id``)."""

    cs_id: str | None


class FileKw(PerCall, total=False):
    """Deprecated keywords of the file calls: a :class:`FileOptions` and ``segment_id`` now."""

    attribute_name: str
    attribute: str
    attribute_type: str
    emails: Sequence[str] | None
    cs_id: str | None


def merged(options: Options, changes: CallOptions) -> Options:
    """``options`` with ``changes`` applied (checked); unknown keys are a TypeError."""
    unknown = set(changes) - set(attrs.fields_dict(Options))
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    if not changes:
        return options
    return attrs.evolve(options, **changes)
