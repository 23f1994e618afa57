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

import types
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
    AggregationFilter,
    AggregationGroup,
    AttributeFilter,
    AttributeGroup,
    BaseTimeRange,
    CustomSegmentFilter,
    Execution,
    Filter,
    FilterGroup,
    NestedFilter,
    Number,
    Scalar,
    TimeRange,
    Value,
)
from ._requests import (
    ArchiveRequest,
    FileSegmentRequest,
    LegacyCsvRequest,
    SegmentDefinition,
    SegmentUpdate,
)
from ._responses import (
    FileSegmentCallback,
    LegacyCsvCallback,
    LegacyCsvResponse,
    Segment,
    SegmentListResponse,
    SegmentResponse,
    V2AcceptedBody,
    V2ErrorBody,
    V3Error,
    V3ErrorBody,
)

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

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.cls, self.issues))


# -- strict scalar hooks ------------------------------------------------------------------------


def _structure_str(obj: object, _: object) -> str:
    if isinstance(obj, str):
        return obj
    raise ValueError(f"expected a string, got {type(obj).__name__}")


def _structure_bool(obj: object, _: object) -> bool:
    if isinstance(obj, bool):
        return obj
    raise ValueError(f"expected true or false, got {type(obj).__name__}")


def _structure_int(obj: object, _: object) -> int:
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    raise ValueError(f"expected an integer, got {type(obj).__name__}")


def _structure_number(obj: object, _: object) -> float:
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return obj
    raise ValueError(f"expected a number, got {type(obj).__name__}")


def _structure_scalar(obj: object, _: object) -> Scalar:
    if isinstance(obj, (str, int, float, bool)):
        return obj
    raise ValueError(f"expected a string, number or boolean, got {type(obj).__name__}")


def _structure_value(obj: object, _: object) -> Value:
    if isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                raise ValueError(f"list item [{i}] must be a string or a number")
        return tuple(obj)
    raise ValueError(f"expected a value or a list of values, got {type(obj).__name__}")


def _structure_enum(obj: object, _: object) -> str:
    if isinstance(obj, str):
        return obj
    hint = ""
    if obj is True or obj is False:
        # YAML 1.1 (PyYAML's safe_load) reads unquoted on/off/yes/no as booleans.
        hint = " (YAML read an unquoted on/off as a boolean: quote it, or use load_payload)"
    raise ValueError(f"expected a string, got {type(obj).__name__}{hint}")


def _unstructure_value(obj: Value) -> Any:
    return list(obj) if isinstance(obj, tuple) else obj


def _optional(fn: Callable[[object, object], T]) -> Callable[[object, object], T | None]:
    def hook(obj: object, t: object) -> T | None:
        return None if obj is None else fn(obj, t)

    return hook


def _is_homogeneous_tuple(t: Any) -> bool:
    args = typing.get_args(t)
    return typing.get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis


def _structure_list_as_tuple(conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    def hook(obj: object, t: Any) -> Any:
        if not isinstance(obj, (list, tuple)):
            raise ValueError(f"expected a list, got {type(obj).__name__}")
        return conv._structure_tuple(obj, t)

    return hook


def _is_literal(t: Any) -> bool:
    return typing.get_origin(t) is typing.Literal


def _is_optional_literal(t: Any) -> bool:
    args = typing.get_args(t)
    return (
        typing.get_origin(t) in (typing.Union, types.UnionType)
        and len(args) == 2
        and type(None) in args
        and any(_is_literal(a) for a in args)
    )


_MODEL_CLASSES: tuple[type[Any], ...] = (
    AttributeFilter,
    AttributeGroup,
    Execution,
    TimeRange,
    BaseTimeRange,
    AggregationFilter,
    AggregationGroup,
    ActionFilter,
    AffinityFilter,
    CustomSegmentFilter,
    NestedFilter,
    FilterGroup,
    FileSegmentRequest,
    ArchiveRequest,
    LegacyCsvRequest,
    Segment,
    SegmentResponse,
    SegmentListResponse,
    V3Error,
    V3ErrorBody,
    V2ErrorBody,
    V2AcceptedBody,
    FileSegmentCallback,
    LegacyCsvResponse,
    LegacyCsvCallback,
)


def _overrides(cls: type[Any]) -> dict[str, Any]:
    renames = _RENAMES.get(cls, {})
    out = {}
    for a in attrs.fields(cls):
        # Omit only what is absent (None); an empty action ``attributes`` group or a
        # ``data_type: "double"`` default must still be written.
        out[a.name] = override(
            omit_if_default=a.default is None,
            rename=renames.get(a.name),
            omit=a.name in _NOT_WIRE.get(cls, ()),
        )
    return out


def _object_only(read: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    def hook(obj: object, t: Any) -> T:
        if not isinstance(obj, Mapping):
            raise ValueError(f"expected an object, got {type(obj).__name__}")
        return read(obj, t)

    return hook


def register_models(conv: cattrs.Converter, classes: tuple[type[Any], ...]) -> None:
    """Register generated dict (un)structure functions for attrs ``classes`` on ``conv``.

    Each reads an object only; unknown keys are ignored; fields whose default is None are
    omitted when None.
    """
    for cls in classes:
        ov = _overrides(cls)
        read = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False, **ov)
        conv.register_structure_hook(cls, _object_only(read))
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv, **ov))


def register_scalars(conv: cattrs.Converter) -> None:
    """Strict, non-converting hooks for JSON scalars, moeseg's value unions and Literals."""
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_number)
    for t, fn in (
        (Number, _structure_number),
        (Scalar, _structure_scalar),
        (Value, _structure_value),
    ):
        conv.register_structure_hook(t, fn)
        conv.register_structure_hook(t | None, _optional(fn))
    conv.register_unstructure_hook(Value, _unstructure_value)
    conv.register_unstructure_hook(Value | None, _unstructure_value)
    conv.register_structure_hook(str | None, _optional(_structure_str))
    conv.register_structure_hook(bool | None, _optional(_structure_bool))
    conv.register_structure_hook(int | None, _optional(_structure_int))
    # A list of filters given as a string or an object is a mistake, not something to iterate.
    conv.register_structure_hook_func(_is_homogeneous_tuple, _structure_list_as_tuple(conv))
    # Enum-like fields are lenient on purpose (see module docstring).
    conv.register_structure_hook_func(_is_literal, _structure_enum)
    conv.register_structure_hook_func(_is_optional_literal, _optional(_structure_enum))


def _make_converter(detailed: bool) -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=detailed)
    register_scalars(conv)
    # The union hooks must exist before the classes' functions are generated (generation looks
    # up field hooks once); they find the member functions, filled in below, at call time.
    structure_by_tag: dict[Any, tuple[Callable[[Any, Any], Any], type[Any]]] = {}
    unstructure_by_cls: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}

    def structure_filter(obj: object, _: object) -> Filter:
        if not isinstance(obj, Mapping):
            raise ValueError(f"expected a filter object, got {type(obj).__name__}")
        tag = obj.get("filter_type")
        hook = structure_by_tag.get(tag)
        if hook is None:
            raise ValueError(f"filter_type must be one of {sorted(_CLASS_BY_TAG)}, got {tag!r}")
        result: Filter = hook[0](obj, hook[1])
        return result

    def unstructure_filter(obj: Filter) -> dict[str, Any]:
        cls = type(obj)
        return {"filter_type": FILTER_TAGS[cls], **unstructure_by_cls[cls](obj)}

    conv.register_structure_hook(Filter, structure_filter)
    conv.register_unstructure_hook(Filter, unstructure_filter)
    register_models(conv, _MODEL_CLASSES)
    for root in (SegmentDefinition, SegmentUpdate):
        conv.register_structure_hook(root, _object_only(_read_root_with_default_limits))
        conv.register_unstructure_hook(
            root, make_dict_unstructure_fn(root, conv, **_overrides(root))
        )
    for tag, cls in _CLASS_BY_TAG.items():
        structure_by_tag[tag] = (conv.get_structure_hook(cls), cls)
        unstructure_by_cls[cls] = conv.get_unstructure_hook(cls)
    return conv


def _format(exc: BaseException, _type: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown fields {sorted(exc.extra_fields)}"
    if isinstance(exc, TypeError) and ("indices" in str(exc) or "subscriptable" in str(exc)):
        return "expected an object"
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


#: the wire fields of each root class: name, type, required
_ROOT_FIELDS: dict[type[Any], list[tuple[str, Any, bool]]] = {
    cls: [
        (a.name, typing.get_type_hints(cls)[a.name], a.default is attrs.NOTHING)
        for a in attrs.fields(cls)
        if a.name not in _NOT_WIRE[cls]
    ]
    for cls in (SegmentDefinition, SegmentUpdate)
}


def _read_root(data: Mapping[str, Any], cls: type[Any], limits: Limits) -> Any:
    """A definition or update from its fields, built (so validated) against ``limits``."""
    kwargs: dict[str, Any] = {}
    issues: list[ValidationIssue] = []
    for name, field_type, required in _ROOT_FIELDS[cls]:
        if name not in data:
            if required:
                issues.append(ValidationIssue(name, "required field missing"))
            continue
        try:
            kwargs[name] = structure(data[name], field_type)
        except StructureError as exc:
            issues += [ValidationIssue(_join(name, i.path), i.rule) for i in exc.issues]
    if issues:
        raise SegmentValidationError(issues)
    return cls(**kwargs, limits=limits)


def _read_root_with_default_limits(data: Mapping[str, Any], cls: type[Any]) -> Any:
    return _read_root(data, cls, DEFAULT_LIMITS)


def _join(field: str, path: str) -> str:
    return f"{field}{path}" if path.startswith("[") else f"{field}.{path}" if path else field


#: reads and writes; fails fast, without paths
_plain = _make_converter(detailed=False)
#: reads again what _plain refused, to name every problem with its path
_detailed = _make_converter(detailed=True)
