"""Telemetry: the :class:`Observer` hooks the client and the governor call, and the
OpenTelemetry observer (``pip install moeseg[otel]``).

The client wraps each public operation (``create_segment``, ...) in one observed call: its record
lives in a context variable, so the attempts below it (``client._send``) add to it without being
handed it, and the HTTP spans of ``opentelemetry-instrumentation-httpx`` nest under its span. The
governor reports admissions, leases and pauses (``governor._hooks``). Nothing here imports
OpenTelemetry until an :class:`OpenTelemetryObserver` is built; the default observer is one when
``opentelemetry-api`` is installed, else none (then every hook is one ``is None`` test).

Attributes are bounded: operation, quota group and window, result, cause, error type; never a
segment's name or id, a body or a header.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

import attrs

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["Observer", "OpenTelemetryObserver"]

logger = logging.getLogger("moeseg.telemetry")

Attributes = Mapping[str, "str | bool | int | float | tuple[str, ...]"]

P = ParamSpec("P")
R = TypeVar("R")


class Observer:
    """Hooks into what moeseg does, for your own metrics or tracing stack: subclass it and
    override what you need (each hook here does nothing), then pass it as
    ``moeseg.Client(..., observer=...)`` and ``Governor(..., observer=...)``.

    Hooks run synchronously on the event loop: keep them quick, never block. An exception from a
    hook is logged and ignored. :class:`OpenTelemetryObserver` is one implementation.
    """

    # -- one public client operation (create_segment, list_segments, ...) -----------------------

    def operation_started(self, operation: str) -> object:
        """A client operation begins; the value returned is handed to the two hooks below."""
        return None

    def operation_event(self, token: object, name: str, attributes: Attributes) -> None:
        """Something happened within the operation (``moeseg.quota.wait``)."""

    def operation_ended(
        self, token: object, attributes: Attributes, error: BaseException | None
    ) -> None:
        """The operation ended: its attributes (``moeseg.attempts``, ...) and error, if any."""

    def retried(self, operation: str, error_type: str) -> None:
        """An attempt failed with ``error_type`` and the operation tries again."""

    # -- the quota governor --------------------------------------------------------------------

    def quota_queued(self, group: str, delta: int) -> None:
        """A request starts (+1) or stops (-1) waiting for ``group``."""

    def quota_requested(self, group: str, result: str, waited: float) -> None:
        """A request for ``group`` left the queue: ``result`` is ``admitted``, ``max_wait``,
        ``cancelled`` or ``error`` (the store failed); ``waited`` in seconds."""

    def lease_started(self, group: str) -> None:
        """A lease of ``group`` was admitted (it is in flight)."""

    def lease_ended(self, group: str, state: str, held: float) -> None:
        """A lease ended (``completed``, ``refunded``, ``abandoned``) after ``held`` seconds."""

    def quota_paused(self, group: str, cause: str) -> None:
        """``group`` pauses: ``own_429`` (this process got a 429; a burst is one pause),
        ``other_429`` (another process's pause, seen in the shared store) or ``headers``
        (``x-ratelimit-remaining: 0``)."""

    def quota_remaining(self, remaining: Mapping[str, Mapping[float, int]]) -> None:
        """The latest ``{group: {window seconds: units left}}`` the governor read from its
        store (at most about once a second, while requests come), when
        :meth:`wants_remaining`."""

    def wants_remaining(self) -> bool:
        """Whether the governor should read its store for :meth:`quota_remaining` (one read a
        second at most): by default, when a subclass overrides :meth:`quota_remaining`."""
        return type(self).quota_remaining is not Observer.quota_remaining


class OpenTelemetryObserver(Observer):
    """Spans and metrics through OpenTelemetry's API (``pip install moeseg[otel]``).

    The default observer of every client and governor when ``opentelemetry-api`` is installed,
    on the global providers (no-ops until an SDK is configured); pass ``tracer_provider`` or
    ``meter_provider`` for others. See ``docs/observability.md`` for the spans and metrics.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        try:
            from opentelemetry import context, metrics, trace
        except ImportError as exc:
            from ._exceptions import ConfigurationError

            raise ConfigurationError(
                "OpenTelemetryObserver needs opentelemetry-api: pip install 'moeseg[otel]'"
            ) from exc
        from ._version import package_version

        self._context = context
        self._trace = trace
        version = package_version()
        self._tracer = trace.get_tracer("moeseg", version, tracer_provider=tracer_provider)
        meter = metrics.get_meter("moeseg", version, meter_provider=meter_provider)
        self._requests = meter.create_counter(
            "moeseg.quota.requests", "{request}", "Requests that left a quota group's queue"
        )
        self._queued = meter.create_up_down_counter(
            "moeseg.quota.queued", "{request}", "Requests waiting for a quota group"
        )
        self._wait = meter.create_histogram(
            "moeseg.quota.wait.duration", "s", "Time a request waited for a quota group"
        )
        self._leases = meter.create_up_down_counter(
            "moeseg.quota.leases.active", "{lease}", "Admitted requests in flight"
        )
        self._held = meter.create_histogram(
            "moeseg.quota.lease.duration", "s", "Time a lease was held, admission to end"
        )
        self._pauses = meter.create_counter(
            "moeseg.quota.pauses", "{pause}", "Pauses of a quota group (a 429 burst is one)"
        )
        self._retries = meter.create_counter(
            "moeseg.retries", "{retry}", "Attempts retried after a failure"
        )
        # Read by the reader's thread: replaced whole, never changed in place.
        self._remaining: dict[tuple[str, float], int] = {}
        self._collected = False  # no reader has asked yet: the governor reads no snapshot
        meter.create_observable_gauge(
            "moeseg.quota.remaining",
            [self._observe_remaining],
            "{request}",
            "Units left in a quota window, as the governor last read its store",
        )

    # -- spans --------------------------------------------------------------------------------

    def operation_started(self, operation: str) -> object:
        span = self._tracer.start_span(
            f"moeseg.{operation}", attributes={"moeseg.operation": operation}
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        return span, token

    def operation_event(self, token: object, name: str, attributes: Attributes) -> None:
        span, _ = cast("tuple[Span, object]", token)
        span.add_event(name, attributes)

    def operation_ended(
        self, token: object, attributes: Attributes, error: BaseException | None
    ) -> None:
        span, context_token = cast("tuple[Span, Token[Context]]", token)
        try:
            span.set_attributes(attributes)
            if error is not None:
                span.set_attribute("error.type", error_type(error))
                span.set_status(self._trace.StatusCode.ERROR, type(error).__name__)
        finally:
            self._context.detach(context_token)
            span.end()

    # -- metrics ------------------------------------------------------------------------------

    def retried(self, operation: str, error_type: str) -> None:
        self._retries.add(1, {"moeseg.operation": operation, "error.type": error_type})

    def quota_queued(self, group: str, delta: int) -> None:
        self._queued.add(delta, {"moeseg.quota.group": group})

    def quota_requested(self, group: str, result: str, waited: float) -> None:
        attributes = {"moeseg.quota.group": group, "moeseg.quota.result": result}
        self._requests.add(1, attributes)
        self._wait.record(waited, attributes)

    def lease_started(self, group: str) -> None:
        self._leases.add(1, {"moeseg.quota.group": group})

    def lease_ended(self, group: str, state: str, held: float) -> None:
        self._leases.add(-1, {"moeseg.quota.group": group})
        self._held.record(held, {"moeseg.quota.group": group, "moeseg.quota.lease.state": state})

    def quota_paused(self, group: str, cause: str) -> None:
        self._pauses.add(1, {"moeseg.quota.group": group, "moeseg.quota.pause.cause": cause})

    def wants_remaining(self) -> bool:
        return self._collected

    def quota_remaining(self, remaining: Mapping[str, Mapping[float, int]]) -> None:
        snapshot = dict(self._remaining)
        for group, windows in remaining.items():
            for seconds, left in windows.items():
                snapshot[group, seconds] = left
        self._remaining = snapshot

    def _observe_remaining(self, options: CallbackOptions) -> Iterable[Observation]:
        # Synchronous, maybe on the reader's thread: reads the cached snapshot only.
        from opentelemetry.metrics import Observation

        self._collected = True
        return [
            Observation(left, {"moeseg.quota.group": group, "moeseg.quota.window": seconds})
            for (group, seconds), left in self._remaining.items()
        ]


def error_type(error: BaseException) -> str:
    """OpenTelemetry's ``error.type``: the class's qualified name (bounded)."""
    cls = type(error)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


# -- the default observer ------------------------------------------------------------------------

_default_lock = threading.Lock()


@functools.cache
def _default() -> Observer | None:
    try:
        return OpenTelemetryObserver()
    except Exception:  # not installed (or broken): inert
        return None


def resolve(observer: Observer | None) -> Observer | None:
    """``observer``, else the process's default: an :class:`OpenTelemetryObserver` on the
    global providers when ``opentelemetry-api`` is installed, else ``None`` (nothing emitted)."""
    if observer is not None:
        return observer
    with _default_lock:  # one per process, even when two threads ask first at once
        return _default()


def call_hook(observer: Observer, name: str, *args: Any) -> Any:
    """``observer.name(*args)``; an exception is logged, never raised."""
    try:
        return getattr(observer, name)(*args)
    except Exception:
        logger.exception("observer %s.%s failed", type(observer).__name__, name)
        return None


# -- one observed client operation ---------------------------------------------------------------


@attrs.define
class _Call:
    """What one client operation did, filled in by its attempts."""

    observer: Observer
    operation: str
    attempts: int = 0
    waited: float = 0.0
    groups: tuple[str, ...] = ()
    response_id: str | None = None
    request_id: str | None = None
    token: object = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.token = call_hook(self.observer, "operation_started", self.operation)

    def end(self, result: object, error: BaseException | None) -> None:
        attributes: dict[str, Any] = {
            "moeseg.attempts": self.attempts,
            "moeseg.quota.wait.duration": self.waited,
            "moeseg.recovered": bool(getattr(result, "recovered", False)),
        }
        if self.groups:
            attributes["moeseg.quota.group"] = self.groups
        if error is not None:
            self.response_id = self.response_id or getattr(error, "response_id", None)
        for key, value in (("response_id", self.response_id), ("request_id", self.request_id)):
            if isinstance(value, str) and value:
                attributes[f"moeseg.{key}"] = value
        call_hook(self.observer, "operation_ended", self.token, attributes, error)


_current: ContextVar[_Call | None] = ContextVar("moeseg_operation", default=None)


class _Observed(Protocol):
    @property
    def _observer(self) -> Observer | None: ...


S = TypeVar("S", bound=_Observed)


def observed(
    operation: str,
) -> Callable[
    [Callable[Concatenate[S, P], Awaitable[R]]], Callable[Concatenate[S, P], Coroutine[Any, Any, R]]
]:
    """Decorate a public client method: one observed operation (a span) per call."""

    def wrap(
        fn: Callable[Concatenate[S, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
        @functools.wraps(fn)
        async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            observer = self._observer
            if observer is None:
                return await fn(self, *args, **kwargs)
            call = _Call(observer, operation)
            reset = _current.set(call)
            try:
                result = await fn(self, *args, **kwargs)
            except BaseException as exc:
                _current.reset(reset)
                call.end(None, exc)
                raise
            _current.reset(reset)
            call.end(result, None)
            return result

        return run

    return wrap


# -- what an attempt adds to its operation (client._send) -----------------------------------------

_WAIT_EVENT = 0.001
"""A quota wait shorter than this (an admission at once) is no span event."""


def note_attempt(groups: Iterable[str]) -> None:
    """An attempt of the current operation starts (it spends ``groups``)."""
    call = _current.get()
    if call is not None:
        call.attempts += 1
        call.groups = call.groups or tuple(groups)


def note_wait(groups: Iterable[str], waited: float) -> None:
    """The current attempt waited ``waited`` seconds for quota (an event on the span)."""
    call = _current.get()
    if call is not None:
        call.waited += waited
        if waited < _WAIT_EVENT:
            return
        attributes = {
            "moeseg.quota.group": tuple(groups),
            "moeseg.quota.wait.duration": waited,
            "moeseg.attempt": call.attempts,
        }
        call_hook(call.observer, "operation_event", call.token, "moeseg.quota.wait", attributes)


def note_retry(operation: str, error: BaseException) -> None:
    """The current operation retries after ``error``."""
    call = _current.get()
    if call is not None:
        call_hook(call.observer, "retried", call.operation or operation, error_type(error))


def note_answer(content: bytes) -> None:
    """The current operation's successful answer: MoEngage's ``response_id`` / ``request_id``."""
    call = _current.get()
    if call is None or not content:
        return
    # A scan, not a second parse of a body that may be megabytes long; the envelope's own id
    # comes after ``data``, so the last match is the envelope's.
    for key, value in _IDS.findall(content):
        if key == b"response_id":
            call.response_id = value.decode()
        else:
            call.request_id = value.decode()


_IDS = re.compile(rb'"(response_id|request_id)"\s*:\s*"([A-Za-z0-9_.:-]{1,128})"')
