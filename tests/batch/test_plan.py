"""Plans give ETAs as durations and wall-clock datetimes, whatever form the governor uses."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

import moeseg
from moeseg.governor import Governor
from tests.cli._helpers import client_for, payload, sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]

DEFS = [payload(f"s{i}", f"c{i}") for i in range(120)]


async def test_plan_gives_durations_and_wall_clock_times() -> None:
    async with client_for(sandbox()) as client:
        plan = await moeseg.plan_batch(client, DEFS)
    # 50 per minute: 50 now, the 121st request (120 creates, 1 list) two minutes from now
    assert [m.count for m in plan.milestones] == [50, 121]
    assert [m.wait for m in plan.milestones] == [timedelta(0), timedelta(minutes=2)]
    assert plan.finishes_in == timedelta(minutes=2)
    assert plan.finishes_at is not None
    assert plan.finishes_at.tzinfo is not None  # an aware local datetime, not a loop time
    off = plan.finishes_at - datetime.now().astimezone() - timedelta(minutes=2)
    assert abs(off) < timedelta(seconds=5)
    text = plan.describe()
    assert re.fullmatch(
        r"120 creates and 1 list call: 50 now, all by \d\d:\d\d:\d\d \w+ \(in 2 min\)", text
    ), text
    data = plan.to_json()
    assert [m["in_seconds"] for m in data["milestones"]] == [0, 120]
    assert data["finishes_in_seconds"] == 120


@pytest.mark.parametrize("form", ["duration", "datetime", "object"])
async def test_plan_reads_the_governor_eta_in_any_form(
    form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The governor may answer ETAs as loop times, durations or wall-clock datetimes."""
    loop_eta = Governor.eta

    async def eta(self: Governor, demand: Any, n: int) -> object:
        eta = await loop_eta(self, demand, n)
        # a time on the governor's clock, or already an object with a duration
        duration = timedelta(seconds=eta - self.clock.now()) if isinstance(eta, float) else eta.wait
        wall = datetime.now().astimezone() + duration
        return {
            "duration": duration,
            "datetime": wall,
            "object": type("Eta", (), {"wait": duration, "at": wall})(),
        }[form]

    monkeypatch.setattr(Governor, "eta", eta)
    async with client_for(sandbox()) as client:
        plan = await moeseg.plan_batch(client, DEFS)
        outcomes = await moeseg.create_many(client, DEFS[:2])  # the progress path reads it too
    assert [m.count for m in plan.milestones] == [50, 121]
    assert abs(plan.milestones[1].wait - timedelta(minutes=2)) < timedelta(seconds=1)
    assert all(o.ok for o in outcomes)
