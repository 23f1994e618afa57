"""How big a definition may be (:class:`Limits`, the sandbox's figures), and the checks that
keep hostile input from costing time before anything is built from it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from .._exceptions import ValidationIssue

__all__ = ["DEFAULT_LIMITS", "Limits", "is_int", "is_number", "number_problem", "payload_issues"]

#: the largest integer a payload may carry (JSON readers on the other side use 64 bits)
MAX_INT = 2**63 - 1
#: objects, lists and scalars a definition may hold per allowed filter (long ``in`` lists fit)
NODES_PER_FILTER = 500
#: levels of JSON objects and lists per allowed nesting level, plus the fixed levels around them
CONTAINERS_PER_LEVEL = 2
FIXED_CONTAINERS = 16
#: issues reported at most by one walk (a file of a million NaNs needs no million lines)
MAX_ISSUES = 100


def _positive(_: object, a: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Limits.{a.name} must be a positive integer, got {value!r}")


@attrs.frozen(slots=True)
class Limits:
    """Moeseg's assumption of the largest definition MoEngage accepts (it answers 413 beyond).

    - ``max_depth``: levels of and/or groups; a flat query has 1, each nested group adds one,
      and a referenced segment counts as one more (its own nesting is not known locally).
    - ``max_segment_refs``: distinct segments referenced (``custom_segments`` filters).
    - ``max_filters``: filters, counting each condition inside an event's ``attributes``.

    Pass ``limits=Limits(max_filters=500)`` to ``segment``, ``SegmentDefinition``,
    ``from_payload``, ``load_payload`` or ``validate`` when your workspace accepts more.
    """

    max_depth: int = attrs.field(default=5, validator=_positive)
    max_segment_refs: int = attrs.field(default=10, validator=_positive)
    max_filters: int = attrs.field(default=200, validator=_positive)

    def too_many(self, what: str, field: str) -> str:
        """The rule text of a broken limit, saying how to raise it."""
        limit = getattr(self, field)
        return (
            f"more than {limit} {what}: moeseg assumes MoEngage accepts no more (it answers 413 "
            f"beyond a limit it does not publish); if your workspace accepts more, pass "
            f"limits=moeseg.Limits({field}=...)"
        )


DEFAULT_LIMITS = Limits()


def payload_issues(data: object, limits: Limits = DEFAULT_LIMITS) -> list[ValidationIssue]:
    """Problems of raw data that must stop it before it is read: nesting beyond what ``limits``
    can need, more nodes than they can need (a YAML alias bomb expands to millions), and numbers
    that are not finite or do not fit in 64 bits. Walks without recursion."""
    max_containers = CONTAINERS_PER_LEVEL * limits.max_depth + FIXED_CONTAINERS
    budget = NODES_PER_FILTER * limits.max_filters
    issues: list[ValidationIssue] = []
    # (value, path, containers above it)
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen = 1
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (Mapping, list, tuple)):
            if depth >= max_containers:
                rule = (
                    f"nested more than {max_containers} objects and lists deep "
                    f"(limits.max_depth={limits.max_depth} needs no more)"
                )
                issues.append(ValidationIssue(path, rule))
                continue
            seen += len(value)
            if seen > budget:
                # counted as expanded: a YAML alias repeats its whole anchor
                rule = (
                    f"holds more than {budget} objects, lists and values ({NODES_PER_FILTER} "
                    f"for each of the limits.max_filters={limits.max_filters} filters)"
                )
                return [ValidationIssue(path, rule)]
            if isinstance(value, Mapping):
                children = [
                    (v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in value.items()
                ]
            else:
                children = [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
            stack.extend(reversed(children))
            continue
        problem = number_problem(value)
        if problem is not None:
            issues.append(ValidationIssue(path, problem))
    return issues[:MAX_ISSUES]


def number_problem(value: object) -> str | None:
    """Why ``value`` cannot be sent as a JSON number, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if -MAX_INT - 1 <= value <= MAX_INT:
            return None
        return "integer out of range: numbers must fit in 64 bits"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if isinstance(value, TooLongNumber):
        return f"integer out of range: {len(value)} digits (numbers must fit in 64 bits)"
    return None


def is_int(v: object) -> bool:
    """An int (not a bool) that can be sent."""
    return isinstance(v, int) and not isinstance(v, bool) and number_problem(v) is None


def is_number(v: object) -> bool:
    """An int or a float that can be sent."""
    return is_int(v) or (isinstance(v, float) and number_problem(v) is None)


class TooLongNumber(str):
    """An integer literal too long to convert, kept as its text so that it can be reported with
    its path (the readers of ``_loading`` make these instead of calling ``int``)."""

    __slots__ = ()
