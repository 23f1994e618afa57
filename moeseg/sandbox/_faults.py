"""Fault injection: server errors, latency, dropped connections, another tenant's traffic.

Every rule applies to a set of routes (empty = every route) with a probability, drawn from the
sandbox's seeded RNG, and fires at most ``times`` times (``None``: no bound). Route names:
``create``, ``list``, ``get``, ``update``, ``file_create``, ``file_add``, ``file_remove``,
``file_replace``, ``archive``, ``unarchive``, ``legacy_csv``, ``cohort_sync``.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Literal

import attrs

__all__ = [
    "DropConnection",
    "FaultConfig",
    "FaultDice",
    "FaultRule",
    "Latency",
    "LatencyFault",
    "OtherTenant",
    "ServerErrorFault",
]


def _probability(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must lie in [0, 1], got {value!r}")


def _routes(value: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen(slots=True)
class Latency:
    """A delay distribution in seconds: ``fixed``, ``uniform`` on [a, b] or ``exponential``
    with mean ``a`` (capped at ``b`` when ``b`` > 0)."""

    kind: Literal["fixed", "uniform", "exponential"]
    a: float
    b: float = 0.0

    @classmethod
    def fixed(cls, seconds: float) -> Latency:
        """Always ``seconds``."""
        return cls("fixed", seconds)

    @classmethod
    def uniform(cls, low: float, high: float) -> Latency:
        """Uniform on [low, high]."""
        return cls("uniform", low, high)

    @classmethod
    def exponential(cls, mean: float, cap: float = 0.0) -> Latency:
        """Exponential with ``mean``, cut at ``cap`` when ``cap`` > 0."""
        return cls("exponential", mean, cap)

    def sample(self, rng: random.Random) -> float:
        """One delay drawn from ``rng``."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        delay = rng.expovariate(1.0 / self.a) if self.a > 0 else 0.0
        return min(delay, self.b) if self.b > 0 else delay


@attrs.frozen(slots=True, kw_only=True)
class ServerErrorFault:
    """Answer ``status`` (500/502/503/504) instead of the real answer.

    ``when="before"``: nothing is processed. ``when="after"``: the request IS processed (a
    create creates the segment) and the client still gets the error: the outcome is unknown
    to it. ``html=True`` answers a gateway-style HTML page instead of the documented JSON.
    """

    status: int = 500
    probability: float = attrs.field(default=1.0, validator=_probability)
    routes: frozenset[str] = attrs.field(default=frozenset(), converter=_routes)
    times: int | None = None
    when: Literal["before", "after"] = "before"
    html: bool = False

    def __attrs_post_init__(self) -> None:
        if self.status not in (500, 502, 503, 504):
            raise ValueError(f"ServerErrorFault status must be 500/502/503/504, not {self.status}")


@attrs.frozen(slots=True, kw_only=True)
class LatencyFault:
    """Delay a request. ``phase="request"``: in transit, before the sandbox sees it (before
    its arrival time is taken); ``phase="response"``: after processing, before answering."""

    latency: Latency
    probability: float = attrs.field(default=1.0, validator=_probability)
    routes: frozenset[str] = attrs.field(default=frozenset(), converter=_routes)
    times: int | None = None
    phase: Literal["request", "response"] = "request"


@attrs.frozen(slots=True, kw_only=True)
class DropConnection:
    """Process the request fully, then drop the connection without an answer.

    In process (ASGI) the app raises ``httpx.RemoteProtocolError`` after processing, so the
    client sees a transport error; served by moeseg (``sandbox.serve()``, ``moeseg sandbox
    serve``) the socket is closed without a response. (Under another ASGI server the raised
    error becomes that server's 500.)
    """

    probability: float = attrs.field(default=1.0, validator=_probability)
    routes: frozenset[str] = attrs.field(default=frozenset(), converter=_routes)
    times: int | None = None


@attrs.frozen(slots=True, kw_only=True)
class OtherTenant:
    """Another service on the same workspace: when a request arrives on one of ``routes``,
    it first spends up to ``amount`` free units of ``group`` (never more than fit), so the
    client may get 429s it did not cause (counted with cause ``rate_limit_other_tenant``)."""

    group: str = "segments"
    amount: int = 1
    probability: float = attrs.field(default=1.0, validator=_probability)
    routes: frozenset[str] = attrs.field(default=frozenset(), converter=_routes)
    times: int | None = None


FaultRule = ServerErrorFault | LatencyFault | DropConnection | OtherTenant


@attrs.frozen(slots=True)
class FaultConfig:
    """The fault rules (applied in order, each drawn independently) and the RNG seed."""

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0

    @classmethod
    def rates(cls, error_rate: float = 0.0, drop_rate: float = 0.0, seed: int = 0) -> FaultConfig:
        """A 503 on ``error_rate`` of the requests and a dropped connection (after processing)
        on ``drop_rate`` of them: the command line's ``--error-rate/--drop-rate/--seed``."""
        rules: list[FaultRule] = []
        if error_rate:
            rules.append(ServerErrorFault(status=503, probability=error_rate))
        if drop_rate:
            rules.append(DropConnection(probability=drop_rate))
        return cls(tuple(rules), seed=seed)

    @staticmethod
    def applies(rule: FaultRule, route: str) -> bool:
        """Whether ``rule`` covers ``route``."""
        return not rule.routes or route in rule.routes


class FaultDice:
    """The rules in force with their seeded RNG and how often each rule has fired."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self._fired: Counter[int] = Counter()

    def draw(self, kind: type[Any], route: str, phase: str | None = None) -> list[Any]:
        """The rules of ``kind`` (and ``phase``: a server error's ``when``, a latency's
        ``phase``) covering ``route`` that fire this time (one draw each)."""
        fired = []
        for i, r in enumerate(self.config.rules):
            if not isinstance(r, kind) or not FaultConfig.applies(r, route):
                continue
            if phase is not None and getattr(r, "when", getattr(r, "phase", None)) != phase:
                continue
            if r.times is not None and self._fired[i] >= r.times:
                continue
            p = r.probability
            if p >= 1.0 or (p > 0.0 and self.rng.random() < p):
                self._fired[i] += 1
                fired.append(r)
        return fired

    def sleep_for(self, route: str, phase: str) -> float:
        """Seconds of latency to add on ``route`` in ``phase`` (the firing rules' sum)."""
        rules: list[LatencyFault] = self.draw(LatencyFault, route, phase)
        return sum(rule.latency.sample(self.rng) for rule in rules)
