"""Sending one call: each attempt takes its slot from the governor, sends, reads the answer
(capped at ``max_response_bytes`` decoded), settles the lease and maps the answer through
``_answers``; retries follow ``_retry``.

A transport failure becomes a :class:`~moeseg.TransportError` built from its class name and
redacted message, raised outside the ``except`` block, so that no moeseg error's cause or
context holds the httpx request and its ``Authorization`` header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol, TypedDict

import anyio
import attrs
import httpx

from .._cohorts import PendingActions
from .._exceptions import (
    ConfigurationError,
    ConnectError,
    ConnectionLost,
    MoesegError,
    RateLimited,
    RequestTimeout,
    ResponseTooLarge,
    TransportError,
)
from .._telemetry import Observer, note_answer, note_attempt, note_retry, note_wait
from ..governor import USERS, QuotaPolicy
from ._answers import (
    Answer,
    bounded_float,
    error_from_answer,
    error_from_cohort_response,
    legacy_status,
    readable_rate_headers,
    unexpected,
)
from ._config import ENV_DB_NAME, Options
from ._credentials import Credentials, Family
from ._retry import Backoff, outcome_unknown, retryable

logger = logging.getLogger("moeseg")

#: A lease outlives its request timeout by this much before the governor reclaims it.
_LEASE_MARGIN: Final = 5.0
#: A quota wait shorter than this is not worth an info line: an uncontended admission takes tens
#: of microseconds, and a busy machine stretches that to milliseconds without any quota wait.
_WAIT_WORTH_LOGGING: Final = 0.05
#: The sandbox names its time scale here (``moeseg.sandbox``); MoEngage never sends it.
TIME_SCALE_HEADER: Final = "x-moeseg-sandbox-time-scale"

# httpx errors raised before any byte of the request left the client.
_NOTHING_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class LeaseLike(Protocol):
    """What the client needs of a governor lease (``moeseg.governor.Lease``)."""

    async def complete(self) -> None: ...

    async def refund(self) -> None: ...

    async def abandon(self) -> None: ...


class GovernorLike(Protocol):
    """What the client needs of a quota governor: ``moeseg.governor.Governor`` (the default,
    shared per workspace) or anything with the same methods."""

    @property
    def policy(self) -> QuotaPolicy: ...

    async def acquire(
        self, demand: Mapping[str, int], *, max_wait: float | None = ..., lease_timeout: float = ...
    ) -> LeaseLike: ...

    async def report_rate_limited(
        self, group: str, window_seconds: float | None = ...
    ) -> object: ...

    async def observe_headers(self, group: str, headers: Mapping[str, str]) -> None: ...


@attrs.frozen(slots=True)
class Endpoint:
    """One API operation: quota operation name, HTTP method, header family, fixed path (empty
    where it names a segment id), and whether a failure of unknown outcome may be retried."""

    operation: str
    method: str
    family: Family
    path: str = ""
    retry_unknown: bool = True


class Unknown:
    """Set when an attempt of this call failed in a way the server may have acted on."""

    __slots__ = ("unknown",)

    def __init__(self) -> None:
        self.unknown = False


class CallKw(TypedDict, total=False):
    """What a call sends besides its endpoint and path (see :meth:`Sender.call`)."""

    json: Any
    content: bytes | None
    params: Mapping[str, str] | None
    users: int
    outcome: Unknown | None
    on_send: Callable[[], Awaitable[None]] | None


class _TooLarge(Exception):
    """Internal: the decoded body passed the cap."""


@attrs.define(eq=False, repr=False)
class Sender:
    """Sends governed, retried requests; shared by a client and its ``with_options`` copies."""

    http: httpx.AsyncClient
    owns_http: bool
    governor: GovernorLike
    credentials: Credentials
    base_url: str
    legacy_base_url: str
    observer: Observer | None = None
    policy: QuotaPolicy = attrs.field(init=False)
    #: Unresolved Cohort Sync actions per cohort id, shared by every copy of the client.
    cohort_pending: dict[str, PendingActions] = attrs.field(init=False, factory=dict)
    _demands: dict[str, Mapping[str, int]] = attrs.field(init=False)
    _counted: dict[str, tuple[str, ...]] = attrs.field(init=False)
    _backoff: Backoff = attrs.field(init=False, factory=Backoff)

    def __attrs_post_init__(self) -> None:
        self.policy = self.governor.policy
        ops = self.policy.operations
        # Built once: the governor recognises a demand it saw last by identity, and a 429 names
        # the request-counted groups.
        self._demands = {op: self.policy.demand(op) for op in ops}
        self._counted = {
            op: tuple(g for g, units in cost.items() if units != USERS) for op, cost in ops.items()
        }

    def groups(self, endpoint: Endpoint) -> tuple[str, ...]:
        """The request-counting (not weighted) quota groups an operation spends."""
        return self._counted.get(endpoint.operation, ())

    async def call(
        self,
        endpoint: Endpoint,
        path: str,
        opts: Options,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        users: int = 0,
        outcome: Unknown | None = None,
        on_send: Callable[[], Awaitable[None]] | None = None,
    ) -> Answer:
        """Send with retries; a 2xx answer or the last attempt's typed error (``on_send``: see
        :meth:`moeseg.Client.create_segment`)."""
        if endpoint.family == "v2" and not self.credentials.db_name:
            raise ConfigurationError(
                f"{endpoint.operation} is a v2 call: pass db_name= or set {ENV_DB_NAME}"
            )
        demand = None if users else self._demands.get(endpoint.operation)
        if demand is None:  # weighted, or an operation the policy lacks (it raises)
            demand = self.policy.demand(endpoint.operation, users=users)
        root = self.legacy_base_url if endpoint.family == "legacy" else self.base_url
        request = self.http.build_request(
            endpoint.method,
            root + path,
            params=params,
            json=json,
            content=content,
            headers=self.credentials.headers(endpoint.family),
            timeout=opts.timeout,
        )
        retries = 0
        while True:
            try:
                answer = await self._attempt(
                    endpoint, request, path, demand, opts, retries + 1, on_send
                )
                note_answer(answer.content)
                return answer
            except MoesegError as exc:
                if isinstance(exc, RateLimited):
                    for group in self.groups(endpoint):
                        await self.governor.report_rate_limited(group, exc.window_seconds)
                if outcome is not None and outcome_unknown(exc):
                    outcome.unknown = True
                if retries >= opts.max_retries or not retryable(
                    exc, retry_unknown=endpoint.retry_unknown
                ):
                    raise
                retries += 1
                note_retry(endpoint.operation, exc)
                name, status = type(exc).__name__, getattr(exc, "status", None)
                what = f"{name} {status}" if status is not None else name
                # A 429 waits in the governor, which the report above paused; others back off.
                groups = self.groups(endpoint) if isinstance(exc, RateLimited) else ()
                delay = 0.0 if groups else self._backoff.delay(retries)
                when = (
                    f"once the governor frees {', '.join(groups)}" if groups else f"in {delay:.2f}s"
                )
                logger.info(
                    "%s %s: %s; retry %d/%d %s",
                    endpoint.method, path, what, retries, opts.max_retries, when,
                )  # fmt: skip
                if delay:
                    await anyio.sleep(delay)

    async def _attempt(
        self,
        endpoint: Endpoint,
        request: httpx.Request,
        path: str,
        demand: Mapping[str, int],
        opts: Options,
        attempt: int,
        on_send: Callable[[], Awaitable[None]] | None = None,
    ) -> Answer:
        """One governed attempt: acquire, send, read, settle the lease, map the answer."""
        lease = None
        note_attempt(demand)
        if demand:
            asked = anyio.current_time()
            lease = await self.governor.acquire(
                demand, max_wait=opts.max_wait, lease_timeout=opts.timeout + _LEASE_MARGIN
            )
            waited = anyio.current_time() - asked
            note_wait(demand, waited)
            if waited > _WAIT_WORTH_LOGGING:
                logger.info(
                    "%s %s: waited %.3fs for quota (%s)",
                    endpoint.method, path, waited, ", ".join(demand),
                )  # fmt: skip
        if on_send is not None:
            try:
                await on_send()
            except BaseException:
                if lease is not None:  # nothing left: the slot goes back
                    with anyio.CancelScope(shield=True):
                        await lease.refund()
                raise
        method = endpoint.method
        started = time.perf_counter()
        failure: type[TransportError] | None = None
        detail = ""
        response = None
        content = b""
        too_large = answered = False
        try:
            with anyio.fail_after(opts.timeout):
                response = await self.http.send(request, stream=True)
                try:
                    content = await _read_capped(response, opts.max_response_bytes)
                except _TooLarge:
                    too_large = True
                finally:
                    await response.aclose()
        except _NOTHING_SENT as exc:
            failure, detail = ConnectError, self._detail(exc)
        except (httpx.TimeoutException, TimeoutError) as exc:
            failure, detail = RequestTimeout, self._detail(exc)
        except httpx.TransportError as exc:
            failure, detail = ConnectionLost, self._detail(exc)
        except httpx.HTTPError as exc:  # an answer came, unusable (a body that does not decode)
            failure, detail, answered = TransportError, self._detail(exc), True
        except Exception as exc:  # a custom transport's own failure, whatever its class
            failure, detail = TransportError, self._detail(exc)
        finally:
            if lease is not None:
                # Settled even when this task is being cancelled: the slot must not leak.
                with anyio.CancelScope(shield=True):
                    if failure is ConnectError:
                        await lease.refund()
                    elif response is not None or answered:  # an answer came
                        await lease.complete()
                    else:  # outcome unknown: it may still arrive, up to the lease's bound
                        await lease.abandon()
        elapsed = time.perf_counter() - started
        if failure is not None or response is None:
            logger.debug(
                "%s %s -> %s in %.3fs (attempt %d)", method, path, detail, elapsed, attempt
            )
            raise (failure or TransportError)(detail, method=method, path=path)
        answer = Answer(response.status_code, response.headers, content, method, path)
        logger.debug(
            "%s %s -> %d in %.3fs (attempt %d)", method, path, answer.status, elapsed, attempt
        )
        self._check_time_scale(answer)
        if demand:
            await self._observe(endpoint, answer)
        redact = self.credentials.redact
        if too_large:
            why = f"the decoded body exceeds max_response_bytes={opts.max_response_bytes}"
            raise unexpected(why, answer, redact, ResponseTooLarge)
        status = legacy_status(answer) if endpoint.family == "legacy" else answer.status
        if status >= 400 and endpoint.family == "cohort":
            raise error_from_cohort_response(
                status, answer.headers, answer.content, method=method, path=path, redact=redact
            )
        if status >= 400:
            raise error_from_answer(answer, status, redact)
        return answer

    def _detail(self, exc: Exception) -> str:
        text = self.credentials.redact(str(exc))[:500] if str(exc) else ""
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    def _check_time_scale(self, answer: Answer) -> None:
        """A sandbox whose windows run at another speed than our policy's stalls every wait."""
        raw = answer.headers.get(TIME_SCALE_HEADER)
        if raw is None:
            return
        theirs = bounded_float(raw)
        ours = float(getattr(self.policy, "time_scale", 1.0))
        if theirs is None or theirs == 0 or abs(theirs - ours) <= 1e-9 * max(theirs, ours):
            return
        raise ConfigurationError(
            f"time-scale mismatch: the sandbox at {self.base_url} runs its quota windows at "
            f"time scale {theirs:g}, the client's quota policy at {ours:g}; build the policy "
            f"with QuotaPolicy.scaled({theirs:g}) (moeseg's commands: --time-scale {theirs:g}) "
            f"or start the sandbox with time_scale={ours:g}"
        )

    async def _observe(self, endpoint: Endpoint, answer: Answer) -> None:
        rate = readable_rate_headers(answer.headers)
        if rate is None:
            return
        for group in self.groups(endpoint):
            try:
                await self.governor.observe_headers(group, rate)
            except Exception as exc:  # advisory: an answered call must never fail on it
                logger.debug("ignored rate-limit headers for %s: %s", group, type(exc).__name__)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The decoded body, or ``_TooLarge`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
