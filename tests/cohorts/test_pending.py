"""The ordering rule: an action never overtakes an unresolved opposite action on one uid."""

from __future__ import annotations

import itertools
import pickle

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moeseg._cohorts import CohortAction, OppositeActionPending, PendingActions, Ticket


def test_an_opposite_action_waits_for_the_earlier_one() -> None:
    pending = PendingActions()
    add = pending.register("add_members", ["a", "b"])
    remove = pending.register("remove_members", ["b", "c"])
    other = pending.register("remove_members", ["c"])
    assert pending.ready(add)
    assert not pending.ready(remove)
    assert pending.ready(other)  # another uid, same action as its only predecessor
    assert pending.blockers(remove) == (add,)
    with pytest.raises(OppositeActionPending) as info:
        pending.check(remove)
    assert (info.value.uid, info.value.action, info.value.pending) == (
        "b",
        "remove_members",
        "add_members",
    )
    assert pending.pending("b") == ("add_members", "remove_members")
    pending.resolve(add)
    pending.check(remove)
    assert pending.pending("a") == ()
    assert len(pending) == 2


def test_same_actions_never_block_each_other() -> None:
    pending = PendingActions()
    first = pending.register("add_members", ["a"])
    again = pending.register("add_members", ["a"])
    assert pending.ready(first)
    assert pending.ready(again)


def test_a_later_opposite_never_blocks_an_earlier_retry() -> None:
    pending = PendingActions()
    add = pending.register("add_members", ["a"])
    pending.register("remove_members", ["a"])
    assert pending.ready(add)  # resend after an unknown outcome stays allowed


def test_resolve_is_idempotent_and_check_wants_a_pending_ticket() -> None:
    pending = PendingActions()
    ticket = pending.register("add_members", ["a", "a"])
    assert ticket.uids == ("a",)
    pending.resolve(ticket)
    pending.resolve(ticket)
    assert len(pending) == 0
    assert "0 actions" in repr(pending)
    with pytest.raises(ValueError, match="not pending"):
        pending.check(ticket)


def test_the_error_pickles() -> None:
    err = OppositeActionPending("u", "add_members", "remove_members")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


# -- random interleavings -------------------------------------------------------------------

UIDS = ["u0", "u1", "u2", "u3"]


@attrs.define
class Copy:
    """One sent attempt of a ticket travelling to the server."""

    ticket: Ticket
    arrived: bool = False
    lost: bool = False


@attrs.define
class World:
    """An executor that obeys PendingActions, a network that delays or drops, a server."""

    pending: PendingActions
    tickets: list[Ticket]
    copies: list[Copy] = attrs.Factory(list)
    resolved: set[int] = attrs.Factory(set)
    members: set[str] = attrs.Factory(set)
    arrivals: dict[str, list[tuple[int, CohortAction]]] = attrs.Factory(dict)

    def sendable(self) -> list[Ticket]:
        return [
            t
            for t in self.tickets
            if t.seq not in self.resolved
            and self.pending.ready(t)
            and not any(c.ticket is t and not (c.arrived or c.lost) for c in self.copies)
        ]

    def send(self, ticket: Ticket) -> None:
        self.pending.check(ticket)
        self.copies.append(Copy(ticket))

    def in_flight(self) -> list[Copy]:
        return [c for c in self.copies if not (c.arrived or c.lost)]

    def arrive(self, copy: Copy) -> None:
        copy.arrived = True
        action = copy.ticket.action
        for uid in copy.ticket.uids:
            self.arrivals.setdefault(uid, []).append((copy.ticket.seq, action))
            if action == "add_members":
                self.members.add(uid)
            else:
                self.members.discard(uid)

    def resolvable(self) -> list[Ticket]:
        # Known outcome: some copy was answered, and no copy can still arrive (each either
        # arrived or is past its lease bound, i.e. lost for good).
        return [
            t
            for t in self.tickets
            if t.seq not in self.resolved
            and any(c.ticket is t and c.arrived for c in self.copies)
            and all(c.arrived or c.lost for c in self.copies if c.ticket is t)
        ]

    def resolve(self, ticket: Ticket) -> None:
        self.pending.resolve(ticket)
        self.resolved.add(ticket.seq)

    def drain(self) -> None:
        for _ in range(10 * len(self.tickets) + 10):
            if len(self.resolved) == len(self.tickets):
                return
            for copy in self.in_flight():
                self.arrive(copy)
            for ticket in self.resolvable():
                self.resolve(ticket)
            for ticket in self.sendable():
                self.send(ticket)
        raise AssertionError("the executor could not finish")


intents = st.lists(
    st.tuples(
        st.sampled_from(["add_members", "remove_members"]),
        st.sets(st.sampled_from(UIDS), min_size=1),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=intents, initial=st.sets(st.sampled_from(UIDS)), data=st.data())
def test_random_interleavings_never_reorder_opposite_actions(
    plan: list[tuple[CohortAction, set[str]]], initial: set[str], data: st.DataObject
) -> None:
    pending = PendingActions()
    world = World(pending, [pending.register(a, sorted(u)) for a, u in plan])
    world.members = set(initial)
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        moves: list[tuple[str, object]] = [("send", t) for t in world.sendable()]
        moves += [("arrive", c) for c in world.in_flight()]
        moves += [("lose", c) for c in world.in_flight()]
        moves += [("resolve", t) for t in world.resolvable()]
        if not moves:
            break
        kind, target = data.draw(st.sampled_from(moves), label="move")
        if kind == "send":
            world.send(target)  # type: ignore[arg-type]
        elif kind == "arrive":
            world.arrive(target)  # type: ignore[arg-type]
        elif kind == "lose":
            target.lost = True  # type: ignore[attr-defined]
        else:
            world.resolve(target)  # type: ignore[arg-type]
    world.drain()

    for uid, arrived in world.arrivals.items():
        # Between two arrivals of opposite actions, the planned order holds.
        for (s1, a1), (s2, a2) in itertools.pairwise(arrived):
            if a1 != a2:
                assert s1 < s2, (uid, arrived)
    for uid in UIDS:
        last = [a for a, uids in plan if uid in uids]
        expected = (last[-1] == "add_members") if last else (uid in initial)
        assert (uid in world.members) == expected
    assert len(pending) == 0
