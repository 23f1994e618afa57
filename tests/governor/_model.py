"""The reference model of a store: the admission rule in plain Python, one list of entries."""

from __future__ import annotations

import math

import attrs

from moeseg.governor import Demand, QuotaGroup


@attrs.define
class Entry:
    lease: str
    weight: int
    admitted: float
    bound: float
    ended: float | None = None

    def end(self) -> float:
        """The pessimistic end: its end, else its bound."""
        return self.ended if self.ended is not None else self.bound


@attrs.define
class Model:
    """What a store must decide, given the times the store acted at."""

    entries: dict[str, list[Entry]] = attrs.Factory(dict)
    paused: dict[str, float] = attrs.Factory(dict)

    def used(self, group: QuotaGroup, seconds: float, now: float) -> int:
        return sum(e.weight for e in self.entries.get(group.name, []) if e.end() + seconds > now)

    def fit(self, group: QuotaGroup, weight: int, now: float, *, optimistic: bool) -> float:
        at = max(now, self.paused.get(group.name, -math.inf))
        for w in group.windows:
            rel = []
            for e in self.entries.get(group.name, []):
                end = e.end()
                if end + w.seconds <= now:
                    continue
                flying = e.ended is None and e.bound > now
                rel.append(
                    (now + w.seconds if optimistic and flying else end + w.seconds, e.weight)
                )
            excess = sum(x for _, x in rel) + weight - w.limit
            for t, x in sorted(rel):
                if excess <= 0:
                    break
                excess -= x
                at = max(at, t)
        return at

    def admit(self, lease: str, demand: Demand, seconds: float, now: float) -> bool:
        if any(self.fit(g, w, now, optimistic=False) > now for g, w in demand):
            return False
        for g, w in demand:
            self.entries.setdefault(g.name, []).append(Entry(lease, w, now, now + seconds))
        return True

    def end(self, lease: str, now: float) -> None:
        for es in self.entries.values():
            for e in es:
                if e.lease == lease and e.ended is None:
                    e.ended = min(now, e.bound)

    def refund(self, lease: str, now: float) -> None:
        for name, es in self.entries.items():
            self.entries[name] = [
                e for e in es if not (e.lease == lease and e.ended is None and e.bound > now)
            ]

    def pause(self, group: str, seconds: float, now: float) -> None:
        self.paused[group] = max(self.paused.get(group, -math.inf), now + seconds)

    def spend(self, group: QuotaGroup, units: int, now: float) -> None:
        self.entries.setdefault(group.name, []).append(Entry(f"spent-{now}", units, now, now, now))

    def shift(self, dt: float) -> None:
        """Every time moves by ``dt`` (the store's time base stepped and was re-based)."""
        for es in self.entries.values():
            for e in es:
                e.admitted += dt
                e.bound += dt
                if e.ended is not None:
                    e.ended += dt
        self.paused = {g: p + dt for g, p in self.paused.items()}
