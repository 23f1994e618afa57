"""Errors of file segments, part of the moeseg tree (every one is a ``moeseg.MoesegError``).

MoesegError
├── CsvCheckError (also ValueError)   the CSV breaks MoEngage's rules; nothing was sent
├── FileSegmentFailed                 MoEngage's callback reported a failure; .status, .outcome
└── CallbackTimeout (also TimeoutError)  no callback arrived within wait(timeout=...)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exceptions import MoesegError

if TYPE_CHECKING:
    from ._csv import CsvReport
    from ._results import FileSegmentOutcome

__all__ = ["CallbackTimeout", "CsvCheckError", "FileSegmentFailed"]

_SHOWN = 20  # violations spelled out in an exception message; the report keeps them all


class CsvCheckError(MoesegError, ValueError):
    """A CSV file broke MoEngage's file rules; nothing was sent and no quota was spent.

    ``report`` is the full :class:`CsvReport`; ``violations`` its violations, each naming the line
    (1-based, ``None`` for the whole file) and the rule.
    """

    def __init__(self, report: CsvReport) -> None:
        self.report = report
        self.violations = report.violations
        super().__init__(self._render())

    def _render(self) -> str:
        r = self.report
        n = r.violation_count
        lines = [f"{r.source}: {n} CSV violation{'s' if n != 1 else ''}"]
        lines += [f"  {v}" for v in r.violations[:_SHOWN]]
        if n > _SHOWN:
            lines.append(f"  ... and {n - _SHOWN} more")
        return "\n".join(lines)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.report,))


class FileSegmentFailed(MoesegError):
    """MoEngage processed the file and reported a failure in its callback.

    ``status`` is the callback's status (400 file size or download failure, 409 duplicate request,
    500 internal error); ``error_message`` MoEngage's text; ``outcome`` the whole callback.
    """

    def __init__(self, outcome: FileSegmentOutcome) -> None:
        self.outcome = outcome
        self.status = outcome.status
        self.error_message = outcome.error_message
        self.segment_name = outcome.segment_name
        self.request_id = outcome.request_id
        rid = f" (request_id={outcome.request_id})" if outcome.request_id else ""
        super().__init__(
            f"{outcome.operation} of file segment {outcome.segment_name!r} failed: "
            f"{outcome.status} {outcome.error_message or 'no error message'}{rid}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.outcome,))


class CallbackTimeout(MoesegError, TimeoutError):
    """No callback arrived in time. The operation may still complete: wait again or give up."""

    def __init__(self, operation: str, segment_name: str, timeout: float) -> None:
        self.operation = operation
        self.segment_name = segment_name
        self.timeout = timeout
        super().__init__(
            f"no callback for the {operation} of file segment {segment_name!r} "
            f"within {timeout:g}s (MoEngage may still be processing the file)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.operation, self.segment_name, self.timeout))
