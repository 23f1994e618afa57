"""Smoke test over real HTTP on loopback: a served sandbox, a batch that meets the
active-segment limit and one that is stopped, then resumed from its journal."""

from __future__ import annotations

from pathlib import Path

import pytest

import moeseg
from moeseg.batch import LIMIT_REACHED, STOPPED, Batch, BatchProgress, Journal, OutcomeKind
from moeseg.governor import Governor, QuotaPolicy
from tests.cli._helpers import creates, payload, sandbox

# Real HTTP on loopback at a small time scale: seconds of real time.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SCALE = 0.02  # a 60 s window lasts 1.2 s


async def test_limit_stop_and_resume_over_loopback(tmp_path: Path) -> None:
    box = sandbox(time_scale=SCALE, active_segment_limit=60)
    policy = QuotaPolicy.moengage().scaled(SCALE)
    defs = [payload(f"s{i}", f"c{i}") for i in range(80)]
    async with box.serve(port=0) as url:
        client = moeseg.Client(
            box.workspace_id,
            box.api_key,
            base_url=url,
            db_name=box.db_name,
            governor=Governor(policy),
        )
        async with client:
            with Journal(tmp_path / "j.sqlite") as journal:
                batch: Batch

                def stop_at_20(p: BatchProgress) -> None:
                    if p.done >= 20:
                        batch.stop()

                batch = Batch(client, defs, concurrency=4, journal=journal, progress=stop_at_20)
                first = await batch.run()
                assert batch.stopped == STOPPED
                sent = len(creates(box))
                assert {o.kind for o in first} == {OutcomeKind.CREATED, OutcomeKind.NOT_SENT}
                assert sum(o.kind is OutcomeKind.CREATED for o in first) == sent
                # the rerun: what was done comes from the journal; the limit stops the rest
                batch = Batch(client, defs, concurrency=4, journal=journal)
                second = await batch.run()
    assert batch.stopped == LIMIT_REACHED
    kinds = [o.kind for o in second]
    assert sum(o.from_journal for o in second) == sent
    assert sum(o.kind is OutcomeKind.CREATED and not o.from_journal for o in second) == 60 - sent
    assert len(box.segments()) == 60
    failed = [o for o in second if o.kind is OutcomeKind.FAILED]
    assert 1 <= len(failed) <= 4
    assert all(isinstance(o.error, moeseg.ActiveSegmentLimit) for o in failed)
    assert kinds.count(OutcomeKind.NOT_SENT) == 80 - 60 - len(failed)
    assert len(creates(box)) == 60 + len(failed)  # nothing spent on the items not sent
