"""Differential tests: random schedules against the reference model, 0 disagreements allowed.

Store level (memory, SQLite, Redis): admissions, ends, refunds, pauses, reported spending,
time passing and wall-clock steps (SQLite), each decision compared with the model's at the time
the store says it acted. Governor level (in-memory, virtual time): arrivals, weights,
cancellations, maximum waits, 429s, header reports and lease outcomes; no window may hold more
than its limit whatever moment each request reaches the server, every schedule ends, and the
store is asked a bounded number of times (no busy loop).

A CI-sized slice runs in the normal suite. The full run (>= 10,000 schedules)::

    MOESEG_FULL_DIFFERENTIAL=1 pytest tests/governor/test_differential.py -p no:randomly -q
"""

from __future__ import annotations

import math
import os
import random
import time
import uuid
from pathlib import Path

import anyio
import pytest

from moeseg import QuotaWaitTooLong
from moeseg.governor import (
    AnyioClock,
    Demand,
    Denied,
    Governor,
    Granted,
    MemoryStore,
    QuotaGroup,
    QuotaPolicy,
    Window,
)
from tests.governor._model import Model
from tests.governor._support import ManualClock, close, make_store, max_in_window

pytestmark = pytest.mark.anyio

FULL = os.environ.get("MOESEG_FULL_DIFFERENTIAL") == "1"
# schedules per store and backend: CI slice / full run (x2 backends)
COUNTS = {"memory": (60, 2500), "sqlite": (25, 1000), "redis": (15, 500)}
GOVERNOR_COUNT = (40, 1500)


def _groups(rng: random.Random, unit: float) -> list[QuotaGroup]:
    out = []
    for name in ("x", "y")[: rng.randint(1, 2)]:
        lengths = rng.sample([1, 2, 3, 5], rng.randint(1, 2))
        windows = tuple(Window(rng.randint(1, 5), s * unit) for s in sorted(lengths))
        out.append(QuotaGroup(name, windows, weighted=rng.random() < 0.3))
    return out


def _demand(rng: random.Random, groups: list[QuotaGroup]) -> Demand:
    chosen = rng.sample(groups, rng.randint(1, len(groups)))
    return tuple(
        (g, rng.randint(1, min(w.limit for w in g.windows)) if g.weighted else 1)
        for g in sorted(chosen, key=lambda g: g.name)
    )


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


async def _store_schedule(kind: str, seed: int, tmp_path: Path, redis_url: str | None) -> int:
    """One random schedule on a store; returns the number of decisions compared."""
    rng = random.Random(seed)
    real = kind == "redis"
    unit = 0.004 if real else 1.0
    clock = ManualClock()
    store = make_store(kind, tmp_path, redis_url, clock=None if real else clock)
    model = Model()
    groups = _groups(rng, unit)
    live: list[str] = []
    compared = 0
    try:
        for _ in range(rng.randint(5, 40)):
            op = rng.random()
            if op < 0.4:
                lease, demand = uuid.uuid4().hex, _demand(rng, groups)
                seconds = rng.choice([1, 2, 4]) * unit
                out = await store.admit(lease, demand, seconds)
                now = out.admitted_at if isinstance(out, Granted) else out.now
                expected = model.admit(lease, demand, seconds, now)
                assert isinstance(out, Granted) == expected, (seed, "admit", out)
                if isinstance(out, Denied):
                    pess = max(model.fit(g, w, now, optimistic=False) for g, w in demand)
                    best = max(model.fit(g, w, now, optimistic=True) for g, w in demand)
                    assert _close(out.wait, pess - now), (seed, out, pess - now)
                    assert _close(out.best, best - now), (seed, out, best - now)
                else:
                    live.append(lease)
                compared += 1
            elif op < 0.6 and live:
                lease = live.pop(rng.randrange(len(live)))
                model.end(lease, await store.end(lease, [g.name for g in groups]))
            elif op < 0.67 and live:
                lease = live.pop(rng.randrange(len(live)))
                model.refund(lease, await store.refund(lease, [g.name for g in groups]))
            elif op < 0.72:
                g, s = rng.choice(groups), rng.choice([1, 2]) * unit
                model.pause(g.name, s, await store.pause(g.name, s))
            elif op < 0.77:
                g = rng.choice(groups)
                units = rng.randint(1, 3)
                model.spend(g, units, await store.spend(g, units))
            elif op < 0.82 and kind == "sqlite":
                dt = rng.choice([-300.0, -2.0, -0.5, 0.5, 3.0, 61.0])
                clock.step(dt)  # the wall clock steps: the file is re-based on the next call
                model.shift(dt)
            elif real:
                await anyio.sleep(rng.choice([0, 1, 2, 5]) * unit / 4)
            else:
                clock.advance(rng.choice([0.125, 0.5, 1.0, 2.5]))
            if rng.random() < 0.15:
                views = await store.view(groups)
                for g in groups:
                    v = views[g.name]
                    for wv in v.windows:
                        assert wv.used == model.used(g, wv.window.seconds, v.now), (seed, g, wv)
                compared += 1
    finally:
        await close(store)
    return compared


@pytest.mark.parametrize(
    "kind", ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]
)
async def test_stores_decide_like_the_reference_model(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    n = COUNTS[kind][FULL]
    started = time.perf_counter()
    compared = 0
    for seed in range(n):
        compared += await _store_schedule(kind, seed, tmp_path, url)
    report(f"store/{kind}", n, compared, time.perf_counter() - started)


# -- the governor, in virtual time ------------------------------------------------------------


class CountingStore(MemoryStore):
    """Counts how often the governor asks (a busy loop would ask without end)."""

    def __init__(self) -> None:
        super().__init__(clock=AnyioClock())
        self.asked = 0

    async def admit(self, lease_id: str, demand: Demand, lease_seconds: float) -> Granted | Denied:
        self.asked += 1
        return await super().admit(lease_id, demand, lease_seconds)


async def _governor_schedule(seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    groups = _groups(rng, 1.0)
    policy = QuotaPolicy(groups, {})
    store = CountingStore()
    gov = Governor(policy, store=store)
    spans: dict[str, list[tuple[float, float, int]]] = {g.name: [] for g in groups}
    tasks = rng.randint(1, 12)
    events = 0

    async def request(demand: Demand) -> None:
        await anyio.sleep(rng.choice([0, 0, 0.5, 1, 3]))
        max_wait = rng.choice([None, None, 0, 2, 10])
        cancel = rng.choice([None, None, 1.5, 4])
        lease = None
        with anyio.CancelScope(deadline=anyio.current_time() + cancel if cancel else math.inf):
            try:
                lease = await gov.acquire(
                    {g.name: w for g, w in demand}, max_wait=max_wait, lease_timeout=4
                )
            except QuotaWaitTooLong:
                return
        if lease is None:  # cancelled while waiting
            return
        outcome = rng.choice(["complete", "complete", "refund", "abandon", "hang"])
        await anyio.sleep(rng.choice([0, 0.25, 1, 2]))
        start = lease.admitted_at
        if outcome == "complete":
            await lease.complete()
            end = min(anyio.current_time(), lease.expires_at)
        elif outcome == "refund":
            await lease.refund()
            return
        else:  # abandoned, or never ended: it may arrive until its bound
            if outcome == "abandon":
                await lease.abandon()
            end = lease.expires_at
        for g, w in demand:
            spans[g.name].append((start, end, w))

    async def feedback() -> None:
        nonlocal events
        for _ in range(rng.randint(0, 3)):
            await anyio.sleep(rng.choice([0.5, 1, 2]))
            g = rng.choice(groups)
            events += 1
            if rng.random() < 0.5:
                await gov.report_rate_limited(g.name, rng.choice([None, g.windows[0].seconds]))
            else:
                left = rng.choice(["0", "1", "inf", "nan", "-3", "junk"])
                reset = rng.choice(["1", "nan", "1e300"])
                await gov.observe_headers(
                    g.name, {"x-ratelimit-remaining": left, "x-ratelimit-reset": reset}
                )

    longest = max(g.longest for g in groups)
    with anyio.fail_after(1000 * longest):  # virtual time: every wait is bounded
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(request, _demand(rng, groups))
            tg.start_soon(feedback)
    assert gov.waiting == 0
    for g in groups:
        for w in g.windows:
            assert max_in_window(spans[g.name], w.seconds) <= w.limit, (seed, g, w)
    # each waiter asks once per wake: its own timer, a lease ending, a waiter leaving, a pause
    assert store.asked <= (tasks + events + 1) * (2 * tasks + 2), (seed, store.asked)
    return tasks, store.asked


@pytest.mark.virtual_time
async def test_governor_schedules_never_overload_a_window_and_always_end() -> None:
    n = GOVERNOR_COUNT[FULL]
    started = time.perf_counter()
    asked = 0
    for seed in range(n):
        asked += (await _governor_schedule(seed))[1]
    report("governor/memory", n, asked, time.perf_counter() - started)


def report(what: str, schedules: int, checks: int, seconds: float) -> None:
    line = f"{what}: {schedules} schedules, {checks} checks, 0 violations, {seconds:.1f} s\n"
    with open(Path(__file__).parent / ".differential.log", "a") as f:
        f.write(line)
