"""Observability: a record of every request, and answers computed from the records."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["FileJobRecord", "RequestRecord", "max_in_window"]


@attrs.frozen(slots=True)
class RequestRecord:
    """One request as the sandbox saw it.

    ``arrival`` is the sandbox clock when the request arrived (after any in-transit latency
    fault); ``route`` is the operation name (``None`` for an unknown path); ``group`` the
    request-counted quota group of the route; ``status`` what the client received (0: the
    connection was dropped) and ``processed_status`` what processing produced (they differ
    under "after processing" faults); ``cause`` says why (``created``, ``rate_limit``,
    ``rate_limit_other_tenant``, ``active_segment_limit``, ``name_conflict``,
    ``fault_500_after``, ``dropped``, ``abandoned`` when the client went away before the
    answer...) and ``detail`` adds specifics. A request is logged from its arrival on.
    """

    arrival: float
    method: str
    path: str
    route: str | None
    group: str | None
    workspace: str | None
    status: int
    processed_status: int
    cause: str
    detail: str = ""


@attrs.frozen(slots=True)
class FileJobRecord:
    """The outcome of one background file job (v2 file operation or legacy CSV upload).

    ``callback`` is the body that was (or would have been) POSTed; ``callback_status`` the
    receiver's HTTP status, ``None`` when there was no callback URL or delivery failed
    (``callback_error`` then says why).
    """

    route: str
    workspace: str
    segment_id: str
    segment_name: str
    request_id: str
    status: int
    callback: dict[str, object]
    callback_url: str | None
    callback_status: int | None
    callback_error: str | None = None


def max_in_window(times: Iterable[float], seconds: float) -> int:
    """The most ``times`` inside any half-open interval of length ``seconds``."""
    ts = sorted(times)
    best = 0
    lo = 0
    for hi, t in enumerate(ts):
        while ts[lo] + seconds <= t:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
