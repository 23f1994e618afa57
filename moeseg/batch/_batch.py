"""Batch files: a YAML or JSON list of segment definitions (moving to ``moeseg.segments``).

A batch file (``load_definitions``) is a YAML or JSON list of Create Custom Segment request
bodies, as MoEngage's dashboard generates them (Test & Debug → Segment Payload), bare or under a
top-level ``segments:`` key. YAML is read with YAML 1.2 booleans: only ``true``/``false`` are
booleans, so a time range ``type: on`` stays the string ``"on"`` (PyYAML's default YAML 1.1
rules would turn it into ``True``); dates and timestamps stay strings, as in the dashboard's JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._exceptions import SegmentValidationError, ValidationIssue
from ..segments import _yaml_12_loader

__all__ = ["load_definitions"]


def load_definitions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a batch file into request-shaped payloads (one dict per segment), unvalidated.

    The format follows the suffix (``.json``; anything else is read as YAML, a superset of
    JSON). Raises ``SegmentValidationError`` when the file is not a list of mappings (each
    item is validated later, one by one, so a single bad item does not stop the batch) and
    ``OSError`` when it cannot be read.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    where = p.name
    try:
        data: Any = json.loads(text) if p.suffix.lower() == ".json" else _load_yaml(text)
    except ValueError as exc:  # json.JSONDecodeError and yaml.YAMLError (re-raised below)
        raise SegmentValidationError([ValidationIssue(where, f"cannot parse: {exc}")]) from exc
    if isinstance(data, Mapping) and "segments" in data:
        data = data["segments"]
    if not isinstance(data, list):
        raise SegmentValidationError(
            [ValidationIssue(where, "expected a list of segment definitions")]
        )
    issues = [
        ValidationIssue(f"{where}[{i}]", "expected a mapping (a segment definition)")
        for i, item in enumerate(data)
        if not isinstance(item, Mapping)
    ]
    if issues:
        raise SegmentValidationError(issues)
    return [dict(item) for item in data]


def _load_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - pyyaml ships with the cli extra
        raise ImportError("reading YAML needs PyYAML: pip install 'moeseg[yaml]'") from exc

    # the models' loader: YAML 1.2 booleans (on/yes/no stay strings), timestamps stay strings
    try:
        return yaml.load(text, Loader=_yaml_12_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc
