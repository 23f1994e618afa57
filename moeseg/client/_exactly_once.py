"""Exactly-once creates: telling our own earlier attempt from someone else's segment, by name
and :func:`moeseg.fingerprint`; used by the client (after a 409 on a retry, after a last
attempt of unknown outcome) and by the batch runner (on resume, after a 409)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import attrs

from .._exceptions import DefinitionConflict, MoesegError, NameConflict, OutcomeUnknown
from ..segments import Segment, fingerprint

logger = logging.getLogger("moeseg")


class SegmentReader(Protocol):
    """The two reads the lookup needs (``moeseg.Client`` has them)."""

    async def list_segments(self, name: str | None = None) -> list[Segment]: ...

    async def get_segment(self, segment_id: str) -> Segment: ...


async def find_created(
    client: SegmentReader, name: str, fp: str, listed: Sequence[Segment] | None = None
) -> Segment | None:
    """The segment named ``name`` whose definition has fingerprint ``fp``, or ``None``.

    ``listed`` is a listing the caller already holds (a batch lists the workspace once); without
    it, the name is listed here.
    """
    if listed is None:
        listed = await client.list_segments(name)
    for summary in listed:
        if summary.name != name:
            continue
        seg = summary
        if seg.included_filters is None:  # list items carry no definition
            seg = await client.get_segment(summary.id)
        if seg.included_filters is not None and fingerprint(seg) == fp:
            return seg
    return None


async def recover_conflict(
    client: SegmentReader, name: str, fp: str, conflict: NameConflict | DefinitionConflict
) -> Segment:
    """After an unknown outcome and then a 409: return our segment, or raise the conflict."""
    logger.info("create %r: unknown outcome, then %s; looking it up", name, type(conflict).__name__)
    if isinstance(conflict, DefinitionConflict) and conflict.existing_cs_id:
        # The server names the segment holding our definition and our name: ours, already.
        found: Segment | None = await client.get_segment(conflict.existing_cs_id)
    else:
        found = await find_created(client, name, fp)
    if found is None:
        raise conflict
    logger.info("create %r: recovered segment %s created by an earlier attempt", name, found.id)
    return attrs.evolve(found, recovered=True)


async def resolve_unknown(client: SegmentReader, name: str, fp: str, last: MoesegError) -> Segment:
    """After the last attempt of a create ended with an unknown outcome: our segment if the
    lookup finds it, else :class:`~moeseg.OutcomeUnknown` carrying what resolves it later.

    The lookup runs within the call's options (its timeout, retries and quota wait).
    """
    try:
        found = await find_created(client, name, fp)
    except MoesegError as exc:
        logger.info("create %r: outcome unknown; the lookup failed (%s)", name, type(exc).__name__)
        found = None
    if found is None:
        raise OutcomeUnknown(name, fp, last) from None
    logger.info("create %r: recovered segment %s after an unknown last attempt", name, found.id)
    return attrs.evolve(found, recovered=True)
