"""moeseg.governor._hooks: what a governor tells its observer (queues, results, leases, pauses
and their causes, the remaining-units snapshot), checked with a recording observer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import anyio
import pytest

import moeseg
from moeseg import QuotaWaitTooLong
from moeseg.governor import Governor, GroupView, MemoryStore, QuotaGroup, QuotaPolicy, Window

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

POLICY = QuotaPolicy(
    (QuotaGroup("a", (Window(2, 10), Window(5, 100))),),
    {"a": {"a": 1}},
)


class Recorder(moeseg.Observer):
    def __init__(self) -> None:
        self.events: Counter[tuple[object, ...]] = Counter()
        self.queued = 0
        self.remaining: dict[str, dict[float, int]] = {}

    def quota_queued(self, group: str, delta: int) -> None:
        self.queued += delta

    def quota_requested(self, group: str, result: str, waited: float) -> None:
        self.events["requested", group, result] += 1

    def lease_started(self, group: str) -> None:
        self.events["lease", group] += 1

    def lease_ended(self, group: str, state: str, held: float) -> None:
        self.events["ended", group, state, held] += 1

    def quota_paused(self, group: str, cause: str) -> None:
        self.events["paused", group, cause] += 1

    def quota_remaining(self, remaining: Mapping[str, Mapping[float, int]]) -> None:
        self.remaining = {g: dict(w) for g, w in remaining.items()}


class CountingStore(MemoryStore):
    views = 0

    async def view(self, groups: Sequence[QuotaGroup]) -> dict[str, GroupView]:
        self.views += 1
        return await super().view(groups)


def _governor(observer: moeseg.Observer, store: MemoryStore | None = None) -> Governor:
    return Governor(POLICY, store=store, observer=observer)


async def test_results_leases_and_queue() -> None:
    rec = Recorder()
    gov = _governor(rec)
    async with gov.lease("a"):
        await anyio.sleep(3)
    await (await gov.acquire("a")).refund()
    await (await gov.acquire("a")).complete()
    with pytest.raises(QuotaWaitTooLong):  # two in the 10 s window: the third waits
        await gov.acquire("a", max_wait=1)
    with anyio.move_on_after(1):
        await gov.acquire("a")
    assert rec.events == {
        ("requested", "a", "admitted"): 3,
        ("lease", "a"): 3,
        ("ended", "a", "completed", 3.0): 1,
        ("ended", "a", "completed", 0.0): 1,
        ("ended", "a", "refunded", 0.0): 1,
        ("requested", "a", "max_wait"): 1,
        ("requested", "a", "cancelled"): 1,
    }
    assert rec.queued == 0


async def test_a_burst_of_429s_is_one_pause_and_a_later_one_another() -> None:
    rec = Recorder()
    gov = _governor(rec)
    for _ in range(5):
        await gov.report_rate_limited("a", 10)
    await gov.report_rate_limited("a")
    assert rec.events == {("paused", "a", "own_429"): 1}
    await anyio.sleep(11)
    await (await gov.acquire("a")).complete()  # sent after the pause: a 429 on it is new
    await gov.report_rate_limited("a")
    assert rec.events["paused", "a", "own_429"] == 2


async def test_headers_pause_once_and_the_429_right_after_keeps_it() -> None:
    rec = Recorder()
    gov = _governor(rec)
    headers = {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "4"}
    await gov.observe_headers("a", headers)
    await gov.observe_headers("a", headers)
    await gov.report_rate_limited("a")
    assert rec.events == {("paused", "a", "headers"): 1}


async def test_another_processes_pause_is_seen_in_the_shared_store_once() -> None:
    store = MemoryStore()
    other, rec = Governor(POLICY, store=store), Recorder()
    gov = _governor(rec, store)
    await other.report_rate_limited("a", 10)  # another process's 429
    await (await gov.acquire("a", max_wait=20)).complete()  # waits out the pause
    await gov.remaining()
    assert rec.events["paused", "a", "other_429"] == 1
    await gov.report_rate_limited("a", 10)  # our own next
    await gov.remaining()
    assert rec.events["paused", "a", "other_429"] == 1
    assert rec.events["paused", "a", "own_429"] == 1


async def test_the_snapshot_is_what_remaining_says_and_is_read_at_most_once_a_second() -> None:
    rec, store = Recorder(), CountingStore()
    gov = _governor(rec, store)
    for _ in range(2):
        await (await gov.acquire("a")).complete()
    assert store.views == 1  # the first admission read it; the second, in the same second, did not
    assert rec.remaining == {"a": {10.0: 2, 100.0: 5}}  # read before the first admission
    assert await gov.remaining() == rec.remaining == {"a": {10.0: 0, 100.0: 3}}


async def test_an_observer_that_does_not_override_quota_remaining_costs_no_store_read() -> None:
    store = CountingStore()
    gov = Governor(POLICY, store=store, observer=moeseg.Observer())
    await (await gov.acquire("a")).complete()
    assert store.views == 0
