"""Random schedules of arrivals, weights, latencies, cancellations and lease outcomes.

Each example runs in virtual time, records what happened, and an independent checker verifies:

- no window of any group ever holds more than its limit, whatever moment between admission
  and lease end each request actually reached the server (refunded requests never did; a lease
  never ended may arrive until its bound);
- requests with the same demand are admitted in arrival order;
- nothing leaks: once every lease has ended or expired and the windows have passed, the full
  quota is available again and no one is left waiting.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moeseg.governor import Governor, QuotaGroup, QuotaPolicy, Window

from .test_governor import YieldingStore

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

POLICY = QuotaPolicy(
    (
        QuotaGroup("a", (Window(2, 5), Window(3, 12))),
        QuotaGroup("w", (Window(6, 8),), weighted=True),
    ),
    {"a": {"a": 1}, "w": {"w": "users"}, "aw": {"a": 1, "w": "users"}},
)
HALF = st.integers(0, 30).map(lambda n: n / 2)


@dataclass(frozen=True)
class Request:
    arrival: float
    operation: str
    users: int
    latency: float
    outcome: str  # complete | refund | never
    lease_timeout: float
    cancel_after: float | None


REQUESTS = st.builds(
    Request,
    arrival=HALF,
    operation=st.sampled_from(["a", "w", "aw"]),
    users=st.integers(1, 6),
    latency=st.integers(0, 16).map(lambda n: n / 2),
    outcome=st.sampled_from(["complete", "complete", "refund", "never"]),
    lease_timeout=st.sampled_from([3.0, 6.0, 20.0]),
    cancel_after=st.none() | HALF,
)


@dataclass
class Record:
    request: Request
    demand: dict[str, int]
    seq: int = -1
    admitted: float | None = None
    end: float | None = None
    refunded: bool = False


def overloaded_windows(records: list[Record], policy: QuotaPolicy) -> list[str]:
    """Every (group, window, interval start) whose worst-case arrivals exceed the limit.

    A request can arrive in [a, a + W) iff admitted < a + W and end >= a; the worst interval
    starts at some request's end (moving ``a`` up to the next end only adds requests).
    """
    sent = [r for r in records if r.admitted is not None and not r.refunded]
    bad = []
    for group in policy.groups:
        mine = [r for r in sent if group.name in r.demand]
        for w in group.windows:
            for a in {r.end for r in mine}:
                assert a is not None
                load = sum(
                    r.demand[group.name]
                    for r in mine
                    if r.admitted < a + w.seconds and r.end >= a  # type: ignore[operator]
                )
                if load > w.limit:
                    bad.append(f"{group.name} {w} from {a}: {load}")
    return bad


async def run(requests: list[Request], gov: Governor) -> list[Record]:
    t0 = anyio.current_time()
    seq = itertools.count()
    records = [Record(r, POLICY.demand(r.operation, users=r.users)) for r in requests]

    async def one(rec: Record) -> None:
        r = rec.request
        await anyio.sleep_until(t0 + r.arrival)
        rec.seq = next(seq)
        deadline = t0 + r.arrival + r.cancel_after if r.cancel_after is not None else float("inf")
        with anyio.CancelScope(deadline=deadline):
            lease = await gov.acquire(rec.demand, lease_timeout=r.lease_timeout)
            rec.admitted = lease.admitted_at - t0
            if r.outcome == "refund":  # e.g. connect error: nothing was sent
                rec.refunded = True
                await lease.refund()
            elif r.outcome == "never":  # a hung or crashed holder
                rec.end = lease.expires_at - t0
            else:
                try:
                    await anyio.sleep(r.latency)
                finally:
                    rec.end = min(anyio.current_time(), lease.expires_at) - t0
                    await lease.complete()

    async with anyio.create_task_group() as tg:
        for rec in records:
            tg.start_soon(one, rec)
    return records


@pytest.fixture(params=["memory", "yielding"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests=st.lists(REQUESTS, min_size=1, max_size=14))
async def test_random_schedules_never_overload_a_window(
    store: str, requests: list[Request]
) -> None:
    gov = Governor(POLICY, store=YieldingStore() if store == "yielding" else None)
    records = await run(requests, gov)

    assert overloaded_windows(records, POLICY) == []

    # Same demand, served in arrival order.
    admitted = [r for r in records if r.admitted is not None]
    for x, y in itertools.combinations(admitted, 2):
        if x.demand == y.demand and x.seq < y.seq:
            assert x.admitted <= y.admitted, (x, y)  # type: ignore[operator]

    # Nothing leaked.
    assert gov.waiting == 0
    never = sum(r.request.outcome == "never" and r.admitted is not None for r in records)
    assert gov.in_flight == never
    await anyio.sleep(20 + 12 + 1)  # past every lease bound and every window
    full = {g.name: {w.seconds: w.limit for w in g.windows} for g in POLICY.groups}
    assert await gov.remaining() == full


def test_the_checker_catches_an_overload() -> None:
    """The checker is not vacuous: a request admitted while another is in flight in the same
    slot, or too soon after one ended, is flagged."""
    req = Request(0, "a", 1, 0, "complete", 3, None)
    recs = [Record(req, {"a": 1}, i, admitted=0.0, end=1.0) for i in range(2)]
    assert overloaded_windows(recs, POLICY) == []
    recs.append(Record(req, {"a": 1}, 2, admitted=5.9, end=6.0))  # 1 + 5 > 5.9: may overlap
    assert overloaded_windows(recs, POLICY) == ["a 2/5s from 1.0: 3"]
    recs[-1] = Record(req, {"a": 1}, 2, admitted=6.0, end=6.0)
    assert overloaded_windows(recs, POLICY) == []
    recs.append(Record(req, {"a": 1}, 3, admitted=6.0, end=6.0, refunded=True))
    assert overloaded_windows(recs, POLICY) == []
