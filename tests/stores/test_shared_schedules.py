"""The governor's own property tests, run on the SQLite store: the store against the
protocol's reference (tests/governor/test_store.py) and random schedules through a Governor
checked by the independent window checker (tests/governor/test_schedules.py).

Redis is left out here: it reads the server's clock, so it cannot follow a virtual schedule;
test_store_semantics.py checks it against the same reference in real time.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moeseg.governor import Admission, AnyioClock, Governor, Plan, SQLiteStore
from moeseg.governor._plan import remaining
from tests.governor.test_schedules import (
    POLICY,
    REQUESTS,
    Request,
    overloaded_windows,
)
from tests.governor.test_schedules import run as run_schedule
from tests.governor.test_store import GROUPS, OPS, A, B, Reference
from tests.stores._cases import ManualClock

_FILES = itertools.count()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_sqlite_store_decides_exactly_like_the_reference(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[object, ...]]
) -> None:
    path = tmp_path_factory.getbasetemp() / f"ref-{next(_FILES)}.sqlite3"
    anyio.run(_against_reference, path, ops)


async def _against_reference(path: Path, ops: list[tuple[object, ...]]) -> None:
    clock = ManualClock(0.0)
    ref = Reference()
    now, ids = 0.0, 0
    async with SQLiteStore(path, workspace=uuid.uuid4().hex, clock=clock) as store:
        for op in ops:
            now += op[1]  # type: ignore[operator]
            clock.t = now
            kind = op[0]
            if kind in ("admit", "reserve"):
                demand = op[2]
                timeout = op[3] if kind == "admit" else 4.0
                reserve = {g.name: op[3] for g, _ in demand} if kind == "reserve" else {}  # type: ignore[attr-defined]
                req = Admission(str(ids), demand, now, now + timeout, reserve)  # type: ignore[arg-type,operator]
                ids += 1
                assert await store.admit(req) == ref.admit(req)
            elif kind == "end":
                await store.end(str(op[2]), ["a", "b"], now)
                ref.end(str(op[2]), now)
            elif kind == "refund":
                await store.refund(str(op[2]), ["a", "b"])
                ref.refund(str(op[2]))
            else:
                await store.pause(op[2], now + op[3])  # type: ignore[arg-type,operator]
                ref.paused[op[2]] = max(ref.paused[op[2]], now + op[3])  # type: ignore[index,operator]
            snap = await store.snapshot(GROUPS, now)
            assert remaining(GROUPS, snap, now) == remaining(GROUPS, ref.states(), now)
            batch = [((A, 1), (B, 2)), ((B, 5),), ((A, 1),)] * 2
            assert Plan(GROUPS, snap, now).admit_all(batch) == Plan(
                GROUPS, ref.states(), now
            ).admit_all(batch)


@pytest.mark.anyio
@pytest.mark.virtual_time
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests=st.lists(REQUESTS, min_size=1, max_size=14))
async def test_random_schedules_on_sqlite_never_overload_a_window(
    tmp_path: Path, requests: list[Request]
) -> None:
    clock = AnyioClock()
    path = tmp_path / "schedules.sqlite3"
    async with SQLiteStore(path, workspace=uuid.uuid4().hex, clock=clock) as store:
        await store.snapshot([], clock.now())  # open the file before any timer is pending
        gov = Governor(POLICY, store=store, clock=clock)
        records = await run_schedule(requests, gov)
        assert overloaded_windows(records, POLICY) == []
        admitted = [r for r in records if r.admitted is not None]
        for x, y in itertools.combinations(admitted, 2):
            if x.demand == y.demand and x.seq < y.seq:
                assert x.admitted <= y.admitted, (x, y)  # type: ignore[operator]
        assert gov.waiting == 0
        await anyio.sleep(20 + 12 + 1)  # past every lease bound and every window
        full = {g.name: {w.seconds: w.limit for w in g.windows} for g in POLICY.groups}
        assert await gov.remaining() == full
