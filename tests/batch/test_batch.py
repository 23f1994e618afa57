"""create_many / Batch against the in-process sandbox: every outcome kind, in input order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import moeseg
from moeseg import Batch, BatchProgress, Journal, JournalState, OutcomeKind, create_many
from moeseg.sandbox import FaultConfig, ServerErrorFault
from tests.cli._helpers import client_for, creates, invalid_payload, payload, sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


async def test_every_outcome_kind_in_input_order() -> None:
    box = sandbox(active_segment_limit=6)
    async with client_for(box) as client:
        # already there: same name and definition / same name, other definition / other
        # name, same definition
        await client.create_segment(moeseg.from_payload(payload("same", "Pune")))
        await client.create_segment(moeseg.from_payload(payload("taken", "Agra")))
        await client.create_segment(moeseg.from_payload(payload("original", "Goa")))
        defs: list[Any] = [
            payload("a", "Mumbai"),  # 0 created
            invalid_payload("bad"),  # 1 invalid
            payload("same", "Pune"),  # 2 exists
            payload("b", "Mumbai"),  # 3 duplicate of 0
            payload("taken", "Delhi"),  # 4 conflict (name)
            payload("copy", "Goa"),  # 5 conflict (definition)
            moeseg.from_payload(payload("c", "Surat")),  # 6 created (a model object)
            payload("d", "Patna"),  # 7 created
            payload("e", "Indore"),  # 8 failed: active segment limit (6) reached
        ]
        outcomes = await create_many(client, defs, concurrency=1)
    kinds = [o.kind for o in outcomes]
    assert kinds == [
        OutcomeKind.CREATED,
        OutcomeKind.INVALID,
        OutcomeKind.EXISTS,
        OutcomeKind.DUPLICATE,
        OutcomeKind.CONFLICT,
        OutcomeKind.CONFLICT,
        OutcomeKind.CREATED,
        OutcomeKind.CREATED,
        OutcomeKind.FAILED,
    ]
    assert [o.index for o in outcomes] == list(range(len(defs)))
    assert [o.name for o in outcomes] == [
        "a", "bad", "same", "b", "taken", "copy", "c", "d", "e"
    ]  # fmt: skip
    assert outcomes[0].segment_id == box.find("a").id  # type: ignore[union-attr]
    assert outcomes[2].segment_id == box.find("same").id  # type: ignore[union-attr]
    assert outcomes[3].duplicate_of == 0
    assert isinstance(outcomes[1].error, moeseg.SegmentValidationError)
    assert isinstance(outcomes[4].error, moeseg.NameConflict)
    assert isinstance(outcomes[5].error, moeseg.DefinitionConflict)
    assert isinstance(outcomes[8].error, moeseg.ActiveSegmentLimit)
    assert [o.ok for o in outcomes] == [True, False, True, False, False, False, True, True, False]
    # the invalid item and the duplicate never reached the server; names the batch's one list
    # call found (items 2 and 4) were compared by a get instead of a create
    assert len(creates(box)) == 3 + 5  # 3 set-up creates, then items 0, 5, 6, 7, 8


async def test_invalid_and_duplicates_cost_no_quota() -> None:
    box = sandbox()
    async with client_for(box) as client:
        before = await client.governor.remaining()
        outcomes = await create_many(
            client, [invalid_payload("x"), payload("p", "A"), payload("q", "A")]
        )
        after = await client.governor.remaining()
    assert [o.kind for o in outcomes] == [
        OutcomeKind.INVALID,
        OutcomeKind.CREATED,
        OutcomeKind.DUPLICATE,
    ]
    assert len(creates(box)) == 1
    spent = {w: before["segments"][w] - after["segments"][w] for w in before["segments"]}
    assert set(spent.values()) == {2}  # the batch's one list call, then the one create


async def test_a_name_reused_in_the_batch_for_another_definition_is_never_sent() -> None:
    box = sandbox()
    async with client_for(box) as client:
        outcomes = await create_many(client, [payload("p", "A"), payload("p", "B")])
    assert [o.kind for o in outcomes] == [OutcomeKind.CREATED, OutcomeKind.CONFLICT]
    error = outcomes[1].error
    assert isinstance(error, moeseg.SegmentValidationError)
    assert [(i.path, i.rule) for i in error.issues] == [
        ("name", "already used by item 0 with a different definition")
    ]
    assert len(creates(box)) == 1


async def test_recovered_after_unknown_outcome() -> None:
    """A 500 after the server created it: the client's exactly-once path reports recovered."""
    box = sandbox()
    box.set_faults(FaultConfig((ServerErrorFault(when="after", routes={"create"}),)))
    async with client_for(box) as client:
        # the first attempt is created, then answered 500; heal the sandbox after that answer
        async def clear_faults_soon() -> None:
            while not creates(box):
                await anyio.sleep(0.001)
            box.set_faults(FaultConfig())

        async with anyio.create_task_group() as tg:
            tg.start_soon(clear_faults_soon)
            outcomes = await create_many(client, [payload("r", "Nagpur")])
    assert creates(box)[0].status == 500
    assert [o.kind for o in outcomes] == [OutcomeKind.RECOVERED]
    assert outcomes[0].segment_id == box.find("r").id  # type: ignore[union-attr]
    assert len(box.segments()) == 1


async def test_progress_reports_each_item_and_quota_waits() -> None:
    scale = 0.01  # 60 s window -> 0.6 s (virtual anyway)
    box = sandbox(time_scale=scale)
    events: list[BatchProgress] = []
    defs = [payload(f"s{i}", f"city{i}") for i in range(60)]
    async with client_for(box, time_scale=scale) as client:
        outcomes = await create_many(client, defs, concurrency=20, progress=events.append)
    assert all(o.kind is OutcomeKind.CREATED for o in outcomes)
    finished = [e for e in events if e.outcome is not None]
    assert [e.done for e in finished] == list(range(1, 61))
    assert sorted(e.outcome.index for e in finished) == list(range(60))  # type: ignore[union-attr]
    assert all(e.total == 60 for e in events)
    # 50 creates fill the minute window: the batch reports a wait, then the wait ends
    waits = [e for e in events if e.waiting_until is not None]
    assert waits
    assert min(e.done for e in waits) >= 1
    assert box.max_in_window("segments", 60 * scale) <= 50
    assert events[-1].waiting_until is None  # the last report says the wait is over


async def test_cancel_keeps_finished_outcomes_and_journal_consistent(tmp_path: Path) -> None:
    box = sandbox(time_scale=0.01)
    defs = [payload(f"s{i}", f"city{i}") for i in range(80)]
    with Journal(tmp_path / "j.sqlite") as journal:
        async with client_for(box, time_scale=0.01) as client:
            with anyio.CancelScope() as scope:

                def stop_at_55(p: BatchProgress) -> None:
                    if p.done >= 55:
                        scope.cancel()

                batch = Batch(client, defs, concurrency=10, journal=journal, progress=stop_at_55)
                await batch.run()
            assert scope.cancelled_caught
        finished = [o for o in batch.outcomes if o is not None]
        assert 55 <= len(finished) < 80
        assert all(o.kind is OutcomeKind.CREATED for o in finished)
        by_name = {e.name: e for e in journal.entries()}
        for o in finished:
            assert by_name[o.name].state is JournalState.DONE
            assert by_name[o.name].segment_id == o.segment_id
        # every segment the server holds is either journaled done or still at intent
        for seg in box.segments():
            assert by_name[seg.name].state in (JournalState.DONE, JournalState.INTENT)
        # rerun: nothing done is resent, nothing is created twice
        sent_before = len(creates(box))
        async with client_for(box, time_scale=0.01) as client:
            outcomes = await create_many(client, defs, concurrency=10, journal=journal)
    assert all(o.ok for o in outcomes)
    assert sum(o.from_journal for o in outcomes) == len(finished)
    assert len(box.segments()) == 80
    assert len(creates(box)) - sent_before <= 80 - len(finished)


async def test_resume_resolves_intent_by_lookup(tmp_path: Path) -> None:
    """Intent without result: looked up by name + fingerprint, not resent."""
    box = sandbox()
    defs = [payload("sent", "Kochi"), payload("lost", "Vizag"), payload("done", "Mysore")]
    fps = [moeseg.fingerprint(moeseg.from_payload(d)) for d in defs]
    async with client_for(box) as client:
        seg = await client.create_segment(moeseg.from_payload(defs[0]))
        done = await client.create_segment(moeseg.from_payload(defs[2]))
        ws = client.workspace_id
        with Journal(tmp_path / "j.sqlite") as journal:
            journal.record_intent(ws, "sent", fps[0])  # reached the server, result not recorded
            journal.record_intent(ws, "lost", fps[1])  # never reached it
            journal.record_intent(ws, "done", fps[2])
            journal.record_done(ws, "done", fps[2], kind="created", segment_id=done.id)
            sent_before = len(creates(box))
            outcomes = await create_many(client, defs, journal=journal)
            states = {e.name: e.state for e in journal.entries()}
    assert [o.kind for o in outcomes] == [
        OutcomeKind.RECOVERED,
        OutcomeKind.CREATED,
        OutcomeKind.CREATED,
    ]
    assert outcomes[0].segment_id == seg.id
    assert outcomes[2].from_journal
    assert outcomes[2].segment_id == done.id
    assert len(creates(box)) - sent_before == 1  # only "lost" was sent
    assert states == dict.fromkeys(("sent", "lost", "done"), JournalState.DONE)


async def test_quota_wait_beyond_max_wait_fails_without_sending(tmp_path: Path) -> None:
    box = sandbox()
    defs = [payload(f"s{i}", f"c{i}") for i in range(52)]
    with Journal(tmp_path / "j.sqlite") as journal:
        async with client_for(box) as client:
            outcomes = await create_many(client, defs, concurrency=5, max_wait=1.0, journal=journal)
        failed = [o for o in outcomes if o.kind is OutcomeKind.FAILED]
        assert len(failed) == 2
        assert all(isinstance(o.error, moeseg.QuotaWaitTooLong) for o in failed)
        assert len(creates(box)) == 50
        # provably not sent: the journal says so, and a later run sends them
        for o in failed:
            entry = journal.get(client.workspace_id, o.name, o.fingerprint or "")
            assert entry is not None
            assert entry.state is JournalState.REJECTED


async def test_concurrency_must_be_positive() -> None:
    box = sandbox()
    async with client_for(box) as client:
        with pytest.raises(ValueError, match="concurrency"):
            await create_many(client, [], concurrency=0)
        assert await create_many(client, []) == []


def _wait(eta: object, now: float) -> float:
    """Seconds until ``eta``: a time on the governor's clock, or an object with a ``wait``."""
    if isinstance(eta, float):
        return eta - now
    return float(eta.wait.total_seconds())  # type: ignore[attr-defined]


async def test_plan_milestones_follow_the_governor(tmp_path: Path) -> None:
    box = sandbox()
    defs: list[Any] = [payload(f"s{i}", f"c{i}") for i in range(1200)]
    defs += [invalid_payload("bad"), payload("dup", "c0")]
    async with client_for(box) as client:
        gov = client.governor
        ws = client.workspace_id
        with Journal(tmp_path / "j.sqlite") as journal:
            fp = [moeseg.fingerprint(moeseg.from_payload(d)) for d in defs[:2]]
            journal.record_intent(ws, "s0", fp[0])
            journal.record_done(ws, "s0", fp[0], kind="created", segment_id="x")
            journal.record_intent(ws, "s1", fp[1])
            plan = await moeseg.plan_batch(client, defs, journal=journal)
        assert isinstance(gov, moeseg.governor.Governor)
        now = gov.clock.now()
        day_full = _wait(await gov.eta("create", 1000), now)
        all_done = _wait(await gov.eta("create", 1200), now)
    assert (plan.total, plan.invalid, plan.duplicates) == (1202, 1, 1)
    assert (plan.already_done, plan.to_send, plan.to_resolve) == (1, 1199, 1)
    assert plan.list_calls == 1  # to resolve s1
    assert [m.count for m in plan.milestones] == [50, 1000, 1200]  # 1199 creates + 1 list
    first, day, last = (m.at for m in plan.milestones)
    assert plan.milestones[0].wait.total_seconds() == 0
    assert abs(plan.milestones[2].wait.total_seconds() - all_done) < 1e-6
    assert abs((day - first).total_seconds() - day_full) < 2
    assert abs((last - first).total_seconds() - all_done) < 2
    assert 86400 <= all_done < 86400 + 3600  # the last 200 wait for the day window
    assert len(creates(box)) == 0  # planning sends nothing
    text = plan.describe(now=first)
    assert text.startswith("1199 creates and 1 list call: 50 now, 1000 by ")
    assert "all by " in text
    assert "tomorrow" in text or " on " in text


async def test_unknown_outcome_keeps_intent_and_rerun_looks_it_up(tmp_path: Path) -> None:
    """A 5xx with retries exhausted and the client's own lookup failing too: failed, journal
    still at intent; the rerun looks it up."""
    box = sandbox()
    faults = (ServerErrorFault(status=503, when="after", routes={"create", "list"}),)
    box.set_faults(FaultConfig(faults))
    defs = [payload("maybe", "Ooty")]
    with Journal(tmp_path / "j.sqlite") as journal:
        async with client_for(box, max_retries=0) as client:
            [first] = await create_many(client, defs, journal=journal)
            assert first.kind is OutcomeKind.FAILED
            assert isinstance(first.error, moeseg.OutcomeUnknown)
            assert isinstance(first.error.last_error, moeseg.ServerError)
            entry = journal.get(client.workspace_id, "maybe", first.fingerprint or "")
            assert entry is not None
            assert entry.state is JournalState.INTENT
            assert len(box.segments()) == 1  # the server did create it
            box.set_faults(FaultConfig())
            sent = len(creates(box))
            [second] = await create_many(client, defs, journal=journal)
    assert second.kind is OutcomeKind.RECOVERED
    assert second.segment_id == box.segments()[0].id
    assert len(creates(box)) == sent  # found by lookup, not resent
