"""Reading definitions from JSON or YAML text and files, with hostile input kept in bounds.

YAML anchors and aliases work, but a document may expand to at most :data:`MAX_DOCUMENT_NODES`
nodes and nest :data:`MAX_DOCUMENT_DEPTH` levels (a 1 KB "billion laughs" file would otherwise
expand to gigabytes). Every problem is a :class:`moeseg.SegmentValidationError`.
"""

from __future__ import annotations

import codecs
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._exceptions import SegmentValidationError, ValidationIssue
from ._codec import from_payload
from ._limits import DEFAULT_LIMITS, Limits, TooLongNumber
from ._requests import SegmentDefinition

__all__ = ["load_definitions", "load_payload"]

#: nodes a YAML document may expand to (an alias counts its anchor's whole size again)
MAX_DOCUMENT_NODES = 1_000_000
#: levels of lists and mappings a YAML document may nest (PyYAML composes them recursively)
MAX_DOCUMENT_DEPTH = 200
#: digits beyond which an integer literal is kept as text (a definition needs 19 at most)
_MAX_DIGITS = 40


def _fail(where: str, rule: str) -> SegmentValidationError:
    return SegmentValidationError([ValidationIssue(where, rule)])


def _decode(data: str | bytes, where: str) -> str:
    if isinstance(data, str):
        return data
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + bom
        raise _fail(where, f"not UTF-8 text: byte 0x{data[at]:02x} at byte offset {at}") from None


def _int(text: str) -> int | TooLongNumber:
    return TooLongNumber(text) if len(text) > _MAX_DIGITS else int(text)


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_int=_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None


class _DocumentTooLarge(ValueError):
    pass


@functools.cache
def _yaml_loader() -> type[Any]:
    """PyYAML's safe loader with YAML 1.2 booleans (``type: on`` stays a string), timestamps as
    strings (as in the dashboard's JSON), long integers kept as text (``from_payload`` reports
    them with their path), and the size and depth of a document bounded while it is composed."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                node: Any = super().compose_node(parent, index)
                if not hasattr(node, "moeseg_size"):  # the alias sits inside its own anchor
                    raise _DocumentTooLarge(f"a recursive alias{_where(node)}")
                return node
            self.depth += 1
            if self.depth > MAX_DOCUMENT_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _DocumentTooLarge(
                    f"nested more than {MAX_DOCUMENT_DEPTH} levels deep (line {mark.line + 1})"
                )
            try:
                node = super().compose_node(parent, index)
            finally:
                self.depth -= 1
            children = node.value if isinstance(node.value, list) else ()
            flat = [c for pair in children for c in (pair if isinstance(pair, tuple) else (pair,))]
            # each alias counts its anchor's expanded size again: what a reader would build
            node.moeseg_size = 1 + sum(getattr(c, "moeseg_size", 1) for c in flat)
            if node.moeseg_size > MAX_DOCUMENT_NODES:
                raise _DocumentTooLarge(
                    f"expands to more than {MAX_DOCUMENT_NODES} nodes through anchors and "
                    f"aliases{_where(node)}"
                )
            return node

    def construct_int(loader: Any, node: Any) -> Any:
        text = loader.construct_scalar(node)
        if len(text) > _MAX_DIGITS:
            return TooLongNumber(text)
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    dropped = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag not in dropped]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    return Loader


def _where(node: Any) -> str:
    return f" (line {node.start_mark.line + 1})"


def _parse_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - the dev extra installs PyYAML
        raise ValueError("reading YAML needs PyYAML: pip install 'moeseg[yaml]'") from None
    try:
        return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


def load_payload(text: str | bytes, *, limits: Limits = DEFAULT_LIMITS) -> SegmentDefinition:
    """Parse a create payload from JSON or YAML text (e.g. the dashboard's "Generate payload").

    YAML is read with YAML 1.2 booleans, so an unquoted ``on`` (an operator and a time range
    type) stays a string. YAML needs PyYAML (the ``yaml`` extra). Bytes must be UTF-8. Raises
    :class:`moeseg.SegmentValidationError` like :func:`from_payload`.
    """
    source = _decode(text, "")
    try:
        data = _parse_json(source)
    except ValueError:
        try:
            data = _parse_yaml(source)
        except _DocumentTooLarge as exc:
            raise _fail("", str(exc)) from None
        except ValueError as exc:
            raise _fail("", f"neither JSON nor YAML: {exc}") from None
    return from_payload(data, limits=limits)


def load_definitions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a batch file into request-shaped payloads (one dict per segment), unvalidated.

    A batch file is a YAML or JSON list of Create Custom Segment request bodies, as MoEngage's
    dashboard generates them (Test & Debug → Segment Payload), bare or under a top-level
    ``segments:`` key; a single body is a batch of one. The format follows the suffix
    (``.json``; anything else is read as YAML, a superset of JSON). Raises
    ``SegmentValidationError`` when the file is not UTF-8, cannot be parsed, or is not a list
    of mappings (each item is validated later, one by one, so a single bad item does not stop
    the batch) and ``OSError`` when it cannot be read.
    """
    p = Path(path)
    where = p.name
    text = _decode(p.read_bytes(), where)
    try:
        data: Any = _parse_json(text) if p.suffix.lower() == ".json" else _parse_yaml(text)
    except ValueError as exc:
        raise _fail(where, f"cannot parse: {exc}") from None
    if isinstance(data, Mapping):
        data = data.get("segments", [data])
    if not isinstance(data, list):
        raise _fail(where, "expected a list of segment definitions (or one definition)")
    issues = [
        ValidationIssue(f"{where}[{i}]", "expected a mapping (a segment definition)")
        for i, item in enumerate(data)
        if not isinstance(item, Mapping)
    ]
    if issues:
        raise SegmentValidationError(issues)
    return [dict(item) for item in data]
