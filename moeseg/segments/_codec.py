"""The one place that knows the wire format: cattrs converters configured from the models.

- Optional fields are ``None`` when absent and omitted when written, so a payload is written back
  with exactly the keys it was read with.
- ``filter_type`` is the tag of the discriminated union :data:`moeseg.Filter`; it is written only
  where a filter sits in a group of mixed filters (an action's ``attributes`` carry no tag).
- Scalars are parsed strictly (``"false"`` is not a bool, ``True`` is not a number) but without
  conversion (``18`` stays an int, ``18.5`` a float), and enum-like fields accept any string:
  MoEngage adds values, and requests are checked by ``_validation`` instead.
- Every model is read from an object only (cattrs alone would build a class whose fields all
  have defaults from any value, a string or a list included).
- Unknown keys are ignored (MoEngage adds fields to responses).

Reading runs a converter without detailed validation; only when it fails does a second one,
with detailed validation, read the data again to name every problem with its path. Readers
raise :class:`StructureError` (a ``ValueError`` and a ``MoesegError``) for data of the wrong
shape; the client turns that into ``UnexpectedResponse``, ``from_payload`` into
``SegmentValidationError``.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .._exceptions import MoesegError, SegmentValidationError, ValidationIssue
from ._limits import DEFAULT_LIMITS, Limits, payload_issues
from ._models import (
    ActionFilter,
    AffinityFilter,
    AttributeFilter,
    CustomSegmentFilter,
    Filter,
    NestedFilter,
    Number,
    Scalar,
    TimeRange,
    Value,
)
from ._requests import LegacyCsvRequest, SegmentDefinition, SegmentUpdate
from ._responses import Segment, V2AcceptedBody

__all__ = ["from_payload", "from_update_payload", "request_body", "to_payload"]

T = TypeVar("T")

#: wire tag of every member of the Filter union
FILTER_TAGS: dict[type[Any], str] = {
    AttributeFilter: "user_attributes",
    ActionFilter: "actions",
    NestedFilter: "nested_filters",
    CustomSegmentFilter: "custom_segments",
    AffinityFilter: "psychographic_event",
}
_CLASS_BY_TAG = {tag: cls for cls, tag in FILTER_TAGS.items()}

# Python names that differ from the wire name.
_RENAMES: dict[type[Any], dict[str, str]] = {
    TimeRange: {"from_": "from"},
    LegacyCsvRequest: {
        "app_id": "appId",
        "seg_name": "segName",
        "attribute_type": "attributeType",
        "csv_url": "csvUrl",
    },
}
# Fields that are never on the wire.
_NOT_WIRE: dict[type[Any], set[str]] = {
    Segment: {"recovered"},
    V2AcceptedBody: {"recovered"},
    SegmentDefinition: {"limits"},
    SegmentUpdate: {"limits"},
}


class StructureError(MoesegError, ValueError):
    """Data did not have the expected shape; ``issues`` lists each problem as ``path: rule``."""

    def __init__(self, cls: type[Any], issues: Sequence[ValidationIssue]) -> None:
        self.cls = cls
        self.issues = tuple(issues)
        shown = "; ".join(str(i) for i in self.issues[:5])
        more = f" (+{len(self.issues) - 5} more)" if len(self.issues) > 5 else ""
        super().__init__(f"cannot read {getattr(cls, '__name__', cls)}: {shown}{more}")


# -- strict scalar hooks ------------------------------------------------------------------------


def _strict(types: tuple[type, ...], what: str) -> Callable[[object, object], Any]:
    """A hook that takes ``types`` as they are, converting nothing (a bool is no number)."""

    def hook(obj: object, _: object) -> Any:
        if isinstance(obj, types) and (bool in types or not isinstance(obj, bool)):
            return obj
        raise ValueError(f"expected {what}, got {type(obj).__name__}")

    return hook


_structure_str = _strict((str,), "a string")
_structure_number = _strict((int, float), "a number")
_structure_scalar = _strict((str, int, float, bool), "a string, number or boolean")


def _structure_value(obj: object, _: object) -> Value:
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                raise ValueError(f"list item [{i}] must be a string or a number")
        return tuple(obj)
    if isinstance(obj, (str, int, float, bool)):
        return obj
    raise ValueError(f"expected a value or a list of values, got {type(obj).__name__}")


def _structure_enum(obj: object, t: object) -> str:
    if isinstance(obj, bool):
        # YAML 1.1 (PyYAML's safe_load) reads unquoted on/off/yes/no as booleans.
        raise ValueError(
            "expected a string, got bool (YAML read an unquoted on/off as a boolean: quote it, "
            "or use load_payload)"
        )
    result: str = _structure_str(obj, t)
    return result


def _optional(fn: Callable[[object, object], T]) -> Callable[[object, object], T | None]:
    return lambda obj, t: None if obj is None else fn(obj, t)


def _object_only(read: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    def hook(obj: object, t: Any) -> T:
        if not isinstance(obj, Mapping):
            raise ValueError(f"expected an object, got {type(obj).__name__}")
        return read(obj, t)

    return hook


def _is_homogeneous_tuple(t: Any) -> bool:
    args = typing.get_args(t)
    return typing.get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_literal(t: Any) -> bool:
    return typing.get_origin(t) is typing.Literal


_ROOTS = (SegmentDefinition, SegmentUpdate)


def _overrides(cls: type[Any]) -> dict[str, Any]:
    renames = _RENAMES.get(cls, {})
    # Omit only what is absent (None): an empty action ``attributes`` group or a
    # ``data_type: "double"`` default must still be written.
    return {
        a.name: override(
            omit_if_default=a.default is None,
            rename=renames.get(a.name),
            omit=a.name in _NOT_WIRE.get(cls, ()),
        )
        for a in attrs.fields(cls)
    }


def _make_converter(detailed: bool) -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=detailed)
    for t, fn in (
        (str, _structure_str),
        (bool, _strict((bool,), "true or false")),
        (int, _strict((int,), "an integer")),
        (float, _structure_number),
        (Number, _structure_number),
        (Scalar, _structure_scalar),
        (Value, _structure_value),
    ):
        conv.register_structure_hook(t, fn)
    # cattrs reads ``X | None`` through X's hook, but not when X is itself a union
    for t, fn in (
        (Number, _structure_number),
        (Scalar, _structure_scalar),
        (Value, _structure_value),
    ):
        conv.register_structure_hook(t | None, _optional(fn))
    for t in (Value, Value | None):
        conv.register_unstructure_hook(t, lambda v: list(v) if isinstance(v, tuple) else v)

    # A list of filters given as a string or an object is a mistake, not something to iterate.
    def structure_tuple(obj: object, t: Any) -> Any:
        if not isinstance(obj, (list, tuple)):
            raise ValueError(f"expected a list, got {type(obj).__name__}")
        return conv._structure_tuple(obj, t)

    conv.register_structure_hook_func(_is_homogeneous_tuple, structure_tuple)
    conv.register_structure_hook_func(_is_literal, _structure_enum)

    def structure_filter(obj: object, _: object) -> Filter:
        if not isinstance(obj, Mapping):
            raise ValueError(f"expected a filter object, got {type(obj).__name__}")
        tag = obj.get("filter_type")
        if tag not in _CLASS_BY_TAG:
            raise ValueError(f"filter_type must be one of {sorted(_CLASS_BY_TAG)}, got {tag!r}")
        result: Filter = conv.structure(obj, _CLASS_BY_TAG[tag])
        return result

    def unstructure_filter(obj: Filter) -> dict[str, Any]:
        return {"filter_type": FILTER_TAGS[type(obj)], **conv.unstructure(obj)}

    conv.register_structure_hook(Filter, structure_filter)
    conv.register_unstructure_hook(Filter, unstructure_filter)

    def structure_model(cls: type[Any]) -> Callable[[Any, Any], Any]:
        if cls in _ROOTS:  # built against limits: see _read_root
            return _object_only(lambda data, cls: _read_root(data, cls, DEFAULT_LIMITS))
        ov = _overrides(cls)
        return _object_only(
            make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False, **ov)
        )

    conv.register_structure_hook_factory(attrs.has, structure_model)
    conv.register_unstructure_hook_factory(
        attrs.has, lambda cls: make_dict_unstructure_fn(cls, conv, **_overrides(cls))
    )
    return conv


def _format(exc: BaseException, _type: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown fields {sorted(exc.extra_fields)}"
    if isinstance(exc, (ValueError, TypeError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _issues(exc: BaseException) -> list[ValidationIssue]:
    if not isinstance(exc, (ClassValidationError, IterableValidationError)):
        return [ValidationIssue("", _format(exc, None))]
    out = []
    for line in cattrs.transform_error(exc, path="$", format_exception=_format):
        rule, _, path = line.rpartition(" @ ")
        path = path.removeprefix("$").removeprefix(".")
        out.append(ValidationIssue(path, rule))
    return out


def structure(data: Any, cls: type[T]) -> T:
    """Read ``data`` (parsed JSON) as ``cls``; unknown keys are ignored.

    Raises :class:`StructureError` listing every shape problem with its path, or
    :class:`moeseg.SegmentValidationError` when a definition's content breaks a rule.
    """
    try:
        return _plain.structure(data, cls)
    except SegmentValidationError:
        raise
    except RecursionError:
        raise StructureError(cls, [ValidationIssue("", "nested too deeply to read")]) from None
    except Exception as exc:
        first = exc
    try:  # the second pass, only to explain the failure
        _detailed.structure(data, cls)
    except SegmentValidationError:
        raise
    except Exception as exc:
        raise StructureError(cls, _issues(exc)) from None
    raise StructureError(cls, _issues(first)) from None  # pragma: no cover - both agree


def unstructure(obj: Any) -> Any:
    """Write a model (or a list/tuple of models) as JSON-ready data."""
    return _plain.unstructure(obj)


def to_payload(defn: SegmentDefinition | SegmentUpdate) -> dict[str, Any]:
    """The JSON of ``defn``, with exactly the fields it holds: ``to_payload(from_payload(p))``
    gives ``p`` back (with tuples as lists)."""
    payload: dict[str, Any] = _plain.unstructure(defn)
    return payload


def request_body(defn: SegmentDefinition | SegmentUpdate) -> dict[str, Any]:
    """The body to send for create (or update): :func:`to_payload`, plus an empty ``attributes``
    group on every action that has none, because MoEngage's API requires one."""
    payload = to_payload(defn)
    for key in ("included_filters", "excluded_filters"):
        if key in payload:
            _add_attribute_groups(payload[key])
    return payload


def _add_attribute_groups(group: dict[str, Any]) -> None:
    for f in group["filters"]:
        if f["filter_type"] == "actions":
            f.setdefault("attributes", {"filter_operator": "and", "filters": []})
        elif f["filter_type"] == "nested_filters":
            _add_attribute_groups(f)


def from_payload(data: Mapping[str, Any], *, limits: Limits = DEFAULT_LIMITS) -> SegmentDefinition:
    """Parse a create payload (a dict from JSON or YAML, e.g. the dashboard's "Generate payload").

    ``limits`` are moeseg's assumed size limits (:class:`moeseg.Limits`). Raises
    :class:`moeseg.SegmentValidationError` carrying every issue, each with its path.
    """
    return _read_payload(data, SegmentDefinition, limits)


def from_update_payload(
    data: Mapping[str, Any], *, limits: Limits = DEFAULT_LIMITS
) -> SegmentUpdate:
    """Parse an update (PATCH) payload; like :func:`from_payload`."""
    return _read_payload(data, SegmentUpdate, limits)


def _read_payload(data: object, cls: type[T], limits: Limits) -> T:
    if not isinstance(data, Mapping):
        issue = f"a segment payload must be an object, got {type(data).__name__}"
        raise SegmentValidationError([ValidationIssue("", issue)])
    # before anything is built: no recursion, no expansion of a bomb, no unsendable number
    issues = payload_issues(data, limits)
    if issues:
        raise SegmentValidationError(issues)
    result: T = _read_root(data, cls, limits)
    return result


def _read_root(data: Mapping[str, Any], cls: type[Any], limits: Limits) -> Any:
    """A definition or update from its fields, built (so validated) against ``limits``."""
    kwargs: dict[str, Any] = {}
    issues: list[ValidationIssue] = []
    for a in attrs.fields(cls):
        if a.name == "limits":
            continue
        if a.name not in data:
            if a.default is attrs.NOTHING:
                issues.append(ValidationIssue(a.name, "required field missing"))
            continue
        try:
            kwargs[a.name] = structure(data[a.name], a.type)
        except StructureError as exc:
            issues += [ValidationIssue(_join(a.name, i.path), i.rule) for i in exc.issues]
    if issues:
        raise SegmentValidationError(issues)
    return cls(**kwargs, limits=limits)


def _join(field: str, path: str) -> str:
    return f"{field}{path}" if path.startswith("[") else f"{field}.{path}" if path else field


for _root in _ROOTS:
    attrs.resolve_types(_root)  # ``_read_root`` reads the field types
#: reads and writes; fails fast, without paths
_plain = _make_converter(detailed=False)
#: reads again what _plain refused, to name every problem with its path
_detailed = _make_converter(detailed=True)
