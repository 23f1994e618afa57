"""The Redis store buffers lease ends: each rides with the store's next call (so an admission
and its end cost one round trip), or is sent after ``end_delay`` at the latest. Delaying the
record of an end only keeps a slot occupied longer (conservative): these tests check that ends
are applied at the time given, reach other processes within the bound, survive a failed call,
are never lost on close, and that no window is ever exceeded."""

from __future__ import annotations

import time
import uuid

import anyio
import pytest

from moeseg import ConfigurationError
from moeseg.governor import Admission, Governor, QuotaGroup, RedisStore, WallClock, Window
from tests.stores._cases import sliding_max
from tests.stores._worker import POLICY

pytestmark = pytest.mark.anyio

GROUP = QuotaGroup("segments", (Window(3, 60.0),))


def admission(now: float, bound: float = 30.0) -> Admission:
    return Admission(uuid.uuid4().hex, ((GROUP, 1),), now, now + bound)


async def ended_at(store: RedisStore, lease_id: str) -> float | None:
    entries = (await store.snapshot([GROUP], time.time()))["segments"].entries
    return next(e.ended_at for e in entries if e.lease_id == lease_id)


async def test_an_end_reaches_other_processes_within_end_delay(redis_url: str) -> None:
    ws = uuid.uuid4().hex
    ours = RedisStore(redis_url, workspace=ws, end_delay=0.05)
    theirs = RedisStore(redis_url, workspace=ws)
    try:
        req = admission(time.time())
        assert await ours.admit(req) is None
        at = time.time()
        await ours.end(req.lease_id, ["segments"], at)
        seen = None
        with anyio.move_on_after(5):  # generous: a loaded machine; the timer is 0.05 s
            while (seen := await ended_at(theirs, req.lease_id)) is None:
                await anyio.sleep(0.01)
        assert seen is not None, "the buffered end never reached another store"
        assert abs(seen - at) < 0.05  # recorded at the time given, not when it was sent
    finally:
        await ours.aclose()
        await theirs.aclose()


async def test_buffered_ends_are_sent_on_close(redis_url: str) -> None:
    ws = uuid.uuid4().hex
    ours = RedisStore(redis_url, workspace=ws, end_delay=3600.0)
    theirs = RedisStore(redis_url, workspace=ws)
    try:
        reqs = [admission(time.time()) for _ in range(3)]
        for req in reqs:
            assert await ours.admit(req) is None
        for req in reqs:
            await ours.end(req.lease_id, ["segments"], time.time())
        assert [await ended_at(theirs, r.lease_id) for r in reqs] == [None, None, None]
        await ours.aclose()
        assert all([await ended_at(theirs, r.lease_id) is not None for r in reqs])
    finally:
        await theirs.aclose()


async def test_the_next_call_applies_buffered_ends_first(redis_url: str) -> None:
    """Full window, one lease ends: the very next admission (same store) already counts the
    end -- the window of 0.2 s has passed, so it is admitted -- and a snapshot is exact."""
    group = QuotaGroup("segments", (Window(2, 0.2),))
    store = RedisStore(redis_url, workspace=uuid.uuid4().hex, end_delay=3600.0)
    try:
        now = time.time()
        first = Admission("a", ((group, 1),), now, now + 30)
        assert await store.admit(first) is None
        assert await store.admit(Admission("b", ((group, 1),), now, now + 30)) is None
        await store.end("a", ["segments"], now)
        await store.end("a", ["segments"], now + 10)  # a second end changes nothing
        await anyio.sleep(0.25)
        later = time.time()
        assert await store.admit(Admission("c", ((group, 1),), later, later + 30)) is None
        state = (await store.snapshot([group], time.time()))["segments"]
        ends = {e.lease_id: e.ended_at for e in state.entries}
        assert ends["b"] is None
        assert ends["c"] is None
        assert ends.get("a") is None or abs(ends["a"] - now) < 0.05  # may already be dropped
    finally:
        await store.aclose()


@pytest.mark.parametrize("then", ["refund", "cancelled admission"])
async def test_a_buffered_end_survives(redis_url: str, then: str) -> None:
    """A refund after the end leaves the lease ended (it ended: too late to refund). An
    admission cancelled on its way may or may not have run: the ends it carried are kept
    (sending one twice is harmless) and the next call delivers them."""
    store = RedisStore(redis_url, workspace=uuid.uuid4().hex, end_delay=3600.0)
    try:
        req = admission(time.time())
        assert await store.admit(req) is None
        at = time.time()
        await store.end(req.lease_id, ["segments"], at)
        if then == "refund":
            await store.refund(req.lease_id, ["segments"])
        else:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await store.admit(admission(time.time()))
        seen = await ended_at(store, req.lease_id)
        assert seen is not None
        assert abs(seen - at) < 0.05
    finally:
        await store.aclose()


async def test_no_window_is_exceeded_with_buffered_ends(redis_url: str) -> None:
    """Two governors (two processes' worth) on one workspace, ends buffered (one at the
    default delay, one never sent but by the next admission or the close): counted at
    admission and at end (the extremes of when a request can reach the server), no window
    ever holds more than its limit, and the quota is used."""
    ws = uuid.uuid4().hex
    stores = [
        RedisStore(redis_url, workspace=ws),
        RedisStore(redis_url, workspace=ws, end_delay=3600.0),
    ]
    admitted: list[float] = []
    ended: list[float] = []
    try:
        govs = [Governor(POLICY, store=s, clock=WallClock()) for s in stores]

        async def one(gov: Governor) -> None:
            async with gov.lease("create", lease_timeout=10.0):
                admitted.append(time.time())
                await anyio.sleep(0.01)
                ended.append(time.time())

        async with anyio.create_task_group() as tg:
            for i in range(16):
                tg.start_soon(one, govs[i % 2])
    finally:
        for s in stores:
            await s.aclose()
    assert len(ended) == 16
    for window in POLICY.groups[0].windows:
        assert sliding_max(admitted, window.seconds) <= window.limit, window
        assert sliding_max(ended, window.seconds) <= window.limit, window
    assert sliding_max(admitted, 1.2) == 12


def test_end_delay_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError, match="end_delay"):
        RedisStore(end_delay=-1)
