"""Batch makespan against the quota optimum: what a user of ``moeseg create`` waits for.

``moeseg.create_many`` (the runner behind ``moeseg create``, concurrency 10) creates N distinct
segments in an in-process sandbox that enforces MoEngage's windows (50/min, 200/h, 1000/day),
on trio's MockClock (virtual time: a simulated day takes seconds). The optimum is computed here
independently of the governor: requests admitted one by one at the earliest moment no sliding
window would hold more than its limit, with answers taking no time. The makespan is the
virtual time from the start of the batch to its last answer; the ratio is makespan / optimum
(1.000 means no quota was left unused), next to the 429s the sandbox had to send (0 means none
was ever over a window) and the CPU time of the whole run. One row also injects 5% 503s on
creates: every attempt may have been counted by the server, so retries spend quota, and the
optimum is the one for the requests actually sent.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import trio
import trio.testing

import moeseg
from moeseg.governor import Governor, QuotaPolicy
from moeseg.sandbox import FaultConfig, Sandbox, SandboxConfig, ServerErrorFault

SIZES = (50, 200, 1000, 1500)


def optimum(policy: QuotaPolicy, n: int) -> float:
    """Earliest admission of the n-th create under every window of the ``segments`` group."""
    windows = policy.group("segments").windows
    times: list[float] = []
    for _ in range(n):
        t = times[-1] if times else 0.0
        for w in windows:
            if len(times) >= w.limit:
                t = max(t, times[-w.limit] + w.seconds)
        times.append(t)
    return times[-1]


def definitions(n: int) -> list[moeseg.SegmentDefinition]:
    return [moeseg.segment(f"seg-{i:04d}", moeseg.attr("user_no").is_(i)) for i in range(n)]


async def run(n: int, faults: FaultConfig) -> dict[str, Any]:
    sandbox = Sandbox(SandboxConfig(active_segment_limit=10 * n, faults=faults))
    policy = QuotaPolicy.moengage()
    async with (
        sandbox.running(),
        moeseg.Client(
            workspace_id=sandbox.workspace_id,
            api_key=sandbox.api_key,
            db_name=sandbox.db_name,
            base_url="http://sandbox.invalid",
            transport=httpx.ASGITransport(app=sandbox.app),
            governor=Governor(policy),
            max_retries=10,
        ) as client,
    ):
        start = trio.current_time()
        outcomes = await moeseg.create_many(client, definitions(n), concurrency=10)
        makespan = trio.current_time() - start
    ok = sum(o.kind.value in ("created", "recovered") for o in outcomes)
    return {
        "makespan": makespan,
        "optimum": optimum(policy, len(sandbox.log)),
        "ok": ok,
        "429": sum(sandbox.too_many_requests.values()),
        "requests": len(sandbox.log),
    }


def measure(n: int, faults: FaultConfig) -> tuple[dict[str, Any], float]:
    cpu = time.process_time()
    result = trio.run(run, n, faults, clock=trio.testing.MockClock(autojump_threshold=0))
    return result, time.process_time() - cpu


def main() -> None:
    print(
        "| creates | faults | makespan (virtual) | optimum | makespan / optimum | 429s "
        "| requests | created | CPU s |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    none = FaultConfig()
    flaky = FaultConfig(
        (ServerErrorFault(status=503, probability=0.05, routes={"create"}),), seed=7
    )
    for n, faults, label in [(n, none, "none") for n in SIZES] + [(1000, flaky, "5% 503")]:
        r, cpu = measure(n, faults)
        ratio = f"{r['makespan'] / r['optimum']:.4f}" if r["optimum"] else "- (all at once)"
        print(
            f"| {n:,} | {label} | {r['makespan']:,.1f} s | {r['optimum']:,.1f} s | "
            f"{ratio} | {r['429']} | {r['requests']:,} | {r['ok']:,} | {cpu:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
