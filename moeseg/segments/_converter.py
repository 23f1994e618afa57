"""The one place that knows the wire format: a configured cattrs converter.

- Optional fields are ``None`` when absent and omitted when written, so a payload is written back
  with exactly the keys it was read with.
- ``filter_type`` is the tag of the discriminated union :data:`moeseg.Filter`; it is written only
  where a filter sits in a group of mixed filters (an action's ``attributes`` carry no tag).
- Scalars are parsed strictly (``"false"`` is not a bool, ``True`` is not a number) but without
  conversion (``18`` stays an int, ``18.5`` a float), and enum-like fields accept any string:
  MoEngage adds values, and requests are checked by ``_validation`` instead.
- Unknown keys are ignored (MoEngage adds fields to responses).

The cattrs converter runs with detailed validation, so a failure names every problem with its
path. The hot path does not go through it: plain reader and writer functions are generated from
the same attrs field metadata (see "the fast path" below), and the converter reads the data again
only when the fast reader gives up.

Readers raise :class:`StructureError` (a ``ValueError`` and a ``MoesegError``) for data of the
wrong shape; the client turns that into ``UnexpectedResponse``, ``from_payload`` into
``SegmentValidationError``.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .._exceptions import MoesegError, SegmentValidationError, ValidationIssue
from ._models import (
    ActionFilter,
    AffinityFilter,
    AggregationFilter,
    AggregationGroup,
    ArchiveRequest,
    AttributeFilter,
    AttributeGroup,
    BaseTimeRange,
    CustomSegmentFilter,
    Execution,
    FileSegmentRequest,
    Filter,
    FilterGroup,
    LegacyCsvRequest,
    NestedFilter,
    Number,
    Scalar,
    SegmentDefinition,
    SegmentUpdate,
    TimeRange,
    Value,
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
from ._validation import SHORTCUT_ENV, SHORTCUT_RULES

__all__ = ["from_payload", "from_update_payload", "load_payload", "to_payload"]

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
_NOT_WIRE: dict[type[Any], set[str]] = {Segment: {"recovered"}, V2AcceptedBody: {"recovered"}}


class StructureError(MoesegError, ValueError):
    """Data did not have the expected shape; ``issues`` lists each problem as ``path: rule``."""

    def __init__(self, cls: type[Any], issues: Sequence[ValidationIssue]) -> None:
        self.cls = cls
        self.issues = tuple(issues)
        shown = "; ".join(str(i) for i in self.issues[:5])
        more = f" (+{len(self.issues) - 5} more)" if len(self.issues) > 5 else ""
        super().__init__(f"cannot read {cls.__name__}: {shown}{more}")

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
    SegmentDefinition,
    SegmentUpdate,
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


def register_models(conv: cattrs.Converter, classes: tuple[type[Any], ...]) -> None:
    """Register generated dict (un)structure functions for attrs ``classes`` on ``conv``.

    Unknown keys are ignored; fields whose default is None are omitted when None.
    """
    for cls in classes:
        ov = _overrides(cls)
        conv.register_structure_hook(
            cls, make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False, **ov)
        )
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


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
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
    for tag, cls in _CLASS_BY_TAG.items():
        structure_by_tag[tag] = (conv.get_structure_hook(cls), cls)
        unstructure_by_cls[cls] = conv.get_unstructure_hook(cls)
    return conv


_cattrs = _make_converter()


# -- the fast path ------------------------------------------------------------------------------
#
# cattrs calls one hook per field and builds a kwargs dict per object; on the hot path (every
# create, every response) that costs more than the work itself. So each model also gets a pair
# of plain functions generated from the same field metadata (names, renames, omitted fields):
# inline type checks, positional construction, ``is not None`` omission. Any problem makes the
# fast reader give up, and the cattrs converter reads the data again to name every problem with
# its path: results never depend on which path ran (tests check both agree).
#
# Two more things keep parsing ahead of pydantic: instances are filled with plain slot stores
# (see _builder_class) instead of a frozen __init__'s object.__setattr__ per field, and a
# definition is validated while it is read: each node's shortcut rule (_validation.SHORTCUT_RULES)
# runs on the values just read, and only when one is in doubt does SegmentDefinition.__init__ run
# the full checks (property tests check the rules never accept what the full checks reject).


class _Bail(Exception):
    """The fast reader met something it does not handle; the cattrs converter decides."""


def _value_fast(v: Any) -> Any:
    cls = v.__class__
    if cls is str or cls is int or cls is float or cls is bool:
        return v
    if cls is list or cls is tuple:
        for item in v:
            c = item.__class__
            if c is not str and c is not int and c is not float:
                raise _Bail
        return tuple(v)
    raise _Bail


_CHECKS = {
    "str": "{v}.__class__ is not str",
    "bool": "{v} is not True and {v} is not False",
    "int": "{v}.__class__ is not int",
    "num": "{v}.__class__ is not int and {v}.__class__ is not float",
    "scalar": "{v}.__class__ not in _SCALARS",
}
_SCALARS = frozenset({str, int, float, bool})


def _kind(t: Any) -> tuple[str, Any]:
    """How the fast path handles a (resolved) field type."""
    if t == Filter:
        return ("filter", None)
    if t == Value:
        return ("value", None)
    if t == Scalar:
        return ("scalar", None)
    if t == Number or t is float:
        return ("num", None)
    if t is str or _is_literal(t):
        return ("str", None)
    if t is bool:
        return ("bool", None)
    if t is int:
        return ("int", None)
    if attrs.has(t):
        return ("cls", t)
    args = typing.get_args(t)
    if _is_homogeneous_tuple(t):
        return ("tuple", _kind(args[0]))
    if typing.get_origin(t) in (typing.Union, types.UnionType) and type(None) in args:
        rest = tuple(a for a in args if a is not type(None))
        # a runtime union built from a tuple of members (no X | Y spelling for that)
        return _kind(rest[0] if len(rest) == 1 else typing.Union[rest])  # noqa: UP007
    raise TypeError(f"no fast path for {t!r}")


def _read_expr(
    kind: tuple[str, Any], v: str, lines: list[str], indent: str, checked: bool = False
) -> str:
    """Append checks of variable ``v`` to ``lines``; return the expression of its value.

    ``checked``: in the reader of a definition, read members through the checking readers."""
    name, arg = kind
    if name in _CHECKS:
        lines.append(f"{indent}if {_CHECKS[name].format(v=v)}: raise _Bail")
        return v
    if name == "value":
        # scalars are the common case: test inline, call only for lists
        return f"({v} if {v}.__class__ in _SCALARS else _value_fast({v}))"
    if name == "filter":
        # a missing or unknown filter_type, or a non-object, raises: cattrs then explains
        if checked:
            return f"_READ_TAGGED_CHECKED[{v}['filter_type']]({v}, bad)"
        return f"_READ_TAGGED[{v}['filter_type']]({v})"
    if name == "cls":
        if checked and arg in SHORTCUT_RULES:
            return f"_sv_{arg.__name__}({v}, bad)"
        return f"_s_{arg.__name__}({v})"
    # a homogeneous tuple
    not_list = f"{v}.__class__ is not list and {v}.__class__ is not tuple"
    lines.append(f"{indent}if {not_list}: raise _Bail")
    if arg[0] in _CHECKS:
        lines.append(f"{indent}for _e in {v}:")
        lines.append(f"{indent}    if {_CHECKS[arg[0]].format(v='_e')}: raise _Bail")
        return f"tuple({v})"
    inner = _read_expr(arg, "_e", [], "", checked)
    return f"tuple([{inner} for _e in {v}])"


def _write_expr(kind: tuple[str, Any], v: str) -> str:
    name, arg = kind
    if name == "value":
        return f"(list({v}) if {v}.__class__ is tuple else {v})"
    if name == "filter":
        return f"_u_filter({v})"
    if name == "cls":
        return f"_u_{arg.__name__}({v})"
    if name == "tuple":
        return f"[{_write_expr(arg, '_e')} for _e in {v}]"
    return v


#: after this many optional fields, a reader checks whether every key of the object was used
_CHECKPOINT = 4
#: optional fields a reader looks for first (the dashboard writes negate and case_sensitive on
#: every condition): the sooner every key is used, the fewer lookups of absent keys
_LIKELY_FIRST: dict[type[Any], tuple[str, ...]] = {
    AttributeFilter: ("operator", "value", "negate", "case_sensitive", "value_type", "value1"),
}


def _reader_source(
    cls: type[Any], fname: str, tagged: bool, env: dict[str, Any], checked: bool = False
) -> list[str]:
    """A reader of ``cls`` from a dict. Optional fields are mostly absent, so the reader counts
    the keys it has used and stops looking once it has used them all (``filter_type`` counts
    as used in a tagged reader).

    A ``checked`` reader (the parts of a definition) also runs the node's shortcut rule from
    ``_validation`` on the values it has read, and notes in the list ``bad`` that the node needs
    the full checks. The root (a class validated by its ``__init__``) starts that list; when it
    stays empty the root is built without ``__init__``, else ``__init__`` runs the full checks."""
    hints = typing.get_type_hints(cls)
    renames = _RENAMES.get(cls, {})
    skip = _NOT_WIRE.get(cls, set())
    n = cls.__name__
    root = checked and hasattr(cls, "__attrs_post_init__")
    head = [f"def {fname}(o{'' if root or not checked else ', bad'}):"]
    head.append("    if o.__class__ is not dict: raise _Bail")
    if root:
        head.append("    bad = []")
    required: list[str] = []
    optional: list[str] = []
    presets: list[str] = []
    n_required = int(tagged)
    pad = "    "
    since_checkpoint = 0
    fields = list(enumerate(attrs.fields(cls)))
    args = [f"v{i}" for i, _ in fields]
    likely = _LIKELY_FIRST.get(cls, ())
    # a stable sort: the likely fields first, the others in their order
    fields.sort(key=lambda f: likely.index(f[1].name) if f[1].name in likely else len(likely))
    for i, a in fields:
        key = renames.get(a.name, a.name)
        v = f"v{i}"
        if a.default is not attrs.NOTHING and a.default is not None:
            env[f"_D_{n}_{i}"] = a.default
        if a.name in skip:
            presets.append(f"    {v} = _D_{n}_{i}")
            continue
        kind = _kind(hints[a.name])
        if a.default is attrs.NOTHING:
            n_required += 1
            required.append(f"    {v} = o[{key!r}]")
            expr = _read_expr(kind, v, required, "    ", checked)
            if expr != v:
                required.append(f"    {v} = {expr}")
            continue
        if since_checkpoint == _CHECKPOINT:
            optional.append(f"{pad}if found < n:")
            pad += "    "
            since_checkpoint = 0
        since_checkpoint += 1
        body: list[str] = [f"{pad}    found += 1"]
        expr = _read_expr(kind, v, body, pad + "    ", checked)
        if expr != v:
            body.append(f"{pad}    {v} = {expr}")
        skippable = pad != "    "  # behind a checkpoint: needs its value in case it is skipped
        if a.default is None:
            if skippable:
                presets.append(f"    {v} = None")
            optional.append(f"{pad}{v} = o.get({key!r})")
            optional.append(f"{pad}if {v} is not None:")
        else:
            presets.append(f"    {v} = _D_{n}_{i}")
            optional.append(f"{pad}_x = o.get({key!r}, _MISSING)")
            optional.append(f"{pad}if _x is not _MISSING:")
            optional.append(f"{pad}    {v} = _x")
        optional.extend(body)
    checkpoints = any(line.lstrip().startswith("if found < n") for line in optional)
    counting = ["    n = len(o)", f"    found = {n_required}"] if checkpoints else []
    if not checkpoints:  # nothing is ever skipped: no need to count
        optional = [line for line in optional if line.strip() != "found += 1"]
    call = [f"    return _C_{n}({', '.join(args)})"]
    build = [f"    s = _new(_B_{n})"]  # see _builder_class: no __init__ call
    build += [f"    s.{a.name} = {v}" for a, v in zip(attrs.fields(cls), args, strict=True)]
    build += [f"    s.__class__ = _C_{n}", "    return s"]
    tail = build if f"_B_{n}" in env else call
    if checked:
        by_name = {a.name: v for a, v in zip(attrs.fields(cls), args, strict=True)}
        rule = SHORTCUT_RULES[cls].format(**by_name)
        if root:  # anything in doubt: __init__ runs the full checks
            tail = [f"    if bad or not ({rule}):", "    " + call[0], *build]
        else:
            tail = [f"    if not ({rule}): bad.append(None)", *tail]
    return head + required + presets + counting + optional + tail


def _writer_source(cls: type[Any], fname: str, tag: str | None) -> list[str]:
    """A writer of ``cls`` to a dict: fields that are None are left out."""
    hints = typing.get_type_hints(cls)
    renames = _RENAMES.get(cls, {})
    skip = _NOT_WIRE.get(cls, set())
    lines = [f"def {fname}(i):", f"    r = {{'filter_type': {tag!r}}}" if tag else "    r = {}"]
    for i, a in enumerate(attrs.fields(cls)):
        if a.name in skip:
            continue
        key = renames.get(a.name, a.name)
        kind = _kind(hints[a.name])
        if a.default is None:
            lines.append(f"    v{i} = i.{a.name}")
            lines.append(f"    if v{i} is not None: r[{key!r}] = {_write_expr(kind, f'v{i}')}")
        else:
            lines.append(f"    r[{key!r}] = {_write_expr(kind, f'i.{a.name}')}")
    return [*lines, "    return r"]


def _builder_class(cls: type[Any], validated: bool = False) -> type[Any] | None:
    """A subclass of ``cls`` that can be filled in with plain attribute stores, or None.

    A frozen attrs ``__init__`` stores each field through ``object.__setattr__``, which costs
    more than reading the field from the dict. A reader instead creates an instance of this
    subclass (no ``__setattr__`` of its own, no slots of its own), stores the fields, then makes
    it a ``cls``: an object indistinguishable from one ``cls(...)`` builds. Only for classes whose
    ``__init__`` does nothing but store its arguments, or (``validated``) whose post-init hook
    only validates, for a reader that has validated the values itself."""
    if (
        hasattr(cls, "__attrs_pre_init__")
        or (hasattr(cls, "__attrs_post_init__") and not validated)
        or "__slots__" not in cls.__dict__
        or any(
            a.validator is not None or a.converter is not None or not a.init
            for a in attrs.fields(cls)
        )
    ):
        return None
    builder = type(
        f"_Building{cls.__name__}",
        (cls,),
        {
            "__slots__": (),
            # both, so that attribute stores take the interpreter's fast path
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": __name__,
        },
    )
    try:
        probe: Any = object.__new__(builder)
        probe.__class__ = cls
    except TypeError:  # pragma: no cover - an interpreter that refuses: call __init__
        return None
    return builder


def _generate(classes: tuple[type[Any], ...]) -> dict[str, Any]:
    """Readers ``_s_<Class>`` and writers ``_u_<Class>`` of every class (and ``_st_``/``_ut_``
    variants with the ``filter_type`` tag for members of the Filter union), compiled together."""
    src: list[str] = []
    env: dict[str, Any] = {
        "_Bail": _Bail,
        "_value_fast": _value_fast,
        "_SCALARS": _SCALARS,
        "_MISSING": attrs.NOTHING,
        "_READ_TAGGED": {},
        "_READ_TAGGED_CHECKED": {},
        "_new": object.__new__,
        **SHORTCUT_ENV,
    }
    for cls in classes:
        n = cls.__name__
        env[f"_C_{n}"] = cls
        root = hasattr(cls, "__attrs_post_init__") and cls in SHORTCUT_RULES
        builder = _builder_class(cls, validated=root)
        if builder is not None:
            env[f"_B_{n}"] = builder
        # a definition's root has only the checking reader: it is what its __init__ would do
        src += _reader_source(cls, f"_s_{n}", False, env, checked=root)
        src += _writer_source(cls, f"_u_{n}", None)
        if cls in SHORTCUT_RULES and not root:
            src += _reader_source(cls, f"_sv_{n}", False, env, checked=True)
        if cls in FILTER_TAGS:
            src += _reader_source(cls, f"_st_{n}", True, env)
            src += _reader_source(cls, f"_svt_{n}", True, env, checked=True)
            src += _writer_source(cls, f"_ut_{n}", FILTER_TAGS[cls])
    code = "\n".join(src)
    # the source was generated just above from the attrs fields, nothing comes from outside
    exec(compile(code, "<moeseg fast codec>", "exec"), env)
    # Filled after compiling: the functions look these up when they run.
    for tag, c in _CLASS_BY_TAG.items():
        env["_READ_TAGGED"][tag] = env[f"_st_{c.__name__}"]
        env["_READ_TAGGED_CHECKED"][tag] = env[f"_svt_{c.__name__}"]
    writers = {c: env[f"_ut_{c.__name__}"] for c in FILTER_TAGS}

    def _u_filter(i: Any) -> Any:
        return writers[i.__class__](i)

    env["_u_filter"] = _u_filter
    return env


_codec = _generate(_MODEL_CLASSES)
#: the fast reader and writer of each model class
_READERS: dict[type[Any], Callable[[Any], Any]] = {
    c: _codec[f"_s_{c.__name__}"] for c in _MODEL_CLASSES
}
_WRITERS: dict[type[Any], Callable[[Any], Any]] = {
    c: _codec[f"_u_{c.__name__}"] for c in _MODEL_CLASSES
}


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
    reader = _READERS.get(cls)
    if reader is not None:
        try:
            result: T = reader(data)
            return result
        except SegmentValidationError:
            raise
        except Exception:
            pass  # the cattrs converter below decides, and names every problem
    try:
        return _cattrs.structure(data, cls)
    except SegmentValidationError:
        raise
    except Exception as exc:
        raise StructureError(cls, _issues(exc)) from None


def unstructure(obj: Any) -> Any:
    """Write a model (or a list/tuple of models) as JSON-ready data."""
    writer = _WRITERS.get(obj.__class__)
    if writer is not None:
        return writer(obj)
    return _cattrs.unstructure(obj)


def to_payload(defn: SegmentDefinition | SegmentUpdate) -> dict[str, Any]:
    """The JSON body for create (or update) of ``defn``, exactly in the documented form."""
    payload: dict[str, Any] = _WRITERS[defn.__class__](defn)
    return payload


def _not_an_object(data: object) -> ValidationIssue:
    return ValidationIssue("", f"a segment payload must be an object, got {type(data).__name__}")


def from_payload(data: Mapping[str, Any]) -> SegmentDefinition:
    """Parse a create payload (a dict from JSON or YAML, e.g. the dashboard's "Generate payload").

    Raises :class:`moeseg.SegmentValidationError` carrying every issue, each with its path.
    """
    return _read_payload(data, SegmentDefinition)


def from_update_payload(data: Mapping[str, Any]) -> SegmentUpdate:
    """Parse an update (PATCH) payload; like :func:`from_payload`."""
    return _read_payload(data, SegmentUpdate)


def _read_payload(data: Mapping[str, Any], cls: type[T]) -> T:
    if data.__class__ is not dict and not isinstance(data, Mapping):
        raise SegmentValidationError([_not_an_object(data)])
    try:
        return structure(data, cls)
    except StructureError as exc:
        raise SegmentValidationError(exc.issues) from None


@functools.cache
def _yaml_12_loader() -> type[Any]:
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false, so that ``operator: on``
    stays the string "on" (YAML 1.1 would read on/off/yes/no as booleans). Timestamps stay
    strings too: the API wants the ISO text the dashboard wrote, not a ``datetime``."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

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
    return Loader


def load_payload(text: str | bytes) -> SegmentDefinition:
    """Parse a create payload from JSON or YAML text (e.g. the dashboard's "Generate payload").

    YAML is read with YAML 1.2 booleans, so an unquoted ``on`` (an operator and a time range
    type) stays a string. YAML needs PyYAML (the ``yaml`` extra). Raises
    :class:`moeseg.SegmentValidationError` like :func:`from_payload`.
    """
    import json

    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:  # pragma: no cover - the dev extra installs PyYAML
            raise SegmentValidationError(
                [ValidationIssue("", "not JSON, and reading YAML needs PyYAML (moeseg[yaml])")]
            ) from None
        try:
            # a SafeLoader subclass: no arbitrary objects
            data = yaml.load(text, Loader=_yaml_12_loader())
        except yaml.YAMLError as exc:
            issue = ValidationIssue("", f"neither JSON nor YAML: {exc}")
            raise SegmentValidationError([issue]) from None
    return from_payload(data)
