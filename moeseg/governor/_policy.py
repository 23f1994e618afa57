"""Quotas as data: windows, groups of windows, and which operation spends which group."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal, TypeAlias

import attrs

from .._exceptions import ConfigurationError

__all__ = ["USERS", "OperationCost", "QuotaGroup", "QuotaPolicy", "Window"]

USERS: Literal["users"] = "users"
"""Cost marker: the operation spends as much of the (weighted) group as it touches users."""

OperationCost: TypeAlias = "int | Literal['users']"


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{attribute.name} must be a positive int, got {value!r}")


def _positive_float(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(
            f"{attribute.name} must be a positive finite number, got {value!r}"
        )


@attrs.frozen(slots=True)
class Window:
    """At most ``limit`` units in any interval of ``seconds`` (a sliding window)."""

    limit: int = attrs.field(validator=_positive_int)
    seconds: float = attrs.field(converter=float, validator=_positive_float)

    def __str__(self) -> str:
        return f"{self.limit}/{self.seconds:g}s"


def _windows(value: Iterable[Window]) -> tuple[Window, ...]:
    windows = tuple(sorted(value, key=lambda w: w.seconds))
    if not windows:
        raise ConfigurationError("a quota group needs at least one window")
    if len({w.seconds for w in windows}) != len(windows):
        raise ConfigurationError("a quota group has two windows of the same length")
    return windows


@attrs.frozen(slots=True)
class QuotaGroup:
    """A named counter shared by several operations, limited by one or more sliding windows.

    ``weighted`` groups count units (users) rather than requests: one request of weight w takes
    w units of every window at once.
    """

    name: str
    windows: tuple[Window, ...] = attrs.field(converter=_windows)
    weighted: bool = False

    @property
    def longest(self) -> float:
        """The longest window, in seconds (how long the group must remember a request)."""
        return self.windows[-1].seconds

    def __str__(self) -> str:
        kind = " weighted" if self.weighted else ""
        return f"{self.name}{kind} [{', '.join(map(str, self.windows))}]"


def _groups(value: Iterable[QuotaGroup] | Mapping[str, QuotaGroup]) -> tuple[QuotaGroup, ...]:
    groups = tuple(value.values() if isinstance(value, Mapping) else value)
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"duplicate quota group names in {names}")
    return groups


def _operations(
    value: Mapping[str, Mapping[str, OperationCost]],
) -> Mapping[str, Mapping[str, OperationCost]]:
    return MappingProxyType({op: MappingProxyType(dict(cost)) for op, cost in value.items()})


@attrs.frozen(slots=True)
class QuotaPolicy:
    """Which quota groups exist and what each operation costs in them.

    ``operations`` maps an operation name to ``{group name: cost}``, where cost is a positive
    int (requests) or ``"users"`` (the number of users the call touches, for weighted groups).
    An operation mapped to ``{}`` needs no quota and is never delayed.
    """

    groups: tuple[QuotaGroup, ...] = attrs.field(converter=_groups)
    operations: Mapping[str, Mapping[str, OperationCost]] = attrs.field(
        converter=_operations, hash=False
    )
    headroom: float = attrs.field(default=0, kw_only=True)
    """Part of every window left unused for others sharing the workspace: a fraction
    (``0 < headroom < 1``: that share of each limit, rounded up) or a count (an int >= 1: that
    many units of each window). Default 0: the whole quota."""
    time_scale: float = attrs.field(default=1.0, kw_only=True, validator=_positive_float)
    """How much every window was scaled by (:meth:`scaled`); 1.0 for the real quotas."""

    def __attrs_post_init__(self) -> None:
        h = self.headroom
        if isinstance(h, bool) or not isinstance(h, int | float) or not 0 <= h < math.inf:
            raise ConfigurationError(f"headroom must be a number >= 0, got {h!r}")
        if h >= 1 and h != int(h):
            raise ConfigurationError(f"headroom must be a fraction < 1 or a whole count, got {h}")
        for g in self.groups:
            for w in g.windows:
                if self.usable(w) < 1:
                    raise ConfigurationError(
                        f"headroom {h} leaves nothing of window {w} of quota group {g.name!r}"
                    )
        known = {g.name: g for g in self.groups}
        for op, cost in self.operations.items():
            for group, units in cost.items():
                if group not in known:
                    raise ConfigurationError(f"operation {op!r} uses unknown group {group!r}")
                if units == USERS and not known[group].weighted:
                    raise ConfigurationError(f"{op!r}: 'users' cost on unweighted group {group!r}")
                if units != USERS:
                    _positive_int(None, attrs.fields(Window).limit, units)

    @classmethod
    def moengage(cls) -> QuotaPolicy:
        """MoEngage's documented limits (see DESIGN.md); update counts as a create."""
        day, hour, minute = 86400.0, 3600.0, 60.0
        segments = (Window(50, minute), Window(200, hour), Window(1000, day))
        reads = (Window(100, minute), Window(1000, hour), Window(4000, day))
        file_ops = (Window(10, hour), Window(100, day))
        file_write: dict[str, OperationCost] = {"file_ops": 1, "file_users": USERS}
        return cls(
            groups=(
                QuotaGroup("segments", segments),
                QuotaGroup("segment_reads", reads),
                QuotaGroup("file_ops", file_ops),
                QuotaGroup("file_users", (Window(2_000_000, day),), weighted=True),
                QuotaGroup("cohort_sync", (Window(300, minute),)),
            ),
            operations={
                "create": {"segments": 1},
                "list": {"segments": 1},
                "update": {"segments": 1},
                "get": {"segment_reads": 1},
                "file_create": file_write,
                "file_add": file_write,
                "file_remove": file_write,
                "file_replace": file_write,
                "legacy_csv": {"file_ops": 1},
                "cohort_sync": {"cohort_sync": 1},
                "archive": {},
                "unarchive": {},
            },
        )

    def group(self, name: str) -> QuotaGroup:
        """The group called ``name`` (ConfigurationError if there is none)."""
        for g in self.groups:
            if g.name == name:
                return g
        raise ConfigurationError(f"no quota group named {name!r}")

    def usable(self, window: Window) -> int:
        """Units of ``window`` this policy lets the governor spend: its limit minus headroom."""
        h = self.headroom
        return window.limit - (math.ceil(window.limit * h) if h < 1 else int(h))

    def usable_group(self, group: QuotaGroup) -> QuotaGroup:
        """``group`` with each window's limit reduced to what :meth:`usable` leaves."""
        if not self.headroom:
            return group
        windows = [Window(self.usable(w), w.seconds) for w in group.windows]
        return attrs.evolve(group, windows=windows)

    def with_headroom(self, headroom: float) -> QuotaPolicy:
        """The same policy leaving ``headroom`` of every window unused (see ``headroom``)."""
        return attrs.evolve(self, headroom=headroom)

    def scaled(self, factor: float) -> QuotaPolicy:
        """The same policy with every window's length multiplied by ``factor`` (demos, tests);
        ``time_scale`` records the product of all factors."""
        _positive_float(None, attrs.fields(Window).seconds, factor)
        return attrs.evolve(
            self,
            time_scale=self.time_scale * factor,
            groups=tuple(
                attrs.evolve(g, windows=[Window(w.limit, w.seconds * factor) for w in g.windows])
                for g in self.groups
            ),
        )

    def with_group(self, group: QuotaGroup) -> QuotaPolicy:
        """Add ``group``, or replace the group of the same name (e.g. a raised limit)."""
        others = [g for g in self.groups if g.name != group.name]
        return attrs.evolve(self, groups=(*others, group))

    def with_operation(self, operation: str, cost: Mapping[str, OperationCost]) -> QuotaPolicy:
        """Add or replace what ``operation`` costs (a different grouping)."""
        return attrs.evolve(self, operations={**self.operations, operation: cost})

    def demand(self, operation: str, users: int = 0) -> dict[str, int]:
        """``{group: units}`` that one call of ``operation`` touching ``users`` users spends.

        Groups whose cost would be zero (``"users"`` with ``users=0``) are left out.
        """
        try:
            cost = self.operations[operation]
        except KeyError:
            raise ConfigurationError(f"unknown operation {operation!r}") from None
        if users < 0:
            raise ConfigurationError(f"users must be >= 0, got {users}")
        out: dict[str, int] = {}
        for group, units in cost.items():
            n = users if units == USERS else units
            if n:
                out[group] = n
        return out
