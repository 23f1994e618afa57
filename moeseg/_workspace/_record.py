"""What plan and apply write into the state, in one place: the row after each step.

The applier writes the row right after the server confirmed the step (create, update, rename,
unarchive: the payload it sent, with references resolved, verified now; archive:
``archived_at``; unchanged and read-only: the segment as the plan knew it, which adopts it,
with its verification time unchanged). ``plan`` writes what its GETs found
(:func:`verified_row`), so that the state's fingerprint, which the plan fingerprint covers, is
what the plan was made from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from ..segments import fingerprint
from ._errors import WorkspaceError
from ._facts import FetchedDefinition
from ._plan import PlanStep
from ._state import StateRow

__all__ = ["row_after", "verified_row"]


def _text(payload: Mapping[str, Any] | None) -> str | None:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False) if payload is not None else None


def row_after(
    step: PlanStep,
    now: float,
    *,
    segment_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
    previous: StateRow | None = None,
) -> StateRow:
    """The state row of ``step.key`` once ``step`` is done at ``now`` (wall clock).

    ``segment_id`` is the id the server gave (a create, an unarchive by name), else the step's;
    ``payload`` the create/update body sent (references resolved); ``previous`` the row before
    (needed by an archive).
    """
    sid = segment_id or step.segment_id
    if step.kind == "archive":
        if previous is None:
            raise WorkspaceError(f"{step.key}: an archive needs the row it archives")
        return attrs.evolve(previous, archived_at=now)
    if sid is None:
        raise WorkspaceError(f"{step.key}: {step.kind} done without a segment id")
    if step.kind in ("unchanged", "read_only"):
        # Nothing was sent and nothing read: the verification time stays what it was (a
        # segment adopted here has none, so the next plan checks it with a GET).
        same = previous is not None and previous.segment_id == sid
        return StateRow(
            step.key,
            sid,
            step.old_name or step.name,
            step.old_fingerprint,
            _text(step.old_payload),
            previous.verified_at if same and previous is not None else None,
            read_only=step.kind == "read_only",
        )
    if payload is None:
        if step.kind == "unarchive" and not step.update and previous is not None:
            return attrs.evolve(previous, segment_id=sid, archived_at=None, verified_at=now)
        raise WorkspaceError(f"{step.key}: {step.kind} done without the payload sent")
    name = str(payload.get("name", step.name))
    return StateRow(step.key, sid, name, fingerprint(payload), _text(payload), now)


def verified_row(row: StateRow, fetched: FetchedDefinition, name: str | None = None) -> StateRow:
    """``row`` after a GET found ``fetched`` (and the active list showed ``name``)."""
    return attrs.evolve(
        row,
        fingerprint=fetched.fingerprint,
        payload=_text(fetched.payload),
        verified_at=fetched.fetched_at,
        name=name if name is not None else row.name,
    )
