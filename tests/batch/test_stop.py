"""A batch that stops: at the active-segment limit, or on request; outcomes carry attempts and
timings. Virtual time over the in-process sandbox, on asyncio and trio."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

import moeseg
from moeseg.batch import (
    LIMIT_REACHED,
    STOPPED,
    Batch,
    BatchProgress,
    Journal,
    JournalError,
    OutcomeKind,
)
from moeseg.governor import Governor, QuotaPolicy
from tests.cli._helpers import client_for, creates, payload, sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

SCALE = 0.01  # a 60 s window lasts 0.6 s (virtual anyway)


async def test_active_segment_limit_ends_the_rest_at_once_spending_nothing() -> None:
    box = sandbox(time_scale=SCALE, active_segment_limit=10)
    defs = [payload(f"s{i}", f"c{i}") for i in range(120)]  # 120 creates: beyond the minute
    async with client_for(box, time_scale=SCALE) as client:
        batch = Batch(client, defs, concurrency=5)
        outcomes = await batch.run()
        left = await client.governor.remaining()  # type: ignore[attr-defined]
    kinds = [o.kind for o in outcomes]
    assert kinds.count(OutcomeKind.CREATED) == 10
    failed = [o for o in outcomes if o.kind is OutcomeKind.FAILED]
    # the first 429 and the creates already sent beside it (at most concurrency - 1 more)
    assert 1 <= len(failed) <= 5
    assert all(isinstance(o.error, moeseg.ActiveSegmentLimit) for o in failed)
    not_sent = [o for o in outcomes if o.kind is OutcomeKind.NOT_SENT]
    assert len(not_sent) == 120 - 10 - len(failed)
    assert {o.reason for o in not_sent} == {LIMIT_REACHED}
    assert all(o.attempts == 0 and not o.ok for o in not_sent)
    assert not_sent[0].detail == "not sent: active-segment limit"
    assert batch.stopped == LIMIT_REACHED
    # spent: one list call and the creates that were sent, nothing for the rest
    sent = len(creates(box))
    assert sent == 10 + len(failed)
    assert 50 - left["segments"][60 * SCALE] == sent + 1


async def test_plan_warns_when_the_batch_would_cross_the_limit() -> None:
    box = sandbox(time_scale=SCALE)
    async with client_for(box, time_scale=SCALE) as client:
        await moeseg.create_many(client, [payload(f"old{i}", f"o{i}") for i in range(4)])
        defs = [payload(f"s{i}", f"c{i}") for i in range(8)]
        quiet = await moeseg.plan_batch(client, defs, active_limit=10)
        counted = await moeseg.plan_batch(client, defs, count_active=True, active_limit=10)
        huge = [payload(f"h{i}", f"h{i}") for i in range(1001)]
        alone = await moeseg.plan_batch(client, huge)
    assert quiet.warnings == ()  # 8 new ones alone fit, and nothing was listed
    assert quiet.active_estimate is None
    assert counted.active_estimate == 4
    [warning] = counted.warnings
    assert "up to 4 segments" in warning
    assert "perhaps only 6 can be created" in warning
    assert counted.to_json()["warnings"] == [warning]
    [warning] = alone.warnings
    assert "1001 new segments cannot all be active" in warning


async def test_stop_finishes_what_was_sent_and_reports_the_rest_not_sent(tmp_path: Path) -> None:
    box = sandbox(time_scale=SCALE)
    defs = [payload(f"s{i}", f"c{i}") for i in range(80)]
    with Journal(tmp_path / "j.sqlite") as journal:
        async with client_for(box, time_scale=SCALE) as client:
            batch: Batch

            def stop_at_55(p: BatchProgress) -> None:
                if p.done >= 55:
                    batch.stop()

            batch = Batch(client, defs, concurrency=10, journal=journal, progress=stop_at_55)
            outcomes = await batch.run()
        states = {e.name: e.state for e in journal.entries()}
    assert batch.stopped == STOPPED
    assert [o.index for o in outcomes] == list(range(80))
    created = [o for o in outcomes if o.kind is OutcomeKind.CREATED]
    not_sent = [o for o in outcomes if o.kind is OutcomeKind.NOT_SENT]
    assert len(created) + len(not_sent) == 80
    assert 55 <= len(created) < 80
    assert len(creates(box)) == len(created)  # whatever was sent finished
    assert {o.reason for o in not_sent} == {STOPPED}
    assert all(o.name not in states for o in not_sent)  # never admitted: no lookup on resume
    assert all(states[o.name] is moeseg.JournalState.DONE for o in created)


async def test_outcomes_carry_attempts_and_timings() -> None:
    box = sandbox(time_scale=SCALE)
    defs = [payload(f"s{i}", f"c{i}") for i in range(60)]
    async with client_for(box, time_scale=SCALE) as client:
        outcomes = await moeseg.create_many(client, defs, concurrency=20)
    assert all(o.attempts == 1 for o in outcomes)
    assert all(0 <= o.waited <= o.elapsed for o in outcomes)
    # 50 fit the minute window at once; the last 10 waited for it to slide (0.6 s scaled)
    waits = sorted(o.waited for o in outcomes)
    assert waits[0] < 0.01
    assert waits[-1] >= 0.5
    data = outcomes[-1].to_json()
    assert data["attempts"] == 1
    assert data["elapsed_seconds"] >= data["waited_seconds"]


async def test_async_progress_callback_is_awaited() -> None:
    box = sandbox()
    seen: list[int] = []

    async def progress(p: BatchProgress) -> None:
        seen.append(p.done)

    async with client_for(box) as client:
        outcomes = await moeseg.create_many(
            client, [payload("a", "A"), payload("b", "B")], progress=progress
        )
    assert [o.kind for o in outcomes] == [OutcomeKind.CREATED, OutcomeKind.CREATED]
    assert seen[-1] == 2
    assert sorted(set(seen)) == [0, 1, 2]


async def test_progress_must_be_callable() -> None:
    box = sandbox()
    async with client_for(box) as client:
        with pytest.raises(TypeError, match="progress must be callable"):
            Batch(client, [], progress="print")  # type: ignore[arg-type]


async def test_a_batch_stopped_before_it_runs_sends_nothing() -> None:
    box = sandbox()
    async with client_for(box) as client:
        batch = Batch(client, [payload("a", "A"), payload("b", "B")])
        batch.stop()
        outcomes = await batch.run()
    assert [o.kind for o in outcomes] == [OutcomeKind.NOT_SENT] * 2
    assert box.log == []


class _StopOnSecondAdmission:
    """A governor that admits, then has the batch stopped before the request can leave."""

    def __init__(self, governor: Governor) -> None:
        self.governor = governor
        self.batch: Batch | None = None
        self.admitted = 0

    @property
    def policy(self) -> QuotaPolicy:
        return self.governor.policy

    async def acquire(self, demand: Any, **kw: Any) -> Any:
        lease = await self.governor.acquire(demand, **kw)
        self.admitted += 1
        if self.admitted == 2 and self.batch is not None:
            self.batch.stop()
        return lease

    async def report_rate_limited(self, group: str, window_seconds: float | None = None) -> object:
        return await self.governor.report_rate_limited(group, window_seconds)

    async def observe_headers(self, group: str, headers: Any) -> None:
        await self.governor.observe_headers(group, headers)


async def test_a_stop_during_admission_sends_nothing_more(tmp_path: Path) -> None:
    box = sandbox()
    governor = Governor(QuotaPolicy.moengage())
    racing = _StopOnSecondAdmission(governor)
    defs = [payload("a", "A"), payload("b", "B"), payload("c", "C")]
    with Journal(tmp_path / "j.sqlite") as journal:
        async with client_for(box, governor=racing) as client:
            racing.batch = Batch(client, defs, concurrency=1, journal=journal)
            outcomes = await racing.batch.run()
        names = {e.name for e in journal.entries()}
    assert [o.kind for o in outcomes] == [
        OutcomeKind.CREATED,
        OutcomeKind.NOT_SENT,
        OutcomeKind.NOT_SENT,
    ]
    assert len(creates(box)) == 1
    assert names == {"a"}  # "b" was admitted, never journaled as sent
    left = await governor.remaining()
    assert 50 - left["segments"][60.0] == 1  # b's slot went back


async def test_a_journal_that_fails_mid_batch_stops_it_with_the_typed_error(
    tmp_path: Path,
) -> None:
    box = sandbox(time_scale=SCALE)
    defs = [payload(f"s{i}", f"c{i}") for i in range(80)]
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        async with client_for(box, time_scale=SCALE) as client:

            def break_the_journal(p: BatchProgress) -> None:
                if p.done == 10:
                    with contextlib.closing(sqlite3.connect(path)) as db:
                        db.execute("ALTER TABLE items RENAME TO gone")
                        db.commit()

            batch = Batch(client, defs, journal=journal, progress=break_the_journal)
            with pytest.raises(JournalError) as caught:
                await batch.run()
    assert str(path) in str(caught.value)
    assert batch.stopped == "stopped by JournalError"
    assert len(creates(box)) < 80


async def test_1100_creates_on_a_workspace_at_950_active_segments() -> None:
    """The issue's scenario: room for 50. It used to send all 1100 creates (1050 answered 429)
    over more than a day of quota; now 51 creates and 1 list call, within the first minute."""
    box = sandbox(active_segment_limit=50)  # 950 of MoEngage's 1000 already active
    defs = [payload(f"s{i}", f"c{i}") for i in range(1100)]
    async with client_for(box) as client:
        start = anyio.current_time()
        outcomes = await moeseg.create_many(client, defs, concurrency=10)
        makespan = anyio.current_time() - start
    kinds = [o.kind for o in outcomes]
    assert kinds.count(OutcomeKind.CREATED) == 50
    assert kinds.count(OutcomeKind.NOT_SENT) == 1100 - 50 - kinds.count(OutcomeKind.FAILED)
    assert len(box.log) <= 1 + 50 + 10  # one list, 50 creates, the 429s of what was in flight
    assert sum(r.status == 429 for r in box.log) <= 10
    assert makespan <= 61  # the 51st request waits for the minute window, then the batch ends


async def test_a_configuration_error_stops_the_batch_and_is_raised() -> None:
    """A client whose quota policy runs at another time scale than the sandbox: every create
    would fail the same way, so the first one stops the batch with the typed error."""
    box = sandbox(time_scale=0.5)
    defs = [payload(f"s{i}", f"c{i}") for i in range(30)]
    async with client_for(box) as client:  # an unscaled policy
        batch = Batch(client, defs, concurrency=3)
        with pytest.raises(moeseg.ConfigurationError, match="time-scale mismatch"):
            await batch.run()
    assert batch.stopped == "stopped by ConfigurationError"
    assert len(box.log) <= 1  # the batch's list call answered; nothing more was sent
