"""The ordering rule for retries: opposite actions on one uid never overtake each other.

Cohort Sync answers 200 before it processes a request, and a request whose outcome is unknown
(a timeout, a lost connection) may still arrive later. If an add for ``u`` is unresolved and a
remove for ``u`` is sent, the add can land after it and put ``u`` back. So every action is
registered here in the order it is planned, before it is sent; it may be sent (and resent after
an unknown outcome) while no *earlier* unresolved action on any of its uids is the opposite one,
and it leaves when its outcome is known. Repeats of the same action are harmless (add and remove
are idempotent), so they never block each other.

Assumption: MoEngage applies requests in the order they arrive; nothing is promised about
requests still in flight, which is why an unresolved one blocks its opposite. A request whose
outcome stays unknown after its last attempt can still arrive until its lease's bound (its
timeout plus a margin, :meth:`PendingActions.unresolved_until`); after that it has arrived or
never will, and it stops blocking (:meth:`PendingActions.expire`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs

from ._errors import OppositeActionPending
from ._request import CohortAction, opposite

__all__ = ["PendingActions", "Ticket"]


@attrs.frozen(slots=True)
class Ticket:
    """One registered action: its order of registration, the action and its uids."""

    seq: int
    action: CohortAction
    uids: tuple[str, ...] = attrs.field(repr=lambda u: f"<{len(u)} uids>")


class PendingActions:
    """Unresolved actions per uid, in registration order. Pure data: no I/O, no clock.

    Memory is one list entry per (uid, unresolved action): an executor registers what it is
    about to send, not a whole sync at once.
    """

    __slots__ = ("_by_uid", "_next", "_open", "_until")

    def __init__(self) -> None:
        self._by_uid: dict[str, list[Ticket]] = {}
        self._open: dict[int, Ticket] = {}
        self._until: dict[int, float] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._open)

    def __repr__(self) -> str:
        return f"<PendingActions {len(self._open)} actions on {len(self._by_uid)} uids>"

    def register(self, action: CohortAction, uids: Iterable[str]) -> Ticket:
        """Queue ``action`` for ``uids`` behind everything registered before it."""
        ticket = Ticket(self._next, action, tuple(dict.fromkeys(uids)))
        self._next += 1
        self._open[ticket.seq] = ticket
        for uid in ticket.uids:
            self._by_uid.setdefault(uid, []).append(ticket)
        return ticket

    def _blocking(self, ticket: Ticket) -> Iterator[tuple[str, Ticket]]:
        against = opposite(ticket.action)
        for uid in ticket.uids:
            for earlier in self._by_uid.get(uid, ()):
                if earlier.seq >= ticket.seq:
                    break
                if earlier.action == against:
                    yield uid, earlier
                    break

    def blockers(self, ticket: Ticket) -> tuple[Ticket, ...]:
        """Earlier unresolved tickets of the opposite action that share a uid with ``ticket``."""
        found = {t.seq: t for _, t in self._blocking(ticket)}
        return tuple(found[k] for k in sorted(found))

    def ready(self, ticket: Ticket) -> bool:
        """Whether ``ticket`` may be sent (or resent) now."""
        return next(self._blocking(ticket), None) is None

    def check(self, ticket: Ticket) -> None:
        """Raise :class:`OppositeActionPending` (naming a uid) unless ``ticket`` may be sent."""
        if ticket.seq not in self._open:
            raise ValueError(f"ticket {ticket.seq} is not pending")
        for uid, earlier in self._blocking(ticket):
            raise OppositeActionPending(uid, ticket.action, earlier.action)

    def resolve(self, ticket: Ticket) -> None:
        """The outcome of ``ticket`` is known (applied, or certainly not): it stops blocking."""
        self._until.pop(ticket.seq, None)
        if self._open.pop(ticket.seq, None) is None:
            return
        for uid in ticket.uids:
            queue = self._by_uid[uid]
            queue.remove(ticket)
            if not queue:
                del self._by_uid[uid]

    def unresolved_until(self, ticket: Ticket, at: float) -> None:
        """``ticket``'s outcome is unknown, but it cannot arrive after ``at`` (clock time)."""
        if ticket.seq in self._open:
            self._until[ticket.seq] = at

    def until(self, ticket: Ticket) -> float | None:
        """When an unknown ``ticket`` stops blocking; ``None`` while it is in flight."""
        return self._until.get(ticket.seq)

    def expire(self, now: float) -> None:
        """Resolve every unknown ticket whose bound is ``now`` or earlier."""
        for seq in [s for s, at in self._until.items() if at <= now]:
            self.resolve(self._open[seq])

    def pending(self, uid: str) -> tuple[CohortAction, ...]:
        """The unresolved actions on ``uid``, oldest first."""
        return tuple(t.action for t in self._by_uid.get(uid, ()))
