"""Which failures are retried (decided on the typed error, before any retry), and the backoff.

A failure leaves the outcome *unknown* when the server may have acted on the request (a timeout,
a connection lost after sending, a 5xx): creating again then needs the client's exactly-once
resolution, and an API that has none retries only known outcomes (``retry_unknown=False``).
The table of what is retried is in docs/client.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from .._exceptions import (
    ConnectError,
    ConnectionLost,
    RateLimited,
    RequestTimeout,
    ServerError,
    UnexpectedResponse,
)

__all__: list[str] = []


@attrs.frozen(slots=True)
class Backoff:
    """Capped exponential backoff with jitter: retry ``n`` waits in ``[d/2, d]``.

    ``d = min(cap, base * 2 ** (n - 1))``. Half of the delay is kept so that a crowd of callers
    never retries at once with zero delay; the other half is random.
    """

    base: float = 0.5
    cap: float = 20.0

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        full = min(self.cap, self.base * 2.0 ** (retry - 1))
        return full / 2.0 + rand() * (full / 2.0)


def outcome_unknown(exc: BaseException) -> bool:
    """Whether the server may have acted on the request that failed with ``exc``."""
    if isinstance(exc, (RequestTimeout, ConnectionLost, ServerError)):
        return True
    return isinstance(exc, UnexpectedResponse) and exc.status >= 500


def retryable(exc: BaseException, *, retry_unknown: bool = True) -> bool:
    """Whether a call that failed with ``exc`` may be attempted again."""
    if isinstance(exc, (ConnectError, RateLimited)):
        return True
    return retry_unknown and outcome_unknown(exc)
