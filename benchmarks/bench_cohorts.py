"""moeseg._cohorts: planning a membership sync of a 1,000,000-uid segment where 1 % changed.

Setup (not measured): a snapshot uid file of 1,000,000 uids and a desired CSV (header ``uid``,
rows in random order) with 5,000 of them removed and 5,000 new ones added. Measured, each in a
fresh interpreter so its peak RSS is its own: read the CSV, external sort, diff against the
snapshot, chunk the adds and removes (requests counted), plan both routes. Wall and CPU seconds,
peak RSS (``ru_maxrss``) and the RSS right after the imports (the interpreter's share). Then the
same for a first sync (no snapshot: 1,000,000 adds), where chunking dominates.

Requests are compared with the minimum for each action, ``ceil(encoded members / 128,000)``;
the plan's ETA with the 300/min optimum (the planner's own greedy simulation from idle quota).

Makespan (``--makespan``): the same two syncs end to end through ``Client.sync_members`` against
the in-process sandbox (ASGI transport) in virtual time (trio's MockClock), each request
answered after 0.2 s of simulated latency, the default concurrency of 4; from the first
request's arrival to the last answer, against the 300/min optimum
``60 * ((requests - 1) // 300) + 0.2`` s (every request as early as the window allows, the last
one's latency). Also the CPU seconds of the whole run (diff, chunking, HTTP through ASGI).
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

UIDS = 1_000_000
CHANGED = 10_000  # half removed, half added: 1 %
SEED = 20261203


def _uid(i: int) -> str:
    # Realistic-looking ids of varying length (10-14 characters), not in sorted order.
    return f"usr{(i * 2_654_435_761) % 10**11:x}"


def make_inputs(directory: Path) -> tuple[Path, Path]:
    from moeseg._cohorts import write_uid_file

    rng = random.Random(SEED)
    before = [_uid(i) for i in range(UIDS)]
    snapshot = write_uid_file(directory / "snapshot", sorted(set(before))).path
    removed = set(rng.sample(range(UIDS), CHANGED // 2))
    after = [u for i, u in enumerate(before) if i not in removed]
    after += [_uid(UIDS + i) for i in range(CHANGED // 2)]
    rng.shuffle(after)
    desired = directory / "users.csv"
    with desired.open("w", encoding="utf-8") as f:
        f.write("uid\n")
        f.writelines(u + "\n" for u in after)
    return snapshot, desired


def child(snapshot: str, desired: str, workdir: str) -> dict[str, Any]:
    """One measured planning run (in this process); figures as a dict."""
    from moeseg._cohorts import Cohort, measure_action, membership_diff, plan_sync, read_uid_csv

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    cohort = Cohort("bench cohort")
    snap = snapshot or None
    with membership_diff(read_uid_csv(desired), snap, workdir=workdir) as diff:
        adds = measure_action(cohort, "add_members", diff.adds)
        removes = (
            measure_action(cohort, "remove_members", diff.removes)
            if diff.removes is not None
            else None
        )
        plan = plan_sync("cohort", adds, removes)
        file_plan = plan_sync("file", adds.uids, None if removes is None else removes.uids)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sizes = [s for s in (adds, removes) if s is not None]
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_mb": base_rss / 1024,
        "actions": [(s.action, s.uids, s.requests, s.minimum) for s in sizes],
        "eta": plan.eta_seconds,
        "optimum": plan.optimum_seconds,
        "file": f"{file_plan.method}: {file_plan.reason}",
    }


LATENCY = 0.2


def makespan(snapshot: str, desired: str, workdir: str) -> dict[str, Any]:
    """One end-to-end sync in virtual time (in this process); figures as a dict."""
    import shutil

    import anyio
    import httpx
    import trio.testing

    from moeseg import Client
    from moeseg._cohorts import MemberRecord, MemberState, derive_cohort_id
    from moeseg.governor import Governor, QuotaPolicy
    from moeseg.sandbox import FaultConfig, Latency, LatencyFault, Sandbox, SandboxConfig

    delay = LatencyFault(latency=Latency.fixed(LATENCY), routes={"cohort_sync"}, phase="response")
    sb = Sandbox(SandboxConfig(faults=FaultConfig((delay,))))
    state = MemberState(Path(workdir) / "state", sb.workspace_id)
    state.directory.mkdir(parents=True, exist_ok=True)
    if snapshot:  # the state a previous sync of this segment left
        shutil.copy(snapshot, state.snapshot_path("bench"))
        state.save(MemberRecord(sb.workspace_id, "bench", "cohort", derive_cohort_id("bench")))

    async def main() -> Any:
        async with Client(
            sb.workspace_id,
            sb.api_key,
            base_url="http://sandbox.test",
            transport=httpx.ASGITransport(app=sb.app),
            governor=Governor(QuotaPolicy.moengage()),
        ) as client:
            return await client.sync_members("bench", desired, state_dir=Path(workdir) / "state")

    cpu = time.process_time()
    result = anyio.run(
        main,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    cpu = time.process_time() - cpu
    arrivals = [r.arrival for r in sb.log if r.route == "cohort_sync"]
    n = len(arrivals)
    return {
        "requests": n,
        "makespan": max(arrivals) - min(arrivals) + LATENCY,
        "optimum": 60.0 * ((n - 1) // 300) + LATENCY,
        "cpu": cpu,
        "max_in_minute": sb.max_in_window("cohort_sync", 60.0),
        "committed": result.committed,
    }


def _python(*args: str, workdir: Path) -> str:
    # Every step in its own interpreter: Linux keeps a process's peak RSS across fork and exec,
    # so a child started from a big parent would report the parent's peak.
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_cohorts", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MOESEG_BENCH_WORKDIR": str(workdir)},
    )
    return out.stdout.strip().splitlines()[-1]


def run_child(snapshot: Path | None, desired: Path, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_python(str(snapshot or ""), str(desired), workdir=workdir))
    return result


def report(label: str, r: dict[str, Any]) -> None:
    print(
        f"| {label} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['peak_mb']:.0f} | {r['base_mb']:.0f} "
        f"| {r['eta']:g} s / {r['optimum']:g} s |"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        _python("--make", workdir=directory)
        snapshot, desired = directory / "snapshot", directory / "users.csv"
        mb = desired.stat().st_size / 1e6
        print(f"{UIDS:,} uids, {CHANGED:,} changed; desired CSV {mb:.1f} MB")
        sync = run_child(snapshot, desired, directory)
        first = run_child(None, desired, directory)
        spans = [
            (label, json.loads(_python("--makespan", str(snap or ""), str(desired), workdir=d)))
            for label, snap, d in (
                ("1 % changed", snapshot, directory / "m1"),
                ("first sync (all adds)", None, directory / "m2"),
            )
        ]
    print("| run | wall s | CPU s | peak RSS MB | RSS after imports MB | ETA / optimum |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    report("1 % changed", sync)
    report("first sync (all adds)", first)
    print("| run | action | uids | requests | minimum |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, r in (("1 % changed", sync), ("first sync", first)):
        for action, uids, requests, minimum in r["actions"]:
            print(f"| {label} | {action} | {uids:,} | {requests} | {minimum} |")
    print(f"file route, 1 % changed: {sync['file']}")
    print(f"file route, first sync: {first['file']}")
    print("| sync, end to end | requests | makespan s | 300/min optimum s | most in 60 s | CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, m in spans:
        print(
            f"| {label} | {m['requests']} | {m['makespan']:.2f} | {m['optimum']:.2f} "
            f"| {m['max_in_minute']} | {m['cpu']:.2f} |"
        )


if __name__ == "__main__":
    workdir = os.environ.get("MOESEG_BENCH_WORKDIR") or tempfile.gettempdir()
    if sys.argv[1:] == ["--make"]:
        print(make_inputs(Path(workdir)))
    elif len(sys.argv) == 4 and sys.argv[1] == "--makespan":
        Path(workdir).mkdir(parents=True, exist_ok=True)
        print(json.dumps(makespan(sys.argv[2], sys.argv[3], workdir)))
    elif len(sys.argv) == 3:
        print(json.dumps(child(sys.argv[1], sys.argv[2], workdir)))
    else:
        main()
