"""Desired files: the segments a workspace should hold, read from YAML or JSON.

A path is a file or a directory (its ``*.yaml``, ``*.yml`` and ``*.json`` files, recursively,
in sorted order, so the result never depends on the file system). A file holds one item, a list
of items, or (YAML) several documents, each one item or a list; every document is read, and a
document that does not parse is an error, never skipped. An item is a create payload as the
dashboard's "Generate payload" writes it, plus an optional ``key``: the item's stable identity
in the state (it defaults to the name, so renaming an item without a key is a new segment)::

    key: buyers
    name: Buyers in Berlin
    included_filters:
      filter_operator: and
      filters:
        - filter_type: user_attributes
          name: city
          data_type: string
          operator: is
          value: Berlin
    ---
    key: loyal-buyers
    name: Loyal buyers
    included_filters:
      filter_operator: and
      filters:
        - filter_type: custom_segments
          segment_key: buyers        # another item, by key (see _graph)

Everything is checked before any request, and each problem is a
:class:`~moeseg._workspace.DesiredItemError` naming the file, the item (index and key) and the
rule: unreadable or oversized file, a document that does not parse, an item that is not a
mapping, a bad key, a definition that fails validation, duplicate keys, names or definitions
(fingerprint), a dangling reference, a reference cycle, and the reference and nesting caps.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from .._exceptions import SegmentValidationError
from ..segments import fingerprint, from_payload
from ._errors import DesiredItemError
from ._graph import (
    DEFAULT_MAX_NESTING,
    DEFAULT_MAX_REFERENCE_DEPTH,
    DEFAULT_MAX_REFERENCES,
    REFERENCE_FIELD,
    check_graph,
    walk_filters,
)

__all__ = ["DesiredItem", "DesiredSet", "load_desired", "parse_desired"]

#: a desired file larger than this is refused before parsing
DEFAULT_MAX_FILE_BYTES: Final = 16 * 1024 * 1024
#: a file whose parsed data has more values than this (YAML aliases expand) is refused
DEFAULT_MAX_NODES: Final = 2_000_000
SUFFIXES: Final = (".yaml", ".yml", ".json")
MAX_KEY_LENGTH: Final = 200


def _placeholder(key: str) -> str:
    # stands for the id of the item ``key`` until it is known (validation, duplicate check)
    return f"key:{key}"


def copy_json(data: Any) -> Any:
    """A deep copy of parsed JSON/YAML data (dicts, lists, scalars), several times faster than
    ``copy.deepcopy``, which ``resolve`` would otherwise spend most of its time in."""
    if isinstance(data, Mapping):
        return {k: copy_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [copy_json(v) for v in data]
    return data


@attrs.frozen(slots=True)
class DesiredItem:
    """One desired segment: its key, name, and create payload with references by key.

    ``payload`` is the item as written, without ``key``; ``references`` the keys it refers to
    (in order of first appearance); ``file`` and ``index`` say where it was read.
    """

    key: str
    name: str
    payload: Mapping[str, Any] = attrs.field(eq=False, hash=False, repr=False)
    references: tuple[str, ...] = ()
    file: str = "<memory>"
    index: int = 0

    def resolve(
        self, ids: Mapping[str, str], names: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The create payload with each ``segment_key`` replaced by the id in ``ids``.

        The referenced item's name (from ``names``) becomes the filter's display label when the
        item wrote none. Raises ``KeyError`` for a key missing from ``ids``.
        """
        out: dict[str, Any] = copy_json(self.payload)
        if not self.references:
            return out
        for f, _ in walk_filters(out):
            if f.get("filter_type") == "custom_segments" and REFERENCE_FIELD in f:
                ref = f[REFERENCE_FIELD]
                assert isinstance(f, dict)
                del f[REFERENCE_FIELD]
                f["id"] = ids[ref]
                if names is not None and "name" not in f and ref in names:
                    f["name"] = names[ref]
        return out

    def template_fingerprint(self) -> str:
        """The fingerprint with references standing for themselves (a key, not an id)."""
        if not self.references:
            return fingerprint(self.payload)
        return fingerprint(self.resolve({k: _placeholder(k) for k in self.references}))

    def canonical(self) -> str:
        """Canonical JSON of key, name and payload (what a plan fingerprint hashes)."""
        return json.dumps(
            {"key": self.key, "payload": self.payload},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


@attrs.frozen(slots=True)
class DesiredSet:
    """The desired items of a workspace, in file order, keys unique."""

    items: tuple[DesiredItem, ...] = ()

    def by_key(self) -> dict[str, DesiredItem]:
        """Items by key, in file order."""
        return {i.key: i for i in self.items}

    def digest(self) -> str:
        """SHA-256 of every item's canonical form, order-independent."""
        h = hashlib.sha256()
        for text in sorted(i.canonical() for i in self.items):
            h.update(text.encode())
            h.update(b"\n")
        return h.hexdigest()


def _files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES]
            out += sorted(found, key=lambda f: f.relative_to(p).as_posix())
        elif p.is_file():
            out.append(p)
        else:
            raise DesiredItemError(str(p), None, None, "no such file or directory")
    return out


def _count_nodes(data: Any, limit: int) -> int:
    # Bounded walk: YAML aliases make a small file a huge tree, so stop counting past ``limit``.
    n, stack = 0, [data]
    while stack and n <= limit:
        obj = stack.pop()
        n += 1
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list):
            stack.extend(obj)
    return n


@functools.cache
def _yaml_loader() -> type[Any]:
    """PyYAML's safe loader on libyaml's parser (about 3.5 times faster on large desired files)
    with the YAML 1.2 rules of moeseg's payload reader: only true/false are booleans (so
    ``operator: on`` stays the string "on") and timestamps stay the text written."""
    import re

    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    dropped = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
    resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag not in dropped]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader: type[Any] = type("_DesiredLoader", (base,), {"yaml_implicit_resolvers": resolvers})
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    return loader


def _documents(text: str, name: str, *, yaml_text: bool, max_nodes: int) -> list[Any]:
    """Parse every document of one file (the only place that reads YAML or JSON).

    JSON for ``.json`` files, otherwise YAML with moeseg's YAML 1.2 safe loader (``on`` stays
    a string, timestamps stay text), every document of the stream.
    """
    if not yaml_text:
        try:
            docs: list[Any] = [json.loads(text)]
        except (ValueError, RecursionError) as exc:
            raise DesiredItemError(name, None, None, f"not valid JSON: {exc}") from None
    else:
        import yaml

        docs = []
        try:
            for doc in yaml.load_all(text, Loader=_yaml_loader()):
                docs.append(doc)
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            # ValueError: an integer past Python's digit limit; RecursionError: nested too deep
            problem = " ".join(str(exc).split()) or type(exc).__name__
            if isinstance(exc, RecursionError):
                problem = "nested too deeply"
            raise DesiredItemError(
                name, None, None, f"YAML document {len(docs) + 1} does not parse: {problem}"
            ) from None
    for number, doc in enumerate(docs, 1):
        if _count_nodes(doc, max_nodes) > max_nodes:
            raise DesiredItemError(
                name, None, None, f"document {number} expands to more than {max_nodes} values"
            )
    return docs


def _check_item(
    raw: Any, name: str, index: int, *, max_references: int, max_nesting: int
) -> DesiredItem:
    if not isinstance(raw, dict):
        rule = f"an item must be a mapping (a create payload), got {type(raw).__name__}"
        raise DesiredItemError(name, index, None, rule)
    payload = {k: v for k, v in raw.items() if k != "key"}
    key = raw.get("key", raw.get("name"))
    if not isinstance(key, str) or not key.strip():
        field = "key" if "key" in raw else "name (the default key)"
        raise DesiredItemError(name, index, None, f"{field} must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH or key != key.strip():
        rule = f"key must have at most {MAX_KEY_LENGTH} characters and no outer whitespace"
        raise DesiredItemError(name, index, key, rule)
    refs: list[str] = []
    count = 0
    for f, depth in walk_filters(payload):
        if depth >= max_nesting:
            rule = f"nested_filters nest deeper than the cap of {max_nesting}"
            raise DesiredItemError(name, index, key, rule)
        if f.get("filter_type") != "custom_segments":
            continue
        count += 1
        if REFERENCE_FIELD in f:
            ref = f[REFERENCE_FIELD]
            if "id" in f:
                rule = f"a custom_segments filter has both id and {REFERENCE_FIELD}"
                raise DesiredItemError(name, index, key, rule)
            if not isinstance(ref, str) or not ref:
                rule = f"{REFERENCE_FIELD} must be a non-empty string"
                raise DesiredItemError(name, index, key, rule)
            if ref not in refs:
                refs.append(ref)
    if count > max_references:
        rule = f"{count} segment references exceed the cap of {max_references}"
        raise DesiredItemError(name, index, key, rule)
    item = DesiredItem(key, str(payload.get("name")), payload, tuple(refs), name, index)
    try:
        from_payload(item.resolve({r: _placeholder(r) for r in refs}))
    except SegmentValidationError as exc:
        issues = "; ".join(str(i) for i in exc.issues)
        raise DesiredItemError(name, index, key, f"invalid definition: {issues}") from None
    return item


def parse_desired(
    sources: Sequence[tuple[str, Any]],
    *,
    max_references: int = DEFAULT_MAX_REFERENCES,
    max_reference_depth: int = DEFAULT_MAX_REFERENCE_DEPTH,
    max_nesting: int = DEFAULT_MAX_NESTING,
) -> DesiredSet:
    """Check parsed documents, ``(file name, [document, ...])`` pairs, into a :class:`DesiredSet`.

    A document is one item or a list of items; ``None`` (an empty YAML document) holds none.
    """
    items: list[DesiredItem] = []
    for name, docs in sources:
        index = 0
        for doc in docs:
            for raw in doc if isinstance(doc, list) else ([] if doc is None else [doc]):
                opts = {"max_references": max_references, "max_nesting": max_nesting}
                items.append(_check_item(raw, name, index, **opts))
                index += 1
    seen: dict[tuple[str, str], DesiredItem] = {}
    for item in items:
        for what, value in (
            ("key", item.key),
            ("name", item.name),
            ("definition", item.template_fingerprint()),
        ):
            first = seen.setdefault((what, value), item)
            if first is not item:
                label = "the same definition" if what == "definition" else f"{what} {value!r}"
                rule = f"duplicate {what}: {label} as {first.file}, item {first.index}"
                if what == "definition":
                    rule += f" (key {first.key!r}); MoEngage refuses two equal definitions"
                raise DesiredItemError(item.file, item.index, item.key, rule)
    by_key = {i.key: i for i in items}

    def fail(key: str, rule: str) -> Exception:
        i = by_key[key]
        return DesiredItemError(i.file, i.index, key, rule)

    check_graph({i.key: i.references for i in items}, max_depth=max_reference_depth, fail=fail)
    return DesiredSet(tuple(items))


def load_desired(
    paths: Iterable[str | Path],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_references: int = DEFAULT_MAX_REFERENCES,
    max_reference_depth: int = DEFAULT_MAX_REFERENCE_DEPTH,
    max_nesting: int = DEFAULT_MAX_NESTING,
) -> DesiredSet:
    """Read desired files and directories into a checked :class:`DesiredSet` (see the module
    docstring); raises :class:`~moeseg._workspace.DesiredItemError`. Blocking file I/O: call it
    from a worker thread in async code."""
    sources: list[tuple[str, Any]] = []
    for path in _files(paths):
        name = str(path)
        try:
            size = path.stat().st_size
            if size > max_file_bytes:
                rule = f"file of {size} bytes exceeds the cap of {max_file_bytes}"
                raise DesiredItemError(name, None, None, rule)
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DesiredItemError(name, None, None, f"cannot read: {exc}") from None
        yaml_text = path.suffix.lower() != ".json"
        sources.append((name, _documents(text, name, yaml_text=yaml_text, max_nodes=max_nodes)))
    return parse_desired(
        sources,
        max_references=max_references,
        max_reference_depth=max_reference_depth,
        max_nesting=max_nesting,
    )
