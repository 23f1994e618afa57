"""The Store protocol's guarantees, checked on the memory, SQLite and Redis stores alike."""

from __future__ import annotations

import math
import random
import uuid

import pytest

from moeseg.governor import Admission, Denied, QuotaGroup, Window, decide
from moeseg.governor._store import GroupState
from tests.stores._cases import StoreCase

pytestmark = pytest.mark.anyio

LEASE = 100.0  # lease bound, in units


def group(case: StoreCase, *windows: tuple[int, float], name: str = "g", weighted: bool = False):
    return QuotaGroup(name, tuple(Window(n, s * case.unit) for n, s in windows), weighted=weighted)


def lid() -> str:
    return uuid.uuid4().hex


async def admit(
    case: StoreCase,
    demand: tuple[tuple[QuotaGroup, int], ...],
    *,
    lease_id: str | None = None,
    bound: float = LEASE,
    reserve: dict[str, int] | None = None,
) -> tuple[str, Denied | None]:
    lease_id = lease_id or lid()
    now = case.now()
    request = Admission(lease_id, demand, now, now + bound * case.unit, reserve or {})
    return lease_id, await case.store.admit(request)


async def test_admits_up_to_limit_then_says_when(case: StoreCase) -> None:
    g = group(case, (3, 1))
    t0 = case.now()
    ids = []
    for _ in range(3):
        lease_id, denied = await admit(case, ((g, 1),))
        assert denied is None
        ids.append(lease_id)
    t3 = case.now()
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None
    assert denied.group == "g"
    # Pessimistic: leases in flight run to their bound; optimistic: they end now.
    assert case.close_to(denied.frees_at, t0 + (LEASE + 1) * case.unit)
    assert case.close_to(denied.earliest, t3 + case.unit)
    assert set(denied.fits) == {"g"}
    assert case.close_to(denied.fits["g"], denied.frees_at)
    for lease_id in ids:
        await case.store.end(lease_id, ["g"], case.now())
    t1 = case.now()
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None
    assert case.close_to(denied.frees_at, t1 + case.unit)
    assert case.close_to(denied.earliest, t1 + case.unit)


async def test_occupies_until_one_window_after_its_end(case: StoreCase) -> None:
    g = group(case, (1, 1))
    lease_id, denied = await admit(case, ((g, 1),))
    assert denied is None
    await case.sleep(0.5 * case.unit)  # in flight: occupying however long it takes
    end = case.now()
    await case.store.end(lease_id, ["g"], end)
    await case.sleep(0.6 * case.unit)
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None
    assert case.close_to(denied.frees_at, end + case.unit)
    await case.sleep(0.5 * case.unit)
    _, denied = await admit(case, ((g, 1),))
    assert denied is None


async def test_a_lease_never_ended_counts_as_ended_at_its_bound(case: StoreCase) -> None:
    g = group(case, (1, 1))
    t0 = case.now()
    lease_id, denied = await admit(case, ((g, 1),), bound=0.5)
    assert denied is None
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None
    assert case.close_to(denied.frees_at, t0 + 1.5 * case.unit)
    await case.sleep(1.2 * case.unit)  # bound passed, but still within a window of it
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None
    assert case.close_to(denied.frees_at, t0 + 1.5 * case.unit)
    assert case.close_to(denied.earliest, t0 + 1.5 * case.unit)
    # Ending it late changes nothing: it ended at its bound.
    await case.store.end(lease_id, ["g"], case.now())
    await case.sleep(0.45 * case.unit)
    _, denied = await admit(case, ((g, 1),))
    assert denied is None


async def test_end_is_idempotent_and_only_moves_earlier(case: StoreCase) -> None:
    g = group(case, (1, 1))
    lease_id, _ = await admit(case, ((g, 1),))
    first = case.now()
    await case.store.end(lease_id, ["g"], first)
    await case.sleep(0.3 * case.unit)
    await case.store.end(lease_id, ["g"], case.now())  # ignored: already ended
    await case.store.end("unknown", ["g"], case.now())  # ignored: unknown
    state = (await case.store.snapshot([g], case.now()))["g"]
    assert len(state.entries) == 1
    ended_at = state.entries[0].ended_at
    assert ended_at is not None
    assert case.close_to(ended_at, first)


async def test_refund_gives_the_slot_back_only_while_in_flight(case: StoreCase) -> None:
    g = group(case, (1, 1))
    lease_id, _ = await admit(case, ((g, 1),))
    await case.store.refund(lease_id, ["g"])
    await case.store.refund(lease_id, ["g"])  # idempotent
    await case.store.refund("unknown", ["g"])
    lease_id, denied = await admit(case, ((g, 1),))
    assert denied is None
    await case.store.end(lease_id, ["g"], case.now())
    await case.store.refund(lease_id, ["g"])  # ended: it was sent, it stays
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None


async def test_admission_is_all_or_nothing_across_groups(case: StoreCase) -> None:
    a = group(case, (1, 1), name="a")
    b = group(case, (1, 1), name="b")
    _, denied = await admit(case, ((b, 1),))
    assert denied is None
    _, denied = await admit(case, ((a, 1), (b, 1)))
    assert denied is not None
    assert denied.group == "b"
    assert case.close_to(denied.fits["a"], case.now())
    assert denied.fits["a"] <= case.now()
    assert (await case.store.snapshot([a], case.now()))["a"].entries == ()
    _, denied = await admit(case, ((a, 1),))
    assert denied is None


async def test_reserve_keeps_room_for_earlier_waiters(case: StoreCase) -> None:
    g = group(case, (3, 1))
    await admit(case, ((g, 1),))
    _, denied = await admit(case, ((g, 1),), reserve={"g": 2})
    assert denied is not None
    _, denied = await admit(case, ((g, 1),), reserve={"g": 1})
    assert denied is None
    state = (await case.store.snapshot([g], case.now()))["g"]
    assert [e.weight for e in state.entries] == [1, 1]


async def test_pause_admits_nothing_until_and_never_shortens(case: StoreCase) -> None:
    g = group(case, (5, 1))
    t0 = case.now()
    await case.store.pause("g", t0 + 0.5 * case.unit)
    await case.store.pause("g", t0 + 0.2 * case.unit)  # shorter: ignored
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None
    assert denied.group == "g"
    assert case.close_to(denied.frees_at, t0 + 0.5 * case.unit)
    assert case.close_to(denied.earliest, t0 + 0.5 * case.unit)
    state = (await case.store.snapshot([g], case.now()))["g"]
    assert case.close_to(state.paused_until, t0 + 0.5 * case.unit)
    await case.sleep(0.6 * case.unit)
    _, denied = await admit(case, ((g, 1),))
    assert denied is None


async def test_weighted_group_keeps_one_entry_per_request(case: StoreCase) -> None:
    users = group(case, (2_000_000, 1), name="users", weighted=True)
    ops = group(case, (10, 1), name="ops")
    _, denied = await admit(case, ((ops, 1), (users, 1_500_000)))
    assert denied is None
    _, denied = await admit(case, ((ops, 1), (users, 600_000)))
    assert denied is not None
    assert denied.group == "users"
    _, denied = await admit(case, ((ops, 1), (users, 500_000)))
    assert denied is None
    _, denied = await admit(case, ((users, 1),))
    assert denied is not None
    state = await case.store.snapshot([users, ops], case.now())
    assert sorted(e.weight for e in state["users"].entries) == [500_000, 1_500_000]
    assert len(state["ops"].entries) == 2


async def test_every_window_of_a_group_counts(case: StoreCase) -> None:
    g = group(case, (2, 1), (3, 4))
    ids = []
    for _ in range(2):
        lease_id, denied = await admit(case, ((g, 1),))
        assert denied is None
        ids.append(lease_id)
    end = case.now()
    for lease_id in ids:
        await case.store.end(lease_id, ["g"], end)
    await case.sleep(1.1 * case.unit)
    lease_id, denied = await admit(case, ((g, 1),))
    assert denied is None
    await case.store.end(lease_id, ["g"], case.now())
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None  # the long window is full: the first two free at end + 4
    assert case.close_to(denied.frees_at, end + 4 * case.unit)
    assert case.close_to(denied.earliest, end + 4 * case.unit)


async def test_snapshot_holds_what_occupies_and_changes_nothing(case: StoreCase) -> None:
    g = group(case, (2, 0.5), (3, 1))
    old, _ = await admit(case, ((g, 1),))
    await case.store.end(old, ["g"], case.now())
    await case.sleep(0.6 * case.unit)
    live, _ = await admit(case, ((g, 1),))
    before = await case.store.snapshot([g], case.now())
    again = await case.store.snapshot([g], case.now())
    assert [e.lease_id for e in before["g"].entries] == [old, live]
    assert [e.lease_id for e in again["g"].entries] == [old, live]
    assert before["g"].entries[1].ended_at is None
    await case.sleep(0.5 * case.unit)  # `old` now occupies no window: it leaves the snapshot
    state = await case.store.snapshot([g], case.now())
    assert [e.lease_id for e in state["g"].entries] == [live]
    empty = await case.store.snapshot([group(case, (1, 1), name="other")], case.now())
    assert empty == {"other": GroupState("other")}


async def test_matches_the_reference_decision(case: StoreCase) -> None:
    """Random admissions, ends, refunds and pauses: every answer equals ``decide`` over the
    snapshot taken just before (Redis: with windows long enough that nothing moves meanwhile)."""
    rng = random.Random(7)
    span = 1.0 if not case.real else 50.0  # Redis: nothing may expire during the test
    a = group(case, (6, 1 * span), (15, 3 * span), name="a")
    b = group(case, (8, 2 * span), name="b")
    u = group(case, (1000, 2 * span), name="u", weighted=True)
    demands = [((a, 1),), ((b, 1),), ((a, 1), (b, 1)), ((b, 1), (u, 300)), ((a, 2), (u, 450))]
    live: list[tuple[str, list[str]]] = []
    admitted = denied_count = 0
    for step in range(160):
        op = rng.random()
        if op < 0.55:
            demand = rng.choice(demands)
            reserve = {demand[0][0].name: 1} if rng.random() < 0.2 else {}
            bound = rng.choice([0.3, 2.0, 50.0]) * span * case.unit
            now = case.now()
            request = Admission(f"l{step}-{lid()}", demand, now, now + bound, reserve)
            groups = [g for g, _ in demand]
            expected = decide(await case.store.snapshot(groups, now), request)
            got = await case.store.admit(request)
            assert (got is None) == (expected is None), (step, got, expected)
            if got is None:
                admitted += 1
                live.append((request.lease_id, [g.name for g in groups]))
            else:
                assert expected is not None
                denied_count += 1
                assert got.group == expected.group or case.close_to(
                    got.fits[got.group], expected.fits[got.group]
                )
                assert case.close_to(got.frees_at, expected.frees_at)
                assert case.close_to(got.earliest, expected.earliest)
                assert got.fits.keys() == expected.fits.keys()
                for name, t in got.fits.items():
                    assert case.close_to(t, expected.fits[name]) or (
                        t <= now + case.tol and expected.fits[name] <= now
                    )
        elif op < 0.8 and live:
            lease_id, names = live.pop(rng.randrange(len(live)))
            await case.store.end(lease_id, names, case.now())
        elif op < 0.87 and live:
            lease_id, names = live.pop(rng.randrange(len(live)))
            await case.store.refund(lease_id, names)
        elif op < 0.89:
            name = rng.choice("ab")
            await case.store.pause(name, case.now() + rng.random() * 0.3 * span * case.unit)
        elif not case.real:
            await case.sleep(rng.random() * 0.7)
    assert admitted >= 8
    assert denied_count >= 15


async def test_nothing_is_forgotten_before_it_leaves_its_longest_window(case: StoreCase) -> None:
    g = group(case, (1, 0.2), (2, 1.5))
    first, _ = await admit(case, ((g, 1),))
    await case.store.end(first, ["g"], case.now())
    t0 = case.now()
    await case.sleep(0.3 * case.unit)
    second, denied = await admit(case, ((g, 1),))
    assert denied is None  # the short window has room again; pruning ran
    await case.store.end(second, ["g"], case.now())
    await case.sleep(0.3 * case.unit)
    _, denied = await admit(case, ((g, 1),))
    assert denied is not None
    assert case.close_to(denied.frees_at, t0 + 1.5 * case.unit)
    assert not math.isinf(denied.earliest)
