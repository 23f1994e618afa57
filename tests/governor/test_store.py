"""The in-memory store against the reference rule (``decide``) of the Store protocol."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moeseg.governor import (
    Admission,
    Denied,
    EntryState,
    GroupState,
    MemoryStore,
    Plan,
    QuotaGroup,
    Store,
    Window,
    decide,
    fit_time,
)
from moeseg.governor._plan import remaining

A = QuotaGroup("a", (Window(2, 4), Window(3, 10)))
B = QuotaGroup("b", (Window(5, 6),), weighted=True)
GROUPS = (A, B)


@dataclass
class Reference:
    """The protocol's rule spelled out over plain entries."""

    entries: dict[str, list[EntryState]] = field(default_factory=lambda: {"a": [], "b": []})
    paused: dict[str, float] = field(default_factory=lambda: {"a": -math.inf, "b": -math.inf})
    now: float = -math.inf

    def states(self) -> dict[str, GroupState]:
        return {g: GroupState(g, tuple(e), self.paused[g]) for g, e in self.entries.items()}

    def admit(self, request: Admission) -> Denied | None:
        self.now = max(self.now, request.now)
        request = attrs.evolve(request, now=self.now)
        denied = decide(self.states(), request)
        if denied is None:
            for group, weight in request.demand:
                self.entries[group.name].append(
                    EntryState(request.lease_id, weight, self.now, request.expires_at)
                )
        return denied

    def end(self, lease_id: str, at: float) -> None:
        self.now = max(self.now, at)
        for name, entries in self.entries.items():
            self.entries[name] = [
                attrs.evolve(e, ended_at=min(self.now, e.expires_at))
                if e.lease_id == lease_id and e.end(self.now) is None
                else e
                for e in entries
            ]

    def refund(self, lease_id: str) -> None:
        for name, entries in self.entries.items():
            self.entries[name] = [
                e for e in entries if e.lease_id != lease_id or e.end(self.now) is not None
            ]


DEMANDS = st.sampled_from(
    [((A, 1),), ((B, 1),), ((B, 3),), ((B, 5),), ((A, 1), (B, 2)), ((A, 1), (B, 4))]
)
STEP = st.integers(0, 6).map(lambda n: n / 2)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), STEP, DEMANDS, st.integers(1, 16).map(lambda n: n / 2)),
        st.tuples(st.just("reserve"), STEP, DEMANDS, st.integers(0, 3)),
        st.tuples(st.just("end"), STEP, st.integers(0, 30)),
        st.tuples(st.just("refund"), STEP, st.integers(0, 30)),
        st.tuples(st.just("pause"), STEP, st.sampled_from("ab"), st.integers(0, 8)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_memory_store_decides_exactly_like_the_reference(ops: list[tuple[object, ...]]) -> None:
    store, ref = MemoryStore(), Reference()
    now, ids = 0.0, 0
    for op in ops:
        now += op[1]  # type: ignore[operator]
        kind = op[0]
        if kind in ("admit", "reserve"):
            demand = op[2]
            timeout = op[3] if kind == "admit" else 4.0
            reserve = {g.name: op[3] for g, _ in demand} if kind == "reserve" else {}  # type: ignore[attr-defined]
            req = Admission(str(ids), demand, now, now + timeout, reserve)  # type: ignore[arg-type,operator]
            ids += 1
            assert store.admit_now(req) == ref.admit(req)
        elif kind == "end":
            store.end_now(str(op[2]), ["a", "b"], now)
            ref.end(str(op[2]), now)
        elif kind == "refund":
            store.refund_now(str(op[2]), ["a", "b"])
            ref.refund(str(op[2]))
        else:
            store.pause_now(op[2], now + op[3])  # type: ignore[arg-type,operator]
            ref.paused[op[2]] = max(ref.paused[op[2]], now + op[3])  # type: ignore[index,operator]
        snap = store.snapshot_now(GROUPS, now)
        assert remaining(GROUPS, snap, now) == remaining(GROUPS, ref.states(), now)
        batch = [((A, 1), (B, 2)), ((B, 5),), ((A, 1),)] * 2
        assert Plan(GROUPS, snap, now).admit_all(batch) == Plan(
            GROUPS, ref.states(), now
        ).admit_all(batch)


def test_memory_store_is_a_store() -> None:
    assert isinstance(MemoryStore(), Store)


def test_entries_are_one_per_request_whatever_the_weight() -> None:
    store = MemoryStore()
    assert store.admit_now(Admission("x", ((B, 5),), 0.0, 10.0)) is None
    store.end_now("x", ["b"], 1.0)
    (entry,) = store.snapshot_now([B], 1.0)["b"].entries
    assert (entry.weight, entry.admitted_at, entry.ended_at) == (5, 0.0, 1.0)


def test_denial_says_when_and_why() -> None:
    store = MemoryStore()
    for i in range(2):
        assert store.admit_now(Admission(str(i), ((A, 1),), 0.0, 30.0)) is None
    store.end_now("0", ["a"], 1.0)
    denied = store.admit_now(Admission("n", ((A, 1), (B, 1)), 1.0, 31.0))
    assert denied == Denied(
        frees_at=5.0,  # ended at 1 + 4 s window
        earliest=5.0,
        group="a",
        fits={"a": 5.0, "b": 1.0},
    )
    store.end_now("1", ["a"], 2.0)
    denied = store.admit_now(Admission("n", ((A, 1),), 2.0, 31.0, {"a": 1}))
    assert denied is not None
    # 2 units needed (1 + 1 reserved): the 4 s window frees both at 6, the 10 s window (3 max)
    # needs one of them gone: the first ended at 1, so at 11.
    assert (denied.frees_at, denied.earliest) == (11.0, 11.0)


def test_lease_in_flight_blocks_until_its_bound_pessimistically() -> None:
    store = MemoryStore()
    store.admit_now(Admission("0", ((A, 1),), 0.0, 20.0))
    store.admit_now(Admission("1", ((A, 1),), 0.0, 30.0))
    denied = store.admit_now(Admission("n", ((A, 1),), 3.0, 40.0))
    assert denied is not None
    assert denied.frees_at == 24.0  # lease 0 expires at 20, + 4 s window
    assert denied.earliest == 7.0  # if both ended now
    assert store.admit_now(Admission("n", ((A, 1),), 24.0, 40.0)) is None


def test_fit_time_reference() -> None:
    state = GroupState(
        "a", (EntryState("0", 1, 0.0, 9.0, ended_at=1.0), EntryState("1", 1, 0.0, 9.0))
    )
    assert fit_time(state, 2, 4.0, 1, 2.0, optimistic=False) == 5.0
    assert fit_time(state, 2, 4.0, 2, 2.0, optimistic=False) == 13.0
    assert fit_time(state, 2, 4.0, 2, 2.0, optimistic=True) == 6.0
    assert fit_time(state, 2, 4.0, 3, 2.0, optimistic=True) == math.inf


@pytest.mark.anyio
async def test_async_protocol_methods_delegate() -> None:
    store = MemoryStore()
    assert await store.admit(Admission("0", ((A, 1),), 0.0, 9.0)) is None
    await store.pause("b", 50.0)
    await store.end("0", ["a"], 2.0)
    await store.refund("0", ["a"])  # ended: left alone
    snap = await store.snapshot(GROUPS, 2.0)
    assert snap["a"].entries[0].ended_at == 2.0
    assert snap["b"].paused_until == 50.0
    assert "a: 0 in flight, 1 ended" in repr(store)
