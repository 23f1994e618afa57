"""What a batch reports: one :class:`Outcome` per input, and :class:`BatchProgress` on the way."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import attrs

from ..segments import Segment

__all__ = ["BatchProgress", "Outcome", "OutcomeKind", "ProgressCallback"]


class OutcomeKind(str, enum.Enum):
    """What happened to one item of a batch."""

    CREATED = "created"
    """Created by this run."""
    RECOVERED = "recovered"
    """Created exactly once although an attempt's outcome was unknown (found by name and
    fingerprint after a timeout, a 5xx, or a run killed after sending)."""
    EXISTS = "exists"
    """A segment with this name and an identical definition already existed; nothing new."""
    DUPLICATE = "duplicate"
    """Same definition as an earlier item of the batch; never sent (see ``duplicate_of``)."""
    CONFLICT = "conflict"
    """The name or the definition belongs to a different existing segment, or an earlier item
    of the batch uses the same name for another definition (then never sent)."""
    INVALID = "invalid"
    """Failed local validation; never sent, no quota spent."""
    FAILED = "failed"
    """Any other error (``error`` says which): auth, quota wait too long, server, transport..."""
    NOT_SENT = "not_sent"
    """Never sent, no quota spent, because the batch stopped first (``reason`` says why: the
    workspace reached its active-segment limit, or :meth:`Batch.stop`). A rerun sends it."""

    @property
    def ok(self) -> bool:
        """True when the segment exists with this definition after the batch."""
        return self in _OK


_OK = frozenset({OutcomeKind.CREATED, OutcomeKind.RECOVERED, OutcomeKind.EXISTS})


@attrs.frozen(slots=True)
class Outcome:
    """The result of one item: its input position, its name, what happened, and with what.

    ``segment_id`` is set for created, recovered and existing segments (``segment`` too when the
    server returned it in this run); ``error`` for conflict, invalid and failed items;
    ``reason`` for items not sent; ``duplicate_of`` is the index of the earlier item with the
    same definition; ``from_journal`` is true when a previous run had already done it (nothing
    was sent). ``attempts`` counts the create requests sent for this item in this run (retries
    included); ``waited`` is the seconds it spent waiting for quota before its first request and
    ``elapsed`` the seconds from its start to its outcome (both on the event loop's clock).
    """

    index: int
    name: str
    kind: OutcomeKind
    segment_id: str | None = None
    segment: Segment | None = None
    error: Exception | None = None
    duplicate_of: int | None = None
    fingerprint: str | None = None
    from_journal: bool = False
    reason: str | None = None
    attempts: int = 0
    waited: float = 0.0
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the segment exists with this definition (created, recovered, exists)."""
        return self.kind.ok

    @property
    def detail(self) -> str:
        """One line for humans: the id, the duplicate's original, the reason, or the error."""
        if self.kind is OutcomeKind.DUPLICATE:
            return f"same definition as item {self.duplicate_of}"
        if self.kind is OutcomeKind.NOT_SENT:
            return f"not sent: {self.reason}"
        if self.error is not None:
            return str(self.error).replace("\n", ";")
        note = " (from journal)" if self.from_journal else ""
        return f"id {self.segment_id}{note}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``moeseg create --json``)."""
        return {
            "index": self.index,
            "name": self.name,
            "kind": self.kind.value,
            "ok": self.ok,
            "segment_id": self.segment_id,
            "duplicate_of": self.duplicate_of,
            "from_journal": self.from_journal,
            "reason": self.reason,
            "attempts": self.attempts,
            "waited_seconds": round(self.waited, 3),
            "elapsed_seconds": round(self.elapsed, 3),
            "error": None if self.error is None else str(self.error),
            "error_type": None if self.error is None else type(self.error).__name__,
        }


@attrs.frozen(slots=True)
class BatchProgress:
    """Reported to the progress callback after each item and when quota waits begin or end.

    ``waiting_until`` (wall clock, local time zone) is set while the next create waits for
    quota; ``outcome`` is the item that just finished, if any.
    """

    done: int
    total: int
    waiting_until: datetime | None = None
    outcome: Outcome | None = None


ProgressCallback = Callable[[BatchProgress], "Awaitable[None] | None"]
"""A plain function, or an ``async def`` one (the batch awaits it)."""
