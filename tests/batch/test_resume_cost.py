"""What a resume and a rerun cost: lookups only for what may have been sent, one list call for
a rerun without a journal. Virtual time over the in-process sandbox, on asyncio and trio."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import moeseg
from moeseg.batch import Batch, BatchProgress, Journal, OutcomeKind
from tests.cli._helpers import client_for, creates, payload, sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

SCALE = 0.01


def lookups(box: moeseg.sandbox.Sandbox, since: int = 0) -> list[str]:
    """The routes of list and get requests the sandbox saw after record ``since``."""
    return [r.route for r in box.log[since:] if r.route in ("list", "get")]


async def test_resume_after_a_stop_with_50_queued_items_costs_no_lookup(tmp_path: Path) -> None:
    """100 items, all held by workers: 50 are sent at once, 50 wait for the minute window when
    the run is cancelled (as by a kill). Only sent items were journaled: the rerun looks
    nothing up (it used to cost one list-by-name per queued item: 50)."""
    box = sandbox(time_scale=SCALE)
    defs = [payload(f"s{i}", f"c{i}") for i in range(100)]
    with Journal(tmp_path / "j.sqlite") as journal:
        async with client_for(box, time_scale=SCALE) as client:
            with anyio.CancelScope() as scope:

                def kill_at_50(p: BatchProgress) -> None:
                    if p.done >= 50:
                        scope.cancel()

                batch = Batch(client, defs, concurrency=100, journal=journal, progress=kill_at_50)
                await batch.run()
            assert len(creates(box)) == 50
            assert client.governor.waiting == 0  # type: ignore[attr-defined]
            first_run = len(box.log)
            outcomes = await moeseg.create_many(client, defs, concurrency=100, journal=journal)
    assert all(o.ok for o in outcomes)
    assert sum(o.from_journal for o in outcomes) == 50
    assert lookups(box, first_run) == []
    assert len(creates(box)) == 100


async def test_resume_looks_up_only_items_that_may_have_been_sent(tmp_path: Path) -> None:
    """One item was sent but its answer lost: the rerun lists once, finds it, sends the rest."""
    box = sandbox(time_scale=SCALE)
    defs = [payload(f"s{i}", f"c{i}") for i in range(5)]
    async with client_for(box, time_scale=SCALE) as client:
        seg = await client.create_segment(moeseg.from_payload(defs[0]))
        with Journal(tmp_path / "j.sqlite") as journal:
            fp = moeseg.fingerprint(seg)
            journal.record_intent(client.workspace_id, "s0", fp)
            start = len(box.log)
            outcomes = await moeseg.create_many(client, defs, journal=journal)
    assert [o.kind for o in outcomes] == [OutcomeKind.RECOVERED] + [OutcomeKind.CREATED] * 4
    assert outcomes[0].segment_id == seg.id
    assert lookups(box, start) == ["list", "get"]  # one unfiltered list, one get
    assert len(creates(box)) == 1 + 4


async def test_rerun_of_a_finished_batch_without_journal_costs_one_list_call() -> None:
    """Per item: 0 creates and 1/50 of a list (segments quota), 1 get (reads quota); it used to
    cost a failed create and a list-by-name per item (2 segments requests per item)."""
    box = sandbox(time_scale=SCALE)
    defs = [payload(f"s{i}", f"c{i}") for i in range(50)]
    async with client_for(box, time_scale=SCALE) as client:
        await moeseg.create_many(client, defs)
        start = len(box.log)
        sent_before = len(creates(box))
        outcomes = await moeseg.create_many(client, defs)
    assert {o.kind for o in outcomes} == {OutcomeKind.EXISTS}
    rerun = box.log[start:]
    assert [r.route for r in rerun].count("list") == 1
    assert [r.route for r in rerun].count("get") == 50
    assert len(creates(box)) == sent_before  # nothing sent
    segments_spent = sum(1 for r in rerun if r.route in ("list", "create"))
    assert segments_spent / len(defs) == 0.02


async def test_rerun_with_a_changed_definition_is_a_conflict_without_sending() -> None:
    box = sandbox()
    async with client_for(box) as client:
        await moeseg.create_many(client, [payload("a", "Pune")])
        sent = len(creates(box))
        [outcome] = await moeseg.create_many(client, [payload("a", "Goa")])
    assert outcome.kind is OutcomeKind.CONFLICT
    assert isinstance(outcome.error, moeseg.NameConflict)
    assert "nothing sent" in str(outcome.error)
    assert len(creates(box)) == sent
