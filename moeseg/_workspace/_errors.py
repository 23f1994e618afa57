"""Typed errors of segments-as-code. Each names what the user must look at.

moeseg.MoesegError
└── WorkspaceError
    ├── DesiredItemError        a desired file or item breaks a rule (also a ValueError);
    │                           .file .index .key .rule (nothing was sent)
    ├── StateError              the state file cannot be used; .path
    │   ├── StateSchemaError        not moeseg's state, or another schema version / drifted
    │   └── StateLocked             another apply holds the lock; .owner .expires_at
    ├── PlanRefused             the plan cannot be applied as it is; .problems
    │   └── HeadroomExceeded        it would pass the 1,000-active limit; .active .limit
    ├── StalePlan               a saved plan no longer matches state and server facts
    └── PlanFileError           a saved plan file is not one moeseg wrote; .path
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .._exceptions import MoesegError

__all__ = [
    "DesiredItemError",
    "HeadroomExceeded",
    "PlanFileError",
    "PlanRefused",
    "StalePlan",
    "StateError",
    "StateLocked",
    "StateSchemaError",
    "WorkspaceError",
]


class WorkspaceError(MoesegError):
    """Base of the errors of segments-as-code (``moeseg._workspace``)."""


class DesiredItemError(WorkspaceError, ValueError):
    """A desired file or one of its items breaks a rule; raised before any request.

    ``index`` is the item's position in its file (0-based, across YAML documents), ``key`` its
    key when it is known; both are ``None`` for a whole-file problem.
    """

    def __init__(self, file: str, index: int | None, key: str | None, rule: str) -> None:
        self.file = file
        self.index = index
        self.key = key
        self.rule = rule
        where = file
        if index is not None:
            where += f", item {index}"
        if key is not None:
            where += f" (key {key!r})"
        super().__init__(f"{where}: {rule}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.index, self.key, self.rule))


class StateError(WorkspaceError):
    """The state store cannot be used as it is; ``path`` names the file (or URL)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"state {path}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.detail))


class StateSchemaError(StateError):
    """The file is not moeseg's workspace state, or has another schema version or columns."""


class StateLocked(StateError):
    """Another apply holds the state's lock until ``expires_at`` (wall-clock seconds)."""

    def __init__(self, path: str, owner: str, expires_at: float) -> None:
        self.owner = owner
        self.expires_at = expires_at
        until = datetime.fromtimestamp(expires_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        StateError.__init__(
            self,
            path,
            f"locked by {owner!r} until {until}: another apply is running (the lock of one "
            "killed on another host expires then; on this host it is taken over at once)",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.owner, self.expires_at))


class PlanRefused(WorkspaceError):
    """The plan has problems that apply must not run into (``problems``: one line each)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("the plan cannot be applied: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))


class HeadroomExceeded(PlanRefused):
    """Creating and unarchiving would leave more than ``limit`` active segments."""

    def __init__(self, active: int, adding: int, archiving: int, limit: int) -> None:
        self.active = active
        self.adding = adding
        self.archiving = archiving
        self.limit = limit
        super().__init__([headroom_problem(active, adding, archiving, limit)])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.active, self.adding, self.archiving, self.limit))


class StalePlan(WorkspaceError):
    """A saved plan was made from other state, server facts or desired items than now."""

    def __init__(self, saved: str, current: str) -> None:
        self.saved = saved
        self.current = current
        super().__init__(
            f"the saved plan is stale (made from {saved[:12]}, now {current[:12]}): "
            "the state, the server or the desired files changed since; plan again"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.saved, self.current))


class PlanFileError(WorkspaceError, ValueError):
    """A saved plan file cannot be read (not JSON, not moeseg's format, another version)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"plan file {path}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.detail))


def headroom_problem(active: int, adding: int, archiving: int, limit: int) -> str:
    """The sentence that explains a passed active-segment limit."""
    after = active + adding - archiving
    return (
        f"{active} active + {adding} to create or unarchive - {archiving} to archive = "
        f"{after} active segments, over the workspace limit of {limit}"
    )
