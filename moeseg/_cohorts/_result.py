"""What a cohort or membership sync did (or, on a dry run, would do)."""

from __future__ import annotations

import attrs

from ._plan import Route, SyncPlan

__all__ = ["SyncResult"]


@attrs.frozen(slots=True)
class SyncResult:
    """The outcome of :meth:`moeseg.Client.sync_cohort` or :meth:`moeseg.Client.sync_members`.

    ``added``/``removed`` count the uids sent in each action (on a dry run: planned);
    ``requests`` the requests that succeeded. ``plan`` is the membership sync's plan (what it
    chose and why, quota, ETA); ``committed`` whether the snapshot now equals the list.
    ``notes`` say what the sync could not do (first sync: unknown members not removed).
    """

    segment: str
    route: Route
    method: str
    added: int
    removed: int
    requests: int
    plan: SyncPlan | None = None
    dry_run: bool = False
    committed: bool = False
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """A few lines for people: the plan, then what was done."""
        lines = [self.plan.describe()] if self.plan is not None else []
        if self.dry_run:
            lines.append("dry run: nothing sent")
        else:
            lines.append(
                f"{self.segment}: added {self.added:,}, removed {self.removed:,} in "
                f"{self.requests:,} request{'' if self.requests == 1 else 's'} by {self.route} "
                f"({self.method})"
            )
        shown = self.plan.notes if self.plan is not None else ()
        lines.extend(f"note: {n}" for n in self.notes if n not in shown)
        return "\n".join(lines)
